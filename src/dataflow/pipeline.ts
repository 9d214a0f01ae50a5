import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { PipelineConfig } from '../config/schema.js';
import { type Envelope, type Origin, type SourceItem, originKey } from '../envelope.js';
import { errorCode, errorMessage, GemflowError, isInfrastructureFailure } from '../errors.js';
import type { DeadLetterSink, OutputRow, ShardSink, TrajectoryStats } from '../sinks/types.js';
import type { Source } from '../sources/types.js';
import type { Trajectory } from '../trajectory.js';
import type { Logger } from '../telemetry/logger.js';
import { Metrics } from '../telemetry/stage-metrics.js';
import { AckTracker } from './ack-tracker.js';
import { Funnel, type FunnelSnapshot } from './funnel.js';
import type { GenerateResult } from './generate.js';
import { MicroBatcher } from './micro-batcher.js';
import { Semaphore } from './semaphore.js';
import { sleep } from '../llm/retry.js';

/**
 * The runtime. One document's way through it:
 *
 *   source item -> (bad record -> dead letter) -> already written? -> relevance (worker pool, micro-batched)
 *   -> document dedupe -> LLM generation (bounded documents in flight, each document's calls scheduled on
 *   their own) -> per trajectory: validate -> trajectory dedupe -> stats -> row -> sink.writeDoc
 *   -> shard durable -> resolved -> source position committed
 *
 * Backpressure: the loop takes a document slot before it pulls the next record, so at most
 * queueCapacity + llm.maxDocsInFlight documents are in memory; a full pipeline stops pulling, which
 * pauses Kafka partitions instead of buffering. Positions commit only up to the lowest unresolved
 * offset of each partition (AckTracker), after dead letters are flushed and shards are durable.
 */

export interface RelevanceScorer {
  score(texts: string[]): Promise<Array<{ score: number; features: Record<string, number> }>>;
}
export interface DocDeduper {
  /** `replayKey` names the record (its source position): the same record read again is not its own duplicate. */
  check(id: string, text: string, replayKey: string): { duplicate: false } | { duplicate: true; of: string; kind: string; similarity?: number };
}
export interface TrajectoryDeduper {
  check(id: string, t: Trajectory): { duplicate: false } | { duplicate: true; of: string };
}
export interface Generator {
  generate(doc: Envelope, signal: AbortSignal): Promise<GenerateResult>;
}

export interface PipelineParts {
  config: PipelineConfig;
  source: Source;
  sink: ShardSink;
  deadLetters: DeadLetterSink;
  relevance: RelevanceScorer;
  docDedupe: DocDeduper;
  trajectoryDedupe: TrajectoryDeduper;
  generator: Generator;
  validate(t: Trajectory): Array<{ rule: string; message: string }>;
  stats(t: Trajectory): TrajectoryStats;
  /** Per-operator metrics; shared with the generator so LLM stages report under the same registry. */
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
   * Test hook: documents with these ids vanish inside the runtime (never written, dropped, rejected,
   * dead-lettered or abandoned), so the books cannot balance. Proves the check can fail.
   */
  loseDocumentIds?: ReadonlySet<string>;
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

const RAW_LIMIT = 64 * 1024;

/**
 * A trajectory's id: from the document id AND its text, so two records that share an id but not a
 * text (or an id given as 12345 in one and "12345" in another) never share a trajectory id.
 */
export function trajectoryId(documentId: string, text: string, workflowIndex: number, mode: string): string {
  const textHash = createHash('sha256').update(text).digest('hex');
  return createHash('sha256').update(`${documentId}\u0000${textHash}\u0000${workflowIndex}\u0000${mode}`).digest('hex').slice(0, 24);
}

export function originString(o: Origin): string {
  return o.kind === 'file' ? `file:${o.file}:${o.line}` : `kafka:${o.topic}/${o.kafkaPartition}@${o.offset}`;
}

export async function runPipeline(parts: PipelineParts, opts: RunOptions): Promise<RunResult> {
  const { config, source, sink, deadLetters, log } = parts;
  const started = performance.now();
  const funnel = new Funnel();
  const metrics = parts.metrics ?? new Metrics();
  const tracker = new AckTracker();
  const statsSample: TrajectoryStats[] = [];
  const reservoir = opts.statsReservoir ?? 10_000;
  let statsSeen = 0;
  let fatal: GemflowError | undefined;

  // Documents written by earlier runs (replay after a crash): skipped, never written twice.
  const done = await sink.writtenDocs();
  // Documents waiting for their shard to become durable: origin key -> partition and trajectories in it.
  const awaitingDurable = new Map<string, { partition: string; rows: number }>();
  sink.onDurable = (origins) => {
    for (const o of origins) {
      const k = originKey(o);
      const w = awaitingDurable.get(k);
      if (w === undefined) continue;
      awaitingDurable.delete(k);
      funnel.written(w.rows);
      settle(o);
    }
  };
  // Ownership epoch per partition, bumped when a rebalance revokes it, and the epoch each record was
  // read in (by origin object: a replayed record is a new object). A record read before its partition
  // was revoked belongs to the partition's new owner, which replays it: here it is abandoned (not sent
  // to the LLM, not written, never resolved in the tracker), so it is never written twice.
  const epochs = new Map<string, number>();
  const readIn = new WeakMap<Origin, number>();
  const current = (o: Origin) => readIn.get(o) === (epochs.get(o.partition) ?? 0);
  const begin = (o: Origin) => {
    readIn.set(o, epochs.get(o.partition) ?? 0);
    tracker.begin(o);
  };
  const settle = (o: Origin) => {
    if (current(o)) tracker.resolve(o);
  };
  const abandon = (trajectories: number, reason = 'partition_revoked') => {
    funnel.abandoned(1);
    for (let i = 0; i < trajectories; i++) funnel.trajectoryDropped(reason);
  };

  const stop = new AbortController(); // stops the source: drain, fatal error or abort
  const work = new AbortController(); // abandons in-flight work: abort or fatal error
  setMaxListeners(0, work.signal, stop.signal); // every in-flight LLM call listens to work, every document waiting for an LLM slot to stop
  opts.drain.addEventListener('abort', () => stop.abort(opts.drain.reason), { once: true });
  opts.abort.addEventListener('abort', () => (stop.abort(opts.abort.reason), work.abort(opts.abort.reason)), { once: true });
  const fail = (e: unknown) => {
    if (!fatal) {
      fatal = e instanceof GemflowError ? e : new GemflowError('internal', errorMessage(e), { cause: e });
      log.error('fatal: stopping the run', { code: fatal.code, error: fatal.message });
    }
    stop.abort(fatal);
    work.abort(fatal);
  };

  const relevanceM = metrics.stage('relevance');
  const batcher = new MicroBatcher((texts: string[]) => parts.relevance.score(texts), {
    batchSize: config.relevance.batchSize,
    lingerMs: config.relevance.lingerMs,
    maxInFlight: Math.max(2, config.relevance.threads * 2),
  });
  const docSlots = new Semaphore(config.queueCapacity + config.llm.maxDocsInFlight);
  const llmSlots = new Semaphore(config.llm.maxDocsInFlight);
  const documentRetries = config.llm.documentRetries;
  const documentRetryBaseMs = config.llm.documentRetryBaseMs;

  const deadLetter = async (origin: Origin, stage: string, code: string, message: string, raw: string, documentId?: string) => {
    await deadLetters.write({ origin, stage, code, message, raw: raw.length > RAW_LIMIT ? raw.slice(0, RAW_LIMIT) : raw, documentId });
    funnel.deadLettered(code);
    settle(origin);
  };
  const drop = (m: ReturnType<Metrics['stage']>, o: Origin, reason: string) => {
    m.drop(reason);
    funnel.dropped(reason);
    settle(o);
  };

  async function handle(item: SourceItem): Promise<void> {
    if (item.kind === 'bad') {
      const b = item.bad;
      funnel.received(Buffer.byteLength(b.raw));
      begin(b.origin);
      metrics.stage('decode').error(b.code);
      await deadLetter(b.origin, 'decode', b.code, b.message, b.raw);
      return;
    }
    const doc = item.doc;
    funnel.received(doc.bytes);
    begin(doc.origin);
    if (done.has(originKey(doc.origin))) {
      drop(metrics.stage('source'), doc.origin, 'already_written');
      return;
    }

    // relevance (CPU, worker threads)
    relevanceM.received++;
    const t0 = performance.now();
    const rel = await batcher.submit(doc.text);
    relevanceM.time(performance.now() - t0);
    if (rel.score < config.relevance.threshold) return drop(relevanceM, doc.origin, 'irrelevant');
    relevanceM.sent++;

    // document dedupe (CPU)
    const dd = metrics.stage('dedupe');
    dd.received++;
    const dup = parts.docDedupe.check(doc.id, doc.text, originKey(doc.origin));
    if (dup.duplicate) return drop(dd, doc.origin, dup.kind === 'near' ? 'near_duplicate' : 'duplicate');
    dd.sent++;

    // LLM stages: at most maxDocsInFlight documents at once; each document's calls go out on their own.
    // Once draining, documents that have not started their LLM work are abandoned (left uncommitted,
    // replayed by the next run) rather than started: a drain finishes only the work in progress.
    try {
      await llmSlots.acquire(stop.signal);
    } catch {
      return abandon(0);
    }
    if (!current(doc.origin)) {
      llmSlots.release();
      return abandon(0);
    }
    let gen: GenerateResult;
    try {
      // The infrastructure's failures (network, replicas down or overloaded, timeouts) are never the
      // document's: it is tried again (answered calls come from the cache) and, when that does not
      // help, the run stops with the document uncommitted, for the next run to process.
      for (let attempt = 0; ; attempt++) {
        try {
          gen = await parts.generator.generate(doc, work.signal);
          break;
        } catch (e) {
          if (work.signal.aborted) throw e;
          if (!isInfrastructureFailure(e)) {
            await deadLetter(doc.origin, 'generate', errorCode(e), errorMessage(e), JSON.stringify({ id: doc.id, text: doc.text, ...doc.meta }), doc.id);
            return;
          }
          if (errorCode(e) === 'llm_cluster_unusable' || attempt >= documentRetries || stop.signal.aborted) {
            abandon(0);
            if (!stop.signal.aborted || errorCode(e) === 'llm_cluster_unusable') {
              fail(
                errorCode(e) === 'llm_cluster_unusable'
                  ? e
                  : new GemflowError(errorCode(e), `document ${doc.id} could not be processed after ${attempt + 1} tries (it stays uncommitted for the next run): ${errorMessage(e)}`, { cause: e }),
              );
            }
            return;
          }
          metrics.stage('generate').error(`retry_${errorCode(e)}`);
          log.warn('document hit an infrastructure failure; trying it again', { document: doc.id, code: errorCode(e), error: errorMessage(e), attempt: attempt + 1 });
          try {
            await sleep(Math.min(60_000, documentRetryBaseMs * 2 ** attempt * (0.5 + Math.random() / 2)), stop.signal);
          } catch {
            return abandon(0); // draining: no new LLM work
          }
        }
      }
    } finally {
      llmSlots.release();
    }

    // per trajectory: validate -> dedupe -> stats -> row
    if (opts.loseDocumentIds?.has(doc.id)) return; // test hook: vanish without a trace
    const vm = metrics.stage('validate');
    const rows: OutputRow[] = [];
    let firstRule: string | undefined;
    let firstFailure: { code: string; stage: string; message: string } | undefined;
    for (const out of gen.outcomes) {
      if (out.kind === 'failed') {
        funnel.trajectoryFailed(out.code);
        firstFailure ??= out;
        continue;
      }
      funnel.trajectoryGenerated();
      if (out.kind === 'judged_out') {
        for (const r of out.rules) metrics.stage('judge').drop(r);
        funnel.trajectoryRejected(`judge_${out.rules[0]}`);
        firstRule ??= `judge_${out.rules[0]}`;
        continue;
      }
      const it = out.item;
      const tv = performance.now();
      vm.received++;
      const violations = parts.validate(it.trajectory);
      vm.time(performance.now() - tv);
      if (violations.length > 0) {
        const rule = violations[0]!.rule;
        vm.drop(rule);
        funnel.trajectoryRejected(rule);
        firstRule ??= rule;
        continue;
      }
      vm.sent++;
      const id = trajectoryId(doc.id, doc.text, it.workflowIndex, config.llm.mode);
      const td = parts.trajectoryDedupe.check(id, it.trajectory);
      if (td.duplicate) {
        metrics.stage('dedupe_trajectories').drop('duplicate');
        funnel.trajectoryDropped('duplicate');
        continue;
      }
      const stats = parts.stats(it.trajectory);
      statsSeen++;
      if (statsSample.length < reservoir) statsSample.push(stats);
      else {
        const j = Math.floor(Math.random() * statsSeen);
        if (j < reservoir) statsSample[j] = stats;
      }
      rows.push({
        trajectoryId: id,
        documentId: doc.id,
        origin: originString(doc.origin),
        originPartition: doc.origin.partition,
        originOffset: doc.origin.offset,
        domain: it.domain,
        workflowName: it.workflow.name,
        relevanceScore: rel.score,
        tools: JSON.stringify(it.trajectory.tools),
        messages: JSON.stringify(it.trajectory.messages),
        patterns: JSON.stringify(it.trajectory.patterns),
        policy: JSON.stringify(it.policy ?? null),
        userProfile: JSON.stringify(it.userProfile ?? null),
        judge: JSON.stringify(it.judge ?? null),
        stats,
        promptVersions: JSON.stringify(it.promptVersions),
        models: JSON.stringify(it.models),
        promptTokens: it.promptTokens,
        completionTokens: it.completionTokens,
      });
    }

    if (rows.length > 0 && !current(doc.origin)) return abandon(rows.length);
    if (rows.length > 0 && work.signal.aborted) return abandon(rows.length, 'aborted');
    if (rows.length > 0) {
      const sm = metrics.stage('sink');
      sm.received += rows.length;
      awaitingDurable.set(originKey(doc.origin), { partition: doc.origin.partition, rows: rows.length });
      const ts = performance.now();
      await sink.writeDoc(doc.origin, rows);
      sm.time(performance.now() - ts);
      sm.sent += rows.length;
      return; // resolved when its shard is durable (sink.onDurable)
    }
    if (gen.outcomes.length === 0) return drop(metrics.stage('extract'), doc.origin, 'no_workflows');
    if (firstRule) {
      funnel.rejected(firstRule);
      settle(doc.origin);
      return;
    }
    if (firstFailure) {
      await deadLetter(doc.origin, firstFailure.stage, firstFailure.code, firstFailure.message, JSON.stringify({ id: doc.id, text: doc.text, ...doc.meta }), doc.id);
      return;
    }
    // every trajectory was a duplicate of an earlier one
    return drop(metrics.stage('dedupe_trajectories'), doc.origin, 'duplicate_trajectories');
  }

  // Commits: throttled, and only after dead letters are durable.
  let committing: Promise<void> = Promise.resolve();
  const commit = () =>
    (committing = committing.then(async () => {
      const pos = tracker.positions(true);
      if (pos.size === 0) return;
      await deadLetters.flush();
      await source.commit(pos);
      tracker.markCommitted(pos);
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
    onPartitionsAssigned: async (partitions: string[]) => {
      for (const k of await sink.writtenDocs(partitions)) done.add(k);
    },
    onPartitionsRevoked: async (partitions: string[]) => {
      const lost = new Set(partitions);
      for (const p of lost) epochs.set(p, (epochs.get(p) ?? 0) + 1);
      // Written but not durable yet: dropped with the open shards below, replayed by the new owner.
      for (const [k, w] of awaitingDurable) {
        if (!lost.has(w.partition)) continue;
        awaitingDurable.delete(k);
        abandon(w.rows);
      }
      await sink.discard(partitions);
      await commit();
      tracker.forget(partitions);
    },
  };

  const tasks = new Set<Promise<void>>();
  try {
    for await (const item of source.read(stop.signal, hooks)) {
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
    if (!work.signal.aborted && !opts.drain.aborted) fail(e);
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
