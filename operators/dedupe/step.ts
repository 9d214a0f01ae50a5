import { z } from 'zod';
import { originKey } from '../../src/envelope.js';
import { trajectoryId } from '../../src/steps/ids.js';
import { type DocumentItem, type TrajectoryItem, defineStepType, dropped } from '../../src/steps/step.js';
import { DocDedupe } from './doc-dedupe.js';
import { TrajectoryDedupe } from './trajectory-dedupe.js';

export const DedupeDocumentsConfig = z.strictObject({
  /** MinHash near-duplicate detection of documents, on top of exact matching. */
  nearDuplicate: z.boolean().default(true),
  jaccardThreshold: z.number().min(0).max(1).default(0.85),
});

/** Exact (normalised text) and MinHash near-duplicate documents are dropped; state persists in the step's namespace. */
export const dedupeDocumentsStep = defineStepType({
  type: 'dedupe-documents',
  description: 'drops exact and near-duplicate documents (duplicate / near_duplicate)',
  input: 'document',
  output: 'document',
  config: DedupeDocumentsConfig,
  create(c, env) {
    const dedupe = new DocDedupe({ store: env.state(), nearDuplicate: c.nearDuplicate, threshold: c.jaccardThreshold });
    return {
      process(item: DocumentItem) {
        const d = dedupe.check(item.doc.id, item.doc.text, originKey(item.doc.origin));
        return d.duplicate ? dropped(d.kind === 'near' ? 'near_duplicate' : 'duplicate') : [item];
      },
    };
  },
});

/** Trajectories whose normalised dialogue was seen before are dropped as `duplicate_trajectory`. */
export const dedupeTrajectoriesStep = defineStepType({
  type: 'dedupe-trajectories',
  description: 'drops trajectories whose normalised dialogue was already written (duplicate_trajectory)',
  input: 'trajectory',
  output: 'trajectory',
  config: z.strictObject({}),
  create(_c, env) {
    const dedupe = new TrajectoryDedupe({ store: env.state() });
    return {
      process(item: TrajectoryItem) {
        if (!item.trajectory) return dropped('no_trajectory');
        const id = trajectoryId(item.doc.id, item.doc.text, item.index, item.producer);
        return dedupe.check(id, item.trajectory).duplicate ? dropped('duplicate_trajectory') : [item];
      },
    };
  },
});
