import { describe, expect, it } from 'vitest';
import { stepRegistry, stepSpecs } from '../../src/compose.js';
import { PipelineConfig } from '../../src/config/schema.js';
import type { ConfigIssue } from '../../src/config/interpolate-env.js';
import type { GemflowError } from '../../src/errors.js';

const issues = async (specs: Array<Record<string, unknown>>): Promise<ConfigIssue[]> => {
  const e = (await stepRegistry()
    .plan(specs as never)
    .then(() => undefined, (x: unknown) => x)) as GemflowError | undefined;
  expect(e?.code).toBe('config_invalid');
  return e!.detail!.issues as ConfigIssue[];
};

describe('the step registry', () => {
  it('reports an unknown type, a duplicate id and a step config error all at once, with paths', async () => {
    const found = await issues([
      { id: 'relevance', type: 'relevance', threshold: 2 },
      { id: 'relevance', type: 'dedupe-documents' },
      { id: 'lang', type: 'language-id' },
      { id: 'extract', type: 'extract', maxWorkflow: 3 },
    ]);
    expect(found.map((i) => i.path)).toEqual(['steps[0].threshold', 'steps[1].id', 'steps[2].type', 'steps[3].maxWorkflow']);
    expect(found[1]!.message).toContain('duplicate step id "relevance"');
    expect(found[2]!.message).toContain('unknown step type "language-id"');
    expect(found[3]!.message).toBe('unknown key');
  });

  it('checks that items flow: documents in, each step taking what the one before makes, rows out', async () => {
    const found = await issues([
      { id: 'validate', type: 'validate' },
      { id: 'extract', type: 'extract' },
      { id: 'dedupe', type: 'dedupe-documents' },
    ]);
    expect(found.map((i) => i.path)).toEqual(['steps[0]', 'steps[1]', 'steps[2]', 'steps[2]']);
    expect(found[0]!.message).toContain('takes trajectory items, but a pipeline starts with document items');
    expect(found[3]!.message).toContain('the last step must make rows');
  });

  it('plans GEM default list from the older keys, with each step type\'s own defaults whatever is set', async () => {
    const cfg = PipelineConfig.parse({ source: { type: 'files', paths: ['a'] }, stages: { judge: { enabled: true, maxTokens: 2048 }, refine: { enabled: false } } });
    const { specs, paths } = stepSpecs(cfg);
    expect(specs.map((s) => s.id)).toEqual(['relevance', 'dedupe', 'extract', 'ground', 'judge', 'validate', 'dedupe_trajectories', 'stats']);
    const planned = await stepRegistry().plan(specs, { paths });
    // Setting one key of a step leaves the step's other defaults alone (judge: temperature 0).
    expect(planned.find((p) => p.id === 'judge')!.config).toEqual({ temperature: 0, maxTokens: 2048 });
    expect(planned.find((p) => p.id === 'extract')!.config).toMatchObject({ temperature: 0.7, maxTokens: 4096, maxWorkflows: 3 });
    const syn = stepSpecs(PipelineConfig.parse({ source: { type: 'files', paths: ['a'] }, llm: { mode: 'synthesize' } }));
    expect(syn.specs.map((s) => s.type)).toEqual(['relevance', 'dedupe-documents', 'synthesize', 'validate', 'dedupe-trajectories', 'stats']);
  });

  it('refuses the older keys beside steps:, naming where they go', () => {
    const r = PipelineConfig.safeParse({
      source: { type: 'files', paths: ['a'] },
      steps: [{ id: 'relevance', type: 'relevance' }],
      relevance: { threshold: 0.5 },
      llm: { mode: 'synthesize' },
    });
    expect(r.success).toBe(false);
    const msgs = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs).toEqual(['relevance: not used with steps: set it on the step of type relevance in steps', 'llm.mode: not used with steps: set it by listing the steps (synthesize instead of extract, ground, refine)']);
  });
});
