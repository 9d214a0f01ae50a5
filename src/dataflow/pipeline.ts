import { setMaxListeners } from 'node:events';
import { onAbort } from '../abort.js';
import type { PipelineConfig } from '../config/schema.js';
import { type Envelope, type Origin, type SourceItem, originKey } from '../envelope.js';
import { errorCode, errorMessage, GemflowError, isInfrastructureFailure, isRunFatal } from '../errors.js';
import { sleep } from '../llm/retry.js';
import type { DeadLetterSink, OutputRow, ShardSink, TrajectoryStats } from '../sinks/types.js';
import type { Source } from '../sources/types.js';
import { type Item, type Outcome, type Step, type StepContext, type StepLlm, isOutcome } from '../steps/step.js';
import type { Logger } from '../telemetry/logger.js';
import { Metrics } from '../telemetry/stage-metrics.js';
import { AckTracker } from './ack-tracker.js';
import { type BookArg, type BookOp, CommittedBooks, applyBookOp } from './committed-books.js';
import { Funnel, type FunnelSnapshot } from './funnel.js';
import { Semaphore } from './semaphore.js';

/**
 * The runtime: runs a declared list of steps over a source and into a sink, and knows no step by name.
 * One record's way through it:
 *
 *   source item -> (bad record -> dead letter) -> already written? -> step 1 -> step 2 -> ... -> rows
 *   -> sink.writeDoc -> shard durable -> resolved -> source position committed
 *
 * Each step takes one item and returns items (each goes on to the next step on its own: a document's
 * trajectories are never held at a barrier) or an outcome. A document leaves in exactly one way:
 * written (at least one row durable), or else by its own outcome or its trajectories' (rejected before
 * dead-lettered before dropped), or abandoned (drain, revoke, abort, fatal error: uncommitted, replayed).
 *
 * Failures: an error a step throws is the document's (dead letter, code and message) unless it is the
 * infrastructure's (isInfrastructureFailure): then the whole document is tried again after a backoff,
 * its answered LLM calls coming from the cache, and after llm.documentRetries the run stops with it
 * uncommitted.
 *
 * Backpressure: the loop takes a document slot before it pulls the next record, so at most
 * queueCapacity + llm.maxDocsInFlight documents are in memory (Kafka: min(queueCapacity,
 * llm.maxDocsInFlight) + llm.maxDocsInFlight); a document holds one of
 * llm.maxDocsInFlight slots from its first step that uses the LLM to its end. A full pipeline stops
 * pulling, which pauses Kafka partitions instead of buffering. Positions commit only up to the lowest
 * unresolved offset of each partition (AckTracker), after dead letters are flushed and shards are durable.
 */

export interface PipelineParts {
  config: PipelineConfig;
  source: Source;
  sink: ShardSink;
  deadLetters: DeadLetterSink;
  /** The declared steps, in order: the first takes documents, the last makes rows. */
  steps: Step[];
  /** The LLM as step `id` sees it, bound to the run's abort signal. */
  llm(stepId: string, signal: AbortSignal): StepLlm;
  /** Per-step metrics (the runtime counts them around every call). */
  metrics?: Metrics;
  log: Logger;
}

export interface RunOptions {
  /** Stop pulling new records; finish what is in flight (graceful drain). */
  drain: AbortSignal;
  /** Give up on in-flight work now (it stays uncommitted and is replayed by the next run). */
  abort: AbortSignal;
  commitIntervalMs: number;
  /** Called every progress tick with a snapshot. */
  onProgress?: (p: ProgressSnapshot) => void;
  progressIntervalMs?: number;
  /** Bounded sample of written trajectories' stats for the manifest summary. */
  statsReservoir?: number;
  /**
   * Wraps each document's LLM part (from its first step that uses the LLM to its end): the benchmark's
   * baselines (a batch barrier) and timings hook in here. Default: run it.
   */
  admission?: (doc: Envelope, run: () => Promise<void>) => Promise<void>;
  /**
   * Test hook: documents with these ids vanish inside the runtime (never written, dropped, rejected,
   * dead-lettered or abandoned), so the books cannot balance. Proves the check can fail.
   */
  loseDocumentIds?: ReadonlySet<string>;
  /**
   * The run's id and start: stored with every commit of a file source's checkpoint beside the books of
   * the documents it commits (CommitNote), so the run's record can be completed after a kill.
   */
  run?: { id: string; startedAt: string };
  /**
   * Called after each commit with the books of every document committed so far (CommittedBooks): what
   * the run has done for good. A failure is logged and does not stop the run.
   */
  onCommitted?: (books: FunnelSnapshot) => void | Promise<void>;
}

export interface ProgressSnapshot {
  elapsedMs: number;
  funnel: FunnelSnapshot;
  inFlight: number;
  llmInFlight: number;
  progress?: { done: number; total: number; unit: string };
}

export interface RunResult {
  funnel: FunnelSnapshot;
  metrics: Metrics;
  statsSample: TrajectoryStats[];
  /** Set when the run stopped on a fatal error (source unreadable, cluster unusable). */
  fatal?: GemflowError;
  elapsedMs: number;
}

/** What one attempt at a document came to: its rows and the outcomes of its items. */
interface DocBook {
  rows: OutputRow[];
  /** The document item's own outcome (a filter dropped it, a step dead-lettered it). */
  own?: Outcome & { step: string };
  /** Outcomes of its trajectories, by kind (first of each, and tallies for the funnel). */
  rejected?: { rule: string };
  failed?: { code: string; message: string; step: string };
  dropped?: { reason: string };
  trajRejected: string[];
  trajDropped: string[];
  trajFailed: string[];
  /** An infrastructure failure somewhere in the document's tree: the attempt is retried. */
  infra?: unknown;
}

export async function runPipeline(parts: PipelineParts, opts: RunOptions): Promise<RunResult> {
  const { config, source, sink, deadLetters, log, steps } = parts;
  const started = performance.now();
  const funnel = new Funnel();
  // Every funnel entry is booked by document, so that the books of what is committed are known too.
  const books = new CommittedBooks(funnel);
  const metrics = parts.metrics ?? new Metrics();
  const tracker = new AckTracker();
  const statsSample: TrajectoryStats[] = [];
  const reservoir = opts.statsReservoir ?? 10_000;
  let statsSeen = 0;
  let fatal: GemflowError | undefined;
  const firstLlm = steps.findIndex((s) => s.usesLlm);

  // The done-set: documents already durable in the output at or above each partition's committed
  // position (written by a run that crashed before committing them, or by a partition's former owner):
  // skipped, never written twice. Loaded when the source starts a partition (only the indexes of shards
  // reaching the position are read), pruned as commits advance, dropped when a partition is revoked:
  // it holds what can still be replayed, not the output.
  const done = new Map<string, Set<number>>();
  // Documents waiting for their shard to become durable: origin key -> partition and rows in it.
  const awaitingDurable = new Map<string, { partition: string; rows: number }>();
  sink.onDurable = (origins) => {
    for (const o of origins) {
      const k = originKey(o);
      const w = awaitingDurable.get(k);
      if (w === undefined) continue;
      awaitingDurable.delete(k);
      tally(o, 'written', w.rows);
      settle(o);
    }
  };
  // A shard becomes visible only while the source says this process still owns its partitions (Kafka:
  // no rebalance in progress): a partition's new owner loads its done-set from the shards it lists, and
  // a shard the former owner published after that listing would hold documents the new owner writes again.
  const mayPublish = source.whenMayPublish?.bind(source);
  if (mayPublish) sink.publishPermit = mayPublish;
  // Ownership epoch per partition, bumped when a rebalance revokes it, and the epoch each record was
  // read in (by origin object: a replayed record is a new object), stamped when the source yields it,
  // before it waits for a document slot. A record read before its partition was revoked belongs to the
  // partition's new owner, which replays it: here it is abandoned (not sent to the LLM, not written,
  // never resolved in the tracker), so it is never written twice, also when it only gets its slot
  // after the partition came back to this process (a consumer restart) and its replay is read again.
  const epochs = new Map<string, number>();
  const readIn = new WeakMap<Origin, number>();
  const current = (o: Origin) => readIn.get(o) === (epochs.get(o.partition) ?? 0);
  const stamp = (o: Origin) => readIn.set(o, epochs.get(o.partition) ?? 0);
  /** Starts tracking a record; false when it was read before its partition was revoked (abandon it). */
  const begin = (o: Origin): boolean => {
    if (!readIn.has(o)) stamp(o);
    if (!current(o)) return false;
    tracker.begin(o);
    return true;
  };
  /**
   * A funnel entry of the document at `o`: held for the committed books too (CommittedBooks) while its
   * partition is still owned as when it was read; a record read before a revocation is another
   * owner's to count for good, so it goes on the live funnel only.
   */
  const tally = (o: Origin, op: BookOp, arg: BookArg) => (current(o) ? books.note(o, op, arg) : applyBookOp(funnel, op, arg));
  const settle = (o: Origin) => {
    if (current(o)) tracker.resolve(o);
  };
  const abandon = (trajectories: number, reason = 'partition_revoked') => {
    funnel.abandoned(1);
    for (let i = 0; i < trajectories; i++) funnel.trajectoryDropped(reason);
  };

  const stop = new AbortController(); // stops the source: drain, fatal error or abort
  const work = new AbortController(); // abandons in-flight work: abort or fatal error
  setMaxListeners(0, work.signal, stop.signal); // steps and libraries listen to work and stop; gemflow's own waits subscribe through src/abort.ts (one listener per signal)
  opts.drain.addEventListener('abort', () => stop.abort(opts.drain.reason), { once: true });
  opts.abort.addEventListener('abort', () => (stop.abort(opts.abort.reason), work.abort(opts.abort.reason)), { once: true });
  /**
   * A fatal error: stops reading and abandons in-flight work. `afterReading`: the source itself failed,
   * so reading is over already; every document read before the failure still finishes and is committed.
   */
  const fail = (e: unknown, afterReading = false) => {
    if (!fatal) {
      fatal = e instanceof GemflowError ? e : new GemflowError('internal', errorMessage(e), { cause: e });
      log.error(afterReading ? 'fatal: stopping the run once the documents read before it are done' : 'fatal: stopping the run', { code: fatal.code, error: fatal.message });
    }
    if (afterReading) return;
    stop.abort(fatal);
    work.abort(fatal);
  };

  // Kafka partitions may move to another worker: read ahead no more than the LLM stage can take, so
  // a partition taken over (or a revoked one's replay) does not wait behind a long local backlog.
  const readAhead = source.kind === 'kafka' ? Math.min(config.queueCapacity, config.llm.maxDocsInFlight) : config.queueCapacity;
  const docSlots = new Semaphore(readAhead + config.llm.maxDocsInFlight);
  const llmSlots = new Semaphore(config.llm.maxDocsInFlight);
  const documentRetries = config.llm.documentRetries;
  const documentRetryBaseMs = config.llm.documentRetryBaseMs;
  const contexts: StepContext[] = steps.map((s) => ({ id: s.id, llm: parts.llm(s.id, work.signal), log, signal: work.signal }));
  const admission = opts.admission ?? ((_doc, run) => run());

  // The dead-letter sink bounds what it keeps of the record and says so (rawTruncated, rawBytes).
  const deadLetter = async (origin: Origin, stage: string, code: string, message: string, raw: string, documentId?: string, rawBytes?: number) => {
    await deadLetters.write({ origin, stage, code, message, raw, documentId, rawBytes });
    tally(origin, 'deadLettered', code);
    settle(origin);
  };
  const drop = (o: Origin, reason: string) => {
    tally(o, 'dropped', reason);
    settle(o);
  };
  const rawOf = (doc: Envelope) => JSON.stringify({ id: doc.id, text: doc.text, ...doc.meta });

  /**
   * One item through step `i` and, for what it makes, the steps after it. The step's books are kept
   * here: received on entry, then exactly one of sent (it made items), dropped, rejected or errors.
   */
  async function runStep(item: Item, i: number, book: DocBook): Promise<void> {
    if (i === steps.length) {
      if (item.kind === 'row') book.rows.push(item.row);
      return;
    }
    const step = steps[i]!;
    const m = metrics.stage(step.id);
    m.received++;
    const t0 = performance.now();
    let result: Item[] | Outcome;
    try {
      // A synchronous step is timed without the wait for its await to resume (CPU, not queueing).
      const r = step.process(item, contexts[i]!);
      result = r instanceof Promise ? await r : r;
    } catch (e) {
      m.time(performance.now() - t0);
      m.error(work.signal.aborted ? 'aborted' : errorCode(e));
      if (work.signal.aborted || isInfrastructureFailure(e)) throw e;
      result = { outcome: 'dead_letter', code: errorCode(e), message: errorMessage(e) };
      return leave(item, result, step.id, book);
    }
    m.time(performance.now() - t0);
    if (isOutcome(result)) {
      if (result.outcome === 'dropped') m.drop(result.reason);
      else if (result.outcome === 'rejected') m.reject(result.rule);
      else m.error(result.code);
      return leave(item, result, step.id, book);
    }
    if (result.length === 0) {
      m.drop('no_output');
      return leave(item, { outcome: 'dropped', reason: `${step.id}_no_output` }, step.id, book);
    }
    m.sent++;
    m.emitted += result.length;
    if (result.length === 1) return run(result[0]!, i + 1, book);
    // Every item goes on by itself; the document's infrastructure failures are collected, not raced.
    const settled = await Promise.allSettled(result.map((next) => run(next, i + 1, book)));
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
  }

  /** An item's outcome, recorded in its document's book. */
  function leave(item: Item, o: Outcome, stepId: string, book: DocBook): void {
    if (item.kind === 'document') {
      book.own = { ...o, step: stepId };
      return;
    }
    if (o.outcome === 'rejected') {
      book.rejected ??= { rule: o.rule };
      book.trajRejected.push(o.rule);
    } else if (o.outcome === 'dropped') {
      book.dropped ??= { reason: o.reason };
      book.trajDropped.push(o.reason);
    } else {
      book.failed ??= { code: o.code, message: o.message, step: stepId };
      book.trajFailed.push(o.code);
    }
  }

  /** One attempt at a document: every step, from the first. */
  function attempt(doc: Envelope): Promise<DocBook> {
    const book: DocBook = { rows: [], trajRejected: [], trajDropped: [], trajFailed: [] };
    const item: Item = { kind: 'document', doc, notes: {} };
    return run(item, 0, book).then(() => book);
  }

  async function handle(item: SourceItem): Promise<void> {
    if (item.kind === 'bad') {
      const b = item.bad;
      const bytes = Buffer.byteLength(b.raw);
      tally(b.origin, 'received', bytes);
      if (!begin(b.origin)) return abandon(0);
      const dm = metrics.stage('decode');
      dm.received++;
      dm.error(b.code);
      await deadLetter(b.origin, 'decode', b.code, b.message, b.raw, undefined, b.rawBytes);
      return;
    }
    const doc = item.doc;
    tally(doc.origin, 'received', doc.bytes);
    if (!begin(doc.origin)) return abandon(0);
    if (done.get(doc.origin.partition)?.has(doc.origin.offset)) {
      const sm = metrics.stage('source');
      sm.received++;
      sm.drop('already_written');
      return drop(doc.origin, 'already_written');
    }

    let book: DocBook;
    for (let n = 0; ; n++) {
      try {
        book = await attempt(doc);
        break;
      } catch (e) {
        if (work.signal.aborted || e === stop.signal.reason) throw e;
        if (e instanceof DrainedBeforeLlm) return abandon(0, 'drained');
        if (e instanceof RevokedBeforeLlm) return abandon(0);
        if (!isInfrastructureFailure(e)) throw e;
        // The infrastructure failed (network, replicas down or overloaded, timeouts): never the
        // document's fault, never dead-lettered. Try it again (answered calls come from the cache);
        // when that does not help, stop the run with the document uncommitted for the next run.
        const code = errorCode(e);
        if (isRunFatal(e) || n >= documentRetries || stop.signal.aborted) {
          abandon(0, 'infrastructure');
          if (isRunFatal(e)) fail(e);
          else if (!stop.signal.aborted) {
            fail(new GemflowError(code, `document ${doc.id} could not be processed after ${n + 1} tries (it stays uncommitted for the next run): ${errorMessage(e)}`, { cause: e }));
          }
          return;
        }
        tally(doc.origin, 'retried', code);
        log.warn('document hit an infrastructure failure; trying it again', { document: doc.id, code, error: errorMessage(e), attempt: n + 1 });
        try {
          await sleep(Math.min(60_000, documentRetryBaseMs * 2 ** n * (0.5 + Math.random() / 2)), stop.signal);
        } catch {
          return abandon(0, 'drained'); // draining: no new LLM work
        }
      }
    }

    if (opts.loseDocumentIds?.has(doc.id)) return; // test hook: vanish without a trace
    const rows = book.rows;
    // Trajectories: every one made is written, rejected or dropped (abandoned ones as dropped).
    for (const r of book.trajRejected) tally(doc.origin, 'trajectoryRejected', r);
    for (const r of book.trajDropped) tally(doc.origin, 'trajectoryDropped', r);
    for (const c of book.trajFailed) tally(doc.origin, 'trajectoryFailed', c);
    const generated = rows.length + book.trajRejected.length + book.trajDropped.length;
    if (generated > 0) tally(doc.origin, 'trajectoryGenerated', generated);
    if (rows.length > 0 && !current(doc.origin)) return abandon(rows.length);
    if (rows.length > 0 && work.signal.aborted) return abandon(rows.length, 'aborted');
    if (rows.length > 0) {
      for (const r of rows) {
        statsSeen++;
        if (statsSample.length < reservoir) statsSample.push(r.stats);
        else {
          const j = Math.floor(Math.random() * statsSeen);
          if (j < reservoir) statsSample[j] = r.stats;
        }
      }
      const sm = metrics.stage('sink');
      sm.received += rows.length;
      awaitingDurable.set(originKey(doc.origin), { partition: doc.origin.partition, rows: rows.length });
      const ts = performance.now();
      await sink.writeDoc(doc.origin, rows);
      sm.time(performance.now() - ts);
      sm.sent += rows.length;
      return; // resolved when its shard is durable (sink.onDurable)
    }
    const own = book.own;
    if (own?.outcome === 'dropped') return drop(doc.origin, own.reason);
    if (own?.outcome === 'dead_letter') return deadLetter(doc.origin, own.step, own.code, own.message, rawOf(doc), doc.id);
    const rule = own?.outcome === 'rejected' ? own.rule : book.rejected?.rule;
    if (rule !== undefined) {
      tally(doc.origin, 'rejected', rule);
      return settle(doc.origin);
    }
    if (book.failed) return deadLetter(doc.origin, book.failed.step, book.failed.code, book.failed.message, rawOf(doc), doc.id);
    return drop(doc.origin, book.dropped?.reason ?? 'no_output');
  }

  // The LLM part of a document: one of llm.maxDocsInFlight slots, taken at its first step that uses
  // the LLM. Once draining, documents that have not started their LLM work are abandoned (left
  // uncommitted, replayed by the next run) rather than started: a drain finishes only the work in progress.
  let run = runStep;
  if (firstLlm >= 0) {
    const inner = runStep;
    const slotted = new WeakSet<Envelope>();
    const slottedRun = async (item: Item, i: number, book: DocBook): Promise<void> => {
      slotted.add(item.doc);
      try {
        // No LLM work while the consumer group is moving partitions (see Source.whenSettled).
        if (source.whenSettled) await untilAborted(source.whenSettled(), stop.signal);
        await llmSlots.acquire(stop.signal);
      } catch {
        slotted.delete(item.doc);
        throw new DrainedBeforeLlm();
      }
      try {
        if (!current(item.doc.origin)) throw new RevokedBeforeLlm();
        await admission(item.doc, () => inner(item, i, book));
      } finally {
        slotted.delete(item.doc);
        llmSlots.release();
      }
    };
    // A later LLM step of a document whose partition was revoked meanwhile is not started: the new owner
    // replays the document, and each further call here would be paid twice. Calls in flight finish, and
    // their checked answers go to the cache (with the shared store, the new owner's replay finds them).
    const usesLlm = steps.map((s) => s.usesLlm === true);
    // Every other step goes straight on, without an async frame of its own: a document waiting in the
    // read-ahead holds fewer objects, which every scavenge copies until they are promoted.
    run = (item, i, book) => {
      if (i === firstLlm && !slotted.has(item.doc)) return slottedRun(item, i, book);
      if (i > firstLlm && usesLlm[i] && !current(item.doc.origin)) return Promise.reject(new RevokedBeforeLlm());
      return inner(item, i, book);
    };
  }

  // Commits: throttled, and only after dead letters are durable.
  let committing: Promise<void> = Promise.resolve();
  const commit = () =>
    (committing = committing.then(async () => {
      const pos = tracker.positions(true);
      if (pos.size === 0) return;
      await deadLetters.flush();
      const committed = books.preview(pos);
      await source.commit(pos, opts.run && { runId: opts.run.id, startedAt: opts.run.startedAt, books: committed.books });
      tracker.markCommitted(pos);
      committed.apply();
      // Below a committed position nothing is read again: those done-set entries are no longer needed.
      for (const [p, next] of pos) {
        const set = done.get(p);
        if (!set) continue;
        for (const off of set) if (off < next) set.delete(off);
        if (set.size === 0) done.delete(p);
      }
      try {
        await opts.onCommitted?.(committed.books);
      } catch (e) {
        log.warn('could not record the committed books', { code: errorCode(e), error: errorMessage(e) });
      }
    }).catch((e) => log.warn('commit failed; will retry', { code: errorCode(e), error: errorMessage(e) })));
  const commitTimer = setInterval(commit, opts.commitIntervalMs);
  const tickTimer = setInterval(() => {
    sink.tick().catch((e) => fail(e));
  }, 1000);
  const progress = () =>
    opts.onProgress?.({
      elapsedMs: performance.now() - started,
      funnel: funnel.snapshot(),
      inFlight: tracker.inFlight(),
      llmInFlight: llmSlots.inUse,
      progress: source.progress?.(),
    });
  const progressTimer = opts.onProgress ? setInterval(progress, opts.progressIntervalMs ?? 1000) : undefined;

  const hooks = {
    onPartitionStart: async (partition: string, fromOffset: number) => {
      const offsets = (await sink.writtenDocs(new Map([[partition, fromOffset]]))).get(partition);
      if (offsets?.size) done.set(partition, offsets);
      else done.delete(partition);
    },
    onPartitionsRevoked: async (partitions: string[]) => {
      const lost = new Set(partitions);
      for (const p of lost) {
        epochs.set(p, (epochs.get(p) ?? 0) + 1);
        done.delete(p);
      }
      // Written but not durable yet: dropped with the open shards below, replayed by the new owner.
      for (const [k, w] of awaitingDurable) {
        if (!lost.has(w.partition)) continue;
        awaitingDurable.delete(k);
        abandon(w.rows);
      }
      await sink.discard(partitions);
      await commit();
      tracker.forget(partitions);
      books.forget(lost); // what is not committed by now is the new owner's to read and count
    },
  };

  const tasks = new Set<Promise<void>>();
  try {
    for await (const item of source.read(stop.signal, hooks)) {
      stamp(item.kind === 'doc' ? item.doc.origin : item.bad.origin);
      await docSlots.acquire(work.signal);
      const t: Promise<void> = handle(item)
        // Documents handle their own failures; what reaches here is fatal (disk errors, a sink that
        // cannot write), or the abort of in-flight work: either way the document stays uncommitted,
        // and is counted as abandoned here, when it is abandoned (unless it already left some way).
        .catch((e) => {
          const o = item.kind === 'doc' ? item.doc.origin : item.bad.origin;
          if (!awaitingDurable.has(originKey(o))) funnel.abandoned(1);
          if (!work.signal.aborted && !(stop.signal.aborted && e === stop.signal.reason)) fail(e);
        })
        .finally(() => {
          docSlots.release();
          tasks.delete(t);
        });
      tasks.add(t);
      if (stop.signal.aborted) break;
    }
  } catch (e) {
    // An input that cannot be read is about that input, not about the documents read before it: they
    // all finish and are committed, and the next run resumes at the unreadable record.
    if (!work.signal.aborted && !opts.drain.aborted) fail(e, errorCode(e) === 'input_unreadable');
  }

  // Drain: wait for in-flight documents (unless aborted), then make everything durable and commit.
  await Promise.all([...tasks]);
  clearInterval(commitTimer);
  clearInterval(tickTimer);
  if (progressTimer) clearInterval(progressTimer);
  try {
    await sink.flush();
  } catch (e) {
    fail(e);
  }
  await commit();
  await committing;
  // Written but never durable: the shard was lost to a fatal error or an abort; uncommitted, replayed.
  if (fatal || opts.abort.aborted) {
    for (const [, w] of awaitingDurable) abandon(w.rows, 'not_durable');
    awaitingDurable.clear();
  }
  progress();
  return { funnel: funnel.snapshot(), metrics, statsSample, fatal, elapsedMs: performance.now() - started };
}

/** `p`, or a rejection when `signal` aborts first. */
function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const unsubscribe = onAbort(signal, () => reject(signal.reason));
    p.then(() => {
      unsubscribe();
      resolve();
    });
  });
}

/** Draining began before the document reached its first LLM step: it is left for the next run. */
class DrainedBeforeLlm extends Error {}
/** Its partition was revoked before the document reached its first (or a further) LLM step: the new owner replays it. */
class RevokedBeforeLlm extends Error {}
