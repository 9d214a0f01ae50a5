import { z } from 'zod';
import { MicroBatcher } from '../../src/dataflow/micro-batcher.js';
import { type DocumentItem, defineStepType, dropped } from '../../src/steps/step.js';
import { RelevancePool } from './relevance-pool.js';
import { scorerSpec } from './relevance.worker.js';

export const RelevanceStepConfig = z.strictObject({
  /** Documents scoring below it are dropped as `irrelevant`. */
  threshold: z.number().min(0).max(1).default(0.35),
  /**
   * The scorer: `default` (the trained model shipped in operators/relevance/models/default.json), a
   * model file from `gemflow relevance train` (loaded in every worker thread; a corrupt file or one for
   * other features is refused at start), or `hand` (the hand-weighted scorer of score.ts).
   */
  model: z.string().min(1).default('default'),
  /** Worker threads (piscina); 0 scores inline. */
  threads: z.number().int().min(0).default(2),
  batchSize: z.number().int().positive().default(64),
  lingerMs: z.number().int().min(0).default(5),
});
export type RelevanceStepConfig = z.infer<typeof RelevanceStepConfig>;

/**
 * GEM stage 1 on the CPU: a cheap scorer (by default the trained classifier) of how much a text describes multi-step work, in worker
 * threads, micro-batched across documents (no barrier: each document goes on when its batch returns).
 * Annotates the document with `relevanceScore`.
 */
export const relevanceStep = defineStepType({
  type: 'relevance',
  description: 'CPU relevance scorer (worker threads); drops documents below the threshold as irrelevant',
  input: 'document',
  output: 'document',
  config: RelevanceStepConfig,
  async create(c, env) {
    const pool = new RelevancePool({ threads: c.threads, scorer: scorerSpec(c.model) });
    await pool.start();
    env.onClose(() => pool.close());
    const batcher = new MicroBatcher((texts: string[]) => pool.score(texts), {
      batchSize: c.batchSize,
      lingerMs: c.lingerMs,
      maxInFlight: Math.max(2, c.threads * 2),
    });
    return {
      async process(item: DocumentItem) {
        const { score } = await batcher.submit(item.doc.text);
        if (score < c.threshold) return dropped('irrelevant');
        return [{ ...item, notes: { ...item.notes, relevanceScore: score } }];
      },
    };
  },
});
