import type { FunnelSnapshot } from './dataflow/funnel.js';
import type { RunManifest } from './sinks/manifest.js';
import type { CommitNote } from './sources/types.js';

/** The fatal code of a run that stopped without finishing (kill -9, out of memory, a lost machine). */
export const INTERRUPTED = 'interrupted';

/** What the run-record functions need of the sink (ParquetShardSink). */
export interface RunRecords {
  putRunRecord(manifest: RunManifest & { runId: string }): Promise<void>;
  getRunRecord(runId: string): Promise<RunManifest | undefined>;
}

/**
 * Completes the record of the run that wrote a file source's checkpoint last, when that run never
 * finished: called at the start of the next run over the same state, which holds the state lock, so
 * that run is certainly not running any more. Its record is the provisional one of its last refresh
 * (or none, if it was killed before the first); the checkpoint holds the books of everything it had
 * committed, written atomically with its positions (CommitNote), so the record is rewritten with
 * those books and fatal `interrupted`. Everything it had not committed is read again, and counted,
 * by the run that starts now. Returns the run's id when its record was written.
 */
export async function completeInterruptedRun(note: CommitNote | undefined, sink: RunRecords): Promise<string | undefined> {
  if (!note) return undefined;
  const record = await sink.getRunRecord(note.runId);
  if (record && !record.provisional) return undefined; // it finished and recorded itself
  if (record?.fatal?.code === INTERRUPTED && sameBooks(record.funnel, note.books)) return undefined; // done before
  const base: RunManifest = record ?? { version: 1, startedAt: note.startedAt, finishedAt: note.startedAt, config: {}, funnel: note.books, tokens: {}, shards: [], statsSummary: {}, simulated: false };
  await sink.putRunRecord({
    ...base,
    runId: note.runId,
    funnel: note.books,
    provisional: true,
    fatal: { code: INTERRUPTED, message: `the run stopped without finishing (killed?) after ${base.finishedAt === base.startedAt ? 'its start' : `its record of ${base.finishedAt}`}; its books are those of its last commit` },
  });
  return note.runId;
}

function sameBooks(a: FunnelSnapshot | RunManifest['funnel'], b: FunnelSnapshot): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
