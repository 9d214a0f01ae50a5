import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { samplingConfig } from '../../src/steps/sampling.js';
import { type DocumentItem, defineStepType, dropped } from '../../src/steps/step.js';
import { relevanceLlmStage } from './index.js';
import { LabelsFile, textHash } from './labels-file.js';

export const RelevanceLlmStepConfig = z.strictObject({
  ...samplingConfig({ temperature: 0, maxTokens: 256 }),
  /** Documents the LLM scores below it are dropped as `irrelevant_llm`. */
  threshold: z.number().min(0).max(1).default(0.5),
  /** Only the first maxChars characters of a document are shown (the judgement needs no more). */
  maxChars: z.number().int().positive().default(6000),
  /** Where verdicts are appended (JSONL; relative paths are under the run's state folder); false: not recorded. */
  labels: z.union([z.string().min(1), z.literal(false)]).default('relevance-labels.jsonl'),
});
export type RelevanceLlmStepConfig = z.infer<typeof RelevanceLlmStepConfig>;

/**
 * GEM stage 1 as an LLM check: a short structured-output prompt (is there multi-step work an assistant
 * could do with tools; a score and a reason), meant for documents that passed the CPU relevance
 * prefilter. Below its threshold -> dropped `irrelevant_llm`. Every verdict is appended to a labels file
 * (document id, text hash, score, reason) in the state folder: the training data of the CPU
 * classifier (`gemflow relevance train --labels <file> --texts <corpus>`). Annotates the document with
 * `relevanceLlmScore`.
 */
export const relevanceLlmStep = defineStepType({
  type: 'relevance-llm',
  description: 'LLM relevance check (GEM stage 1); records each verdict as a label for the CPU classifier',
  input: 'document',
  output: 'document',
  config: RelevanceLlmStepConfig,
  create(c, env) {
    const dir = env.stateDir ?? '.gemflow';
    const labels = c.labels === false ? undefined : new LabelsFile(isAbsolute(c.labels) ? c.labels : join(dir, c.labels));
    if (labels) env.onClose(() => labels.flush());
    return {
      usesLlm: true,
      async process(item: DocumentItem, ctx) {
        const doc = item.doc;
        const text = doc.text.length > c.maxChars ? doc.text.slice(0, c.maxChars) : doc.text;
        const r = await ctx.llm.call(relevanceLlmStage, { text }, doc, { temperature: c.temperature, maxTokens: c.maxTokens, seedKey: 'relevance' });
        const { score, reason } = r.output;
        const relevant = score >= c.threshold;
        await labels?.append({ id: doc.id, textHash: textHash(doc.text), score, relevant, reason, step: env.id, promptVersion: relevanceLlmStage.promptVersion, model: r.model });
        if (!relevant) return dropped('irrelevant_llm');
        return [{ ...item, notes: { ...item.notes, relevanceLlmScore: score } }];
      },
    };
  },
});
