import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { trajectoryId } from '../../src/steps/ids.js';
import { type TrajectoryItem, defineStepType } from '../../src/steps/step.js';
import { KvStore } from '../../src/store/kv-store.js';

/** The file the step keeps its records in, under the run's state folder. */
export const SOURCES_FILE = 'sources.sqlite';
export const SOURCES_NAMESPACE = 'sources';

/** What is kept per trajectory: its workflow, the document's domain and the key of the document's text. */
export interface KeptTrajectory {
  workflow: unknown;
  domain: string;
  textKey: string;
}

export const textKeyOf = (text: string) => createHash('sha256').update(text).digest('hex');
export const trajectoryKey = (id: string) => `t/${id}`;
export const textKey = (hash: string) => `x/${hash}`;

/**
 * Keeps, for `gemflow export --format synthesizer`, what an output row does not hold: each
 * document's text (once per distinct text) and each trajectory's workflow and domain, keyed by the
 * trajectory id the row carries. A pass-through step (CPU, one SQLite write per trajectory) placed
 * anywhere among the trajectory steps; its records are in `<stateDir>/sources.sqlite`. A replay
 * rewrites the same keys.
 */
export const keepSourcesStep = defineStepType({
  type: 'keep-sources',
  description: 'CPU: keeps document texts and workflows for synthesizer-pair export (pass-through)',
  input: 'trajectory',
  output: 'trajectory',
  config: z.strictObject({}),
  create(_c, env) {
    const store = KvStore.open(join(env.stateDir ?? '.gemflow', SOURCES_FILE), SOURCES_NAMESPACE);
    env.onClose(() => store.close());
    return {
      process(item: TrajectoryItem) {
        const doc = item.doc;
        const hash = textKeyOf(doc.text);
        store.putIfAbsent(textKey(hash), doc.text);
        const kept: KeptTrajectory = { workflow: item.workflow, domain: String(item.notes.domain ?? ''), textKey: hash };
        store.put(trajectoryKey(trajectoryId(doc, item.index, item.producer)), JSON.stringify(kept));
        return [item];
      },
    };
  },
});
