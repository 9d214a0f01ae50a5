import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractStage } from '../../operators/extract/index.js';
import { groundStage } from '../../operators/ground/index.js';
import { refineStage } from '../../operators/refine/index.js';
import { synthesizeStage } from '../../operators/synthesize/index.js';
import { validateTrajectory } from '../../operators/validate/validate.js';
import type { ChatMessage } from '../../src/llm/types.js';
import { schemaName } from '../../src/llm/prompt-sections.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/simulator.js';
import { chatJson, RETURNS_DOC, STORAGE_DOC } from './fixtures.js';

/**
 * The simulator answers the operators' own prompts (their render functions) and its answers pass the
 * operators' schemas, semantic checks and the trajectory validator: the contract the pipeline relies on.
 */
let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ prefillTokensPerSec: 1e7, decodeTokensPerSec: 1e7, maxDecodeTokensPerSecPerSeq: 1e6, timeScale: 0.01 });
});
afterAll(() => sim.close());

async function ask(stage: string, messages: ChatMessage[]): Promise<unknown> {
  return chatJson(sim.url, {
    model: 'gemflow-sim-32b',
    messages,
    max_tokens: 8192,
    temperature: 0.7,
    response_format: { type: 'json_schema', json_schema: { name: schemaName(stage), schema: { type: 'object' }, strict: true } },
  });
}

describe('answers to the operators prompts', () => {
  it.each([
    ['storage how-to', STORAGE_DOC],
    ['returns prose', RETURNS_DOC],
  ])('pass the extract, ground, refine and synthesize checks (%s)', async (_name, text) => {
    const exIn = { text, maxWorkflows: 3 };
    const ex = extractStage.output.parse(await ask('extract', extractStage.render(exIn)));
    expect(ex.workflows.length).toBeGreaterThan(0);
    expect(extractStage.check!(ex, exIn)).toEqual([]);
    for (const workflow of ex.workflows) {
      const gIn = { text, domain: ex.domain, rules: ex.rules, workflow };
      const g = groundStage.output.parse(await ask('ground', groundStage.render(gIn)));
      expect(groundStage.check!(g, gIn)).toEqual([]);
      expect(validateTrajectory(g.trajectory)).toEqual([]);
      const rIn = { ...gIn, trajectory: g.trajectory };
      const r = refineStage.output.parse(await ask('refine', refineStage.render(rIn)));
      expect(refineStage.check?.(r, rIn) ?? []).toEqual([]);
      expect(validateTrajectory(r.trajectory)).toEqual([]);
    }
    const sIn = { text, maxWorkflows: 3 };
    const s = synthesizeStage.output.parse(await ask('synthesize', synthesizeStage.render(sIn)));
    expect(s.items.length).toBe(ex.workflows.length);
    expect(synthesizeStage.check?.(s, sIn) ?? []).toEqual([]);
  });
});
