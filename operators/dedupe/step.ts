import { z } from 'zod';
import { MicroBatcher } from '../../src/dataflow/micro-batcher.js';
import { originKey } from '../../src/envelope.js';
import { memoryIndex } from '../../src/store/sqlite-state.js';
import type { Claim, Fingerprint, FingerprintIndex } from '../../src/store/state-store.js';
import { trajectoryId } from '../../src/steps/ids.js';
import { type DocumentItem, type StepEnv, type TrajectoryItem, defineStepType, dropped } from '../../src/steps/step.js';
import { DocDedupe } from './doc-dedupe.js';
import { TrajectoryDedupe } from './trajectory-dedupe.js';

/** How checks are gathered into one call to the state store (one round trip with Redis). */
const Batching = {
  /** Most items claimed in one call to the state store. */
  batchSize: z.number().int().positive().default(64),
  /** A batch is sent when full or this long after its first item. */
  lingerMs: z.number().int().min(0).default(2),
};

export const DedupeDocumentsConfig = z.strictObject({
  /** MinHash near-duplicate detection of documents, on top of exact matching. */
  nearDuplicate: z.boolean().default(true),
  jaccardThreshold: z.number().min(0).max(1).default(0.85),
  ...Batching,
});

export const DedupeTrajectoriesConfig = z.strictObject({
  /** MinHash near-duplicate detection of the user + assistant text, on top of the exact dialogue hash. */
  nearDuplicate: z.boolean().default(true),
  jaccardThreshold: z.number().min(0).max(1).default(0.85),
  ...Batching,
});

/** The step's index in the run's state store, and a micro-batcher in front of it. */
function batchedIndex(env: StepEnv, c: { jaccardThreshold: number; batchSize: number; lingerMs: number }) {
  const opts = { threshold: c.jaccardThreshold };
  const index: FingerprintIndex = env.fingerprints?.(opts) ?? memoryIndex(opts);
  const batcher = new MicroBatcher<Fingerprint, Claim>((batch) => index.claim(batch), { batchSize: c.batchSize, lingerMs: c.lingerMs, maxInFlight: 4 });
  return { index, claim: (f: Fingerprint) => batcher.submit(f) };
}

/**
 * Exact (normalised text) and MinHash near-duplicate documents are dropped (`duplicate`,
 * `near_duplicate`); the index is the step's namespace of the run's state store, shared by every
 * worker with `state.backend: redis`. Checks are micro-batched: one store call per batch.
 */
export const dedupeDocumentsStep = defineStepType({
  type: 'dedupe-documents',
  description: 'drops exact and near-duplicate documents (duplicate / near_duplicate)',
  input: 'document',
  output: 'document',
  config: DedupeDocumentsConfig,
  create(c, env) {
    const { index, claim } = batchedIndex(env, c);
    const dedupe = new DocDedupe({ index, nearDuplicate: c.nearDuplicate, threshold: c.jaccardThreshold });
    return {
      async process(item: DocumentItem) {
        const d = await claim(dedupe.fingerprint(item.doc.id, item.doc.text, originKey(item.doc.origin)));
        return d.duplicate ? dropped(d.kind === 'near' ? 'near_duplicate' : 'duplicate') : [item];
      },
    };
  },
});

/** Trajectories whose dialogue was seen before: `duplicate_trajectory` (exact) or `near_duplicate` (MinHash). */
export const dedupeTrajectoriesStep = defineStepType({
  type: 'dedupe-trajectories',
  description: 'drops trajectories whose dialogue was already written (duplicate_trajectory / near_duplicate)',
  input: 'trajectory',
  output: 'trajectory',
  config: DedupeTrajectoriesConfig,
  create(c, env) {
    const { index, claim } = batchedIndex(env, c);
    const dedupe = new TrajectoryDedupe({ index, nearDuplicate: c.nearDuplicate, threshold: c.jaccardThreshold });
    return {
      async process(item: TrajectoryItem) {
        if (!item.trajectory) return dropped('no_trajectory');
        const id = trajectoryId(item.doc, item.index, item.producer);
        const d = await claim(dedupe.fingerprint(id, item.trajectory));
        return d.duplicate ? dropped(d.kind === 'near' ? 'near_duplicate' : 'duplicate_trajectory') : [item];
      },
    };
  },
});
