import { z } from 'zod';
import { GemflowError } from '../../src/errors.js';
import { account, EMPTY_PROVENANCE, samplingConfig } from '../../src/steps/sampling.js';
import { type DocumentItem, type TrajectoryItem, defineStepType, dropped } from '../../src/steps/step.js';
import { estimateMessageTokens } from '../../src/steps/windows.js';
import { synthesizeStage } from './index.js';

/**
 * A distilled Trajectory Synthesizer: extract + ground + refine in one call per document. A document
 * that does not fit the model's context in one call is dead-lettered (document_too_long): use the
 * staged steps (extract windows long documents) for corpora with long documents.
 */
export const synthesizeStep = defineStepType({
  type: 'synthesize',
  description: 'LLM: workflows with refined trajectories in one call (a distilled synthesizer model)',
  input: 'document',
  output: 'trajectory',
  config: z.strictObject({ ...samplingConfig({ temperature: 0.7, maxTokens: 8192 }), maxWorkflows: z.number().int().positive().default(3) }),
  create(c, env) {
    return {
      usesLlm: true,
      async process(item: DocumentItem, ctx) {
        const doc = item.doc;
        const input = { text: doc.text, maxWorkflows: c.maxWorkflows };
        const context = ctx.llm.contextTokens();
        if (context !== undefined && estimateMessageTokens(synthesizeStage.render(input)) + c.maxTokens > context) {
          throw new GemflowError('document_too_long', `document does not fit the model's context (${context} tokens) in one synthesize call; use the staged steps for long documents`);
        }
        const r = await ctx.llm.call(synthesizeStage, input, doc, { temperature: c.temperature, maxTokens: c.maxTokens, seedKey: '0' });
        const items = r.output.items.slice(0, c.maxWorkflows);
        if (items.length === 0) return dropped('no_workflows');
        return items.map(
          (it, index): TrajectoryItem => ({
            kind: 'trajectory',
            doc,
            docNotes: item.notes,
            index,
            producer: 'synthesize',
            text: doc.text,
            workflow: it.workflow,
            trajectory: it.trajectory,
            notes: { domain: r.output.domain },
            provenance: account(EMPTY_PROVENANCE, env.id, synthesizeStage.promptVersion, r, items.length),
          }),
        );
      },
    };
  },
});
