import { Kafka, type Consumer, type EachBatchPayload } from 'kafkajs';
import type { KafkaSourceConfig } from '../config/schema.js';
import type { Origin, SourceItem } from '../envelope.js';
import { errorMessage, GemflowError } from '../errors.js';
import { groupTimings, kafkaClientConfig } from '../kafka/client-options.js';
import { trackedSockets, type TrackedSockets } from '../kafka/tracked-sockets.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { decodeRecord, type DecodeOptions } from './decode.js';
import type { Source, SourceHooks } from './types.js';

export interface KafkaSourceOptions {
  /** Decoded records held between the consumer and the reader (default 1024). When full, fetching pauses. */
  bufferRecords?: number;
  logger?: Logger;
}

/** What the reader takes from the buffer: a record, or an assignment change to announce first. */
type Entry =
  | { type: 'item'; partition: string; item: SourceItem }
  | { type: 'start'; partition: string; offset: number }
  | { type: 'rebalance'; assigned: string[] };

/** A partition this consumer owns, keyed "<topic>/<partition>". */
interface OwnedPartition {
  topic: string;
  partition: number;
  /** Records below this offset are committed (initially: the first offset fetched). */
  committed?: number;
  /** The next offset not yet buffered. */
  next?: number;
  /** Paused because maxInFlightPerPartition records are uncommitted; commit() resumes it. */
  pausedInFlight: boolean;
}

/** How long a batch handler waiting for buffer room sleeps between heartbeats. */
const ROOM_WAIT_MS = 1000;

/** Commit errors that only mean the group moved on: the partitions are revoked, their new owner replays. */
const LOST_GENERATION = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);

/**
 * Reads Kafka topics as a consumer group member. Records flow from kafkajs' eachBatch into a
 * bounded buffer the reader drains; a partition pauses while the buffer is full or while it has
 * maxInFlightPerPartition records the runtime has not committed, so memory stays flat (backpressure,
 * not buffering). Nothing is committed automatically: `commit()` stores the runtime's watermarks.
 *
 * Rebalances: new assignments reach the reader in order with the records, so
 * `onPartitionsAssigned` runs before any record of a new partition is yielded; `onPartitionsRevoked`
 * runs at once when a partition is lost, whatever the reader is doing (its buffered records are
 * dropped; the new owner replays them from the committed offset), and the group counts as settled
 * (whenSettled) only after it returned. A consumer crash (e.g. a broker down longer than
 * the retries) restarts the consumer, which counts as losing and regaining every partition; so does
 * a crash kafkajs does not restart from that passes once the brokers are back (#restartConsumer).
 * `read()` is meant to be called once per instance.
 */
export class KafkaSource implements Source {
  readonly kind = 'kafka' as const;
  readonly #cfg: KafkaSourceConfig;
  readonly #decode: DecodeOptions;
  readonly #capacity: number;
  readonly #logger: Logger;
  readonly #consumer: Consumer;
  readonly #sockets: TrackedSockets = trackedSockets();
  readonly #owned = new Map<string, OwnedPartition>();

  /** Partitions this consumer owns now (readiness: a worker with none is not doing work). */
  get assignedCount(): number {
    return this.#owned.size;
  }
  #entries: Entry[] = [];
  /** Number of 'item' entries in #entries (the buffer's fill). */
  #items = 0;
  #waiters = new Set<() => void>();
  #fatal: GemflowError | undefined;
  #started = false;
  #running = false;
  /** Open once the group is settled (see whenSettled); undefined while it is. */
  #unsettled: { promise: Promise<void>; open: () => void } | undefined = gate();
  /** The start-up settle window ends here (epoch ms), counted from the first assignment. */
  #settleUntil = Infinity;
  #rebalancing = false;
  /**
   * Set from the moment kafkajs signals a rebalance (and before the first assignment) until the new
   * assignment is applied and its revocations handled: no shard is published meanwhile (whenMayPublish).
   */
  #fenced = true;
  /** When the group last confirmed this member (a successful heartbeat or join), epoch ms. */
  #confirmedAt = 0;
  #settleTimer: NodeJS.Timeout | undefined;
  #hooks: SourceHooks = {};
  /** The runtime's onPartitionsRevoked for the last revocation, while it runs. */
  #revoking: Promise<void> = Promise.resolve();
  /** Set on abort or close: no more fetching, no consumer restarts. */
  #stopped = false;
  /** Consumer restarts done here after crashes kafkajs does not restart (see #restartConsumer). */
  #selfRestarts = 0;
  #closed = false;
  /**
   * Test hook (GEMFLOW_TEST_REVOKE_DELAY_MS): the runtime hears of a revocation this much later, as when
   * its event loop is busy when the new assignment arrives (the partition's new owner is already reading).
   */
  readonly #revokeDelayMs = Number(process.env.GEMFLOW_TEST_REVOKE_DELAY_MS ?? 0) || 0;

  constructor(cfg: KafkaSourceConfig, opts: KafkaSourceOptions = {}) {
    this.#cfg = cfg;
    this.#decode = { idField: cfg.idField, textField: cfg.textField, maxRecordBytes: cfg.maxRecordBytes };
    this.#capacity = opts.bufferRecords ?? 1024;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) {
      throw new GemflowError('invalid_option', `bufferRecords must be a positive integer, got ${this.#capacity}`);
    }
    this.#logger = opts.logger ?? createLogger();
    const kafka = new Kafka({ ...kafkaClientConfig(cfg, this.#logger), socketFactory: this.#sockets.socketFactory });
    this.#consumer = kafka.consumer({
      groupId: cfg.groupId,
      ...groupTimings(cfg),
      // Also how long kafkajs sleeps when every partition is paused, i.e. the latency of a resume.
      maxWaitTimeInMs: 250,
      retry: {
        initialRetryTime: 300,
        maxRetryTime: 10_000,
        retries: 8,
        // kafkajs asks this after a retriable failure outlived the retries (a broker down for a while).
        restartOnFailure: async (e) => {
          if (!this.#stopped) this.#logger.warn('kafka consumer failed, restarting', { groupId: cfg.groupId, error: errorMessage(e) });
          return !this.#stopped;
        },
      },
    });
  }

  async *read(signal: AbortSignal, hooks: SourceHooks): AsyncIterable<SourceItem> {
    if (this.#started) throw new GemflowError('kafka_source_reused', 'KafkaSource.read() can be called only once');
    this.#started = true;
    this.#hooks = hooks;
    const onAbort = () => this.#stopFetching();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#start();
      while (!signal.aborted) {
        if (this.#fatal) throw this.#fatal;
        const entry = this.#entries.shift();
        if (!entry) {
          await this.#waitForChange(60_000);
          continue;
        }
        if (entry.type === 'rebalance') {
          await this.#revoking;
          if (entry.assigned.length) await hooks.onPartitionsAssigned?.(entry.assigned);
          continue;
        }
        if (entry.type === 'start') {
          await hooks.onPartitionStart?.(entry.partition, entry.offset);
          continue;
        }
        this.#items--;
        this.#wake();
        yield entry.item;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#stopFetching();
      await this.#revoking;
    }
  }

  /** Commits `partition -> next offset` for the partitions this consumer still owns. */
  async commit(positions: Map<string, number>): Promise<void> {
    const offsets: Array<{ topic: string; partition: number; offset: string }> = [];
    const owned: Array<[OwnedPartition, number]> = [];
    for (const [key, next] of positions) {
      const st = this.#owned.get(key);
      if (!st) continue; // revoked: its new owner commits it
      offsets.push({ topic: st.topic, partition: st.partition, offset: String(next) });
      owned.push([st, next]);
    }
    if (offsets.length === 0 || !this.#running) return;
    try {
      await this.#consumer.commitOffsets(offsets);
    } catch (e) {
      const type = kafkaErrorType(e);
      if (type && LOST_GENERATION.has(type)) {
        this.#logger.warn('kafka commit skipped: the group is rebalancing', { groupId: this.#cfg.groupId, error: type });
        return;
      }
      throw new GemflowError('kafka_commit_failed', `cannot commit offsets of group ${this.#cfg.groupId}: ${errorMessage(e)}`, { retriable: true, cause: e });
    }
    for (const [st, next] of owned) {
      st.committed = Math.max(st.committed ?? next, next);
      if (st.pausedInFlight && this.#inFlight(st) < this.#cfg.maxInFlightPerPartition) {
        st.pausedInFlight = false;
        if (!this.#stopped && this.#owned.get(`${st.topic}/${st.partition}`) === st) {
          this.#consumer.resume([{ topic: st.topic, partitions: [st.partition] }]);
        }
      }
    }
  }

  /**
   * Resolves when the group is settled: the start-up window (`settleMs` after the first assignment,
   * so that workers starting together split the partitions before any of them starts LLM work; none
   * when that first assignment came from a group another member already led) is over and no
   * rebalance is in progress. The runtime waits for it before a document's LLM work, so
   * no answer is paid for on a partition the group is about to move.
   */
  whenSettled(): Promise<void> {
    return this.#unsettled?.promise ?? Promise.resolve();
  }

  /**
   * Resolves true when a shard may be made visible in the output: this member still certainly owns
   * every partition it holds. That is when (a) no rebalance has been signalled since the current
   * assignment was applied and its revocations handled (kafkajs signals REBALANCING before it sends
   * its JoinGroup, and a partition reaches its new owner only once every live member has rejoined),
   * and (b) the group confirmed this member (a heartbeat or a join) less than half a session timeout
   * ago (a member the coordinator expels without its rejoin, e.g. after an event-loop stall, has not
   * heartbeaten for a whole session). The runtime awaits it before each publish; false once the
   * source failed or closed (what is unpublished stays uncommitted and is replayed).
   */
  async whenMayPublish(): Promise<boolean> {
    const leaseMs = this.#cfg.sessionTimeoutMs / 2;
    for (;;) {
      if (this.#fatal || this.#closed) return false;
      if (!this.#fenced && Date.now() - this.#confirmedAt < leaseMs) return true;
      await this.#waitForChange(100);
    }
  }

  /** Records fetched and decoded but not yet taken by the reader (never above bufferRecords); for metrics. */
  bufferedRecords(): number {
    return this.#items;
  }

  async close(): Promise<void> {
    this.#stopped = true;
    this.#closed = true;
    clearTimeout(this.#settleTimer);
    this.#wake();
    try {
      await this.#consumer.disconnect();
    } finally {
      this.#sockets.destroyAll(); // connections kafkajs lost track of (see trackedSockets)
    }
  }

  async #start(): Promise<void> {
    const consumer = this.#consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.#rebalancing = false;
      this.#confirmedAt = Date.now();
      // The start-up window is for workers starting together: the group's first member (its leader)
      // holds every partition until the others have joined. A member whose first join finds another
      // member leading joins a group that already exists (a restarted or added worker): the rebalance
      // that assigned it counted the members present, so it starts at once.
      if (this.#settleUntil === Infinity) this.#settleUntil = e.payload.isLeader ? Date.now() + this.#cfg.settleMs : 0;
      this.#assign(e.payload.memberAssignment);
      // Settled, and publishing again, only once the runtime knows what it lost (no LLM work starts
      // on a lost partition, and its held shards are discarded before the others are published).
      void this.#revoking.then(() => {
        if (!this.#rebalancing) {
          this.#fenced = false;
          this.#wake();
        }
        this.#checkSettled();
      });
    });
    consumer.on(consumer.events.HEARTBEAT, () => {
      this.#confirmedAt = Date.now();
    });
    // The group is rebalancing: this member rejoins, and may lose partitions when the join completes.
    // Emitted (synchronously) before kafkajs sends the JoinGroup, so no publish starts after this
    // point until the new assignment is known.
    consumer.on(consumer.events.REBALANCING, () => {
      this.#rebalancing = true;
      this.#fenced = true;
      this.#unsettled ??= gate();
    });
    consumer.on(consumer.events.CRASH, (e) => {
      const restartHere = !e.payload.restart && !this.#stopped && isTransientCrash(e.payload.error) && this.#selfRestarts < MAX_SELF_RESTARTS;
      if (e.payload.restart || restartHere) {
        this.#rebalancing = true;
        this.#fenced = true;
        this.#unsettled ??= gate();
        this.#assign({}); // the restarted consumer joins afresh: everything is reassigned
        if (restartHere) {
          this.#running = false; // stopped until #restartConsumer runs it again
          void this.#restartConsumer(e.payload.error);
        }
      } else if (!this.#stopped) {
        this.#fatal = new GemflowError('kafka_consumer_failed', `Kafka consumer of group ${this.#cfg.groupId} failed: ${errorMessage(e.payload.error)}`, { cause: e.payload.error });
        this.#wake();
      }
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: this.#cfg.topics, fromBeginning: this.#cfg.fromBeginning });
      await this.#run();
    } catch (e) {
      throw new GemflowError(
        'kafka_connect_failed',
        `cannot consume ${this.#cfg.topics.join(', ')} from ${this.#cfg.brokers.join(',')}: ${errorMessage(e)}`,
        { retriable: true, cause: e },
      );
    }
  }

  /** Applies a new assignment (topic -> partitions); called synchronously from kafkajs' GROUP_JOIN. */
  #assign(assignment: Record<string, number[]>): void {
    const now = new Map<string, { topic: string; partition: number }>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) now.set(`${topic}/${partition}`, { topic, partition });
    }
    const revoked = [...this.#owned.keys()].filter((k) => !now.has(k));
    const assigned = [...now.keys()].filter((k) => !this.#owned.has(k));
    for (const key of revoked) this.#owned.delete(key);
    if (revoked.length) {
      const lost = new Set(revoked);
      this.#entries = this.#entries.filter((e) => e.type === 'rebalance' || !lost.has(e.partition));
      this.#items = this.#entries.reduce((n, e) => n + (e.type === 'item' ? 1 : 0), 0);
      // The runtime hears of a revocation at once, not behind the records it has yet to take: its
      // documents of those partitions must stop (no LLM work, no shard) before the new owner replays them.
      const hook = this.#hooks.onPartitionsRevoked;
      this.#revoking = this.#revoking.then(async () => {
        try {
          if (this.#revokeDelayMs > 0) await new Promise((r) => setTimeout(r, this.#revokeDelayMs));
          await hook?.(revoked);
        } catch (e) {
          this.#fatal ??= new GemflowError('kafka_revoke_failed', `cannot give up partitions ${revoked.join(', ')}: ${errorMessage(e)}`, { cause: e });
          this.#wake();
        }
      });
    }
    for (const [key, { topic, partition }] of now) {
      const kept = this.#owned.get(key);
      if (kept) {
        // A new generation restarts every partition at its committed offset: continue after the buffer instead.
        if (kept.next !== undefined) this.#consumer.seek({ topic, partition, offset: String(kept.next) });
        continue;
      }
      this.#owned.set(key, { topic, partition, pausedInFlight: false });
      // Clear a pause left from an earlier ownership of this partition (or keep fetching stopped).
      if (this.#stopped) this.#consumer.pause([{ topic, partitions: [partition] }]);
      else if (this.#running) this.#consumer.resume([{ topic, partitions: [partition] }]);
    }
    if (assigned.length || revoked.length) {
      this.#logger.info('kafka partitions changed', { groupId: this.#cfg.groupId, assigned: assigned.join(','), revoked: revoked.join(',') });
      this.#entries.push({ type: 'rebalance', assigned });
      this.#wake();
    }
  }

  async #onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const key = `${batch.topic}/${batch.partition}`;
    const st = this.#owned.get(key);
    if (!st) return;
    const tp = [{ topic: batch.topic, partitions: [batch.partition] }];
    const accepting = () => isRunning() && !isStale() && !this.#stopped && this.#owned.get(key) === st;
    let pausedForRoom = false;
    try {
      for (const message of batch.messages) {
        const offset = Number(message.offset);
        if (st.next !== undefined && offset < st.next) {
          resolveOffset(message.offset); // already buffered during this ownership
          continue;
        }
        while (this.#items >= this.#capacity) {
          if (!pausedForRoom) {
            this.#consumer.pause(tp);
            pausedForRoom = true;
          }
          await this.#waitForChange(ROOM_WAIT_MS);
          if (!accepting()) return;
          await heartbeat();
        }
        if (!accepting()) return;
        if (st.committed === undefined) {
          // The first record of this ownership: fetching starts at the committed offset (or the log's start).
          st.committed = offset;
          this.#entries.push({ type: 'start', partition: key, offset });
        }
        if (this.#inFlight(st) >= this.#cfg.maxInFlightPerPartition) {
          st.pausedInFlight = true;
          this.#consumer.pause(tp);
          return; // the rest of the batch is fetched again on resume
        }
        const origin: Origin = { kind: 'kafka', partition: key, offset, topic: batch.topic, kafkaPartition: batch.partition };
        this.#entries.push({ type: 'item', partition: key, item: decodeRecord(message.value, origin, this.#decode) });
        this.#items++;
        st.next = offset + 1;
        resolveOffset(message.offset);
        this.#wake();
      }
    } finally {
      if (pausedForRoom && !st.pausedInFlight && !this.#stopped && this.#owned.get(key) === st) this.#consumer.resume(tp);
    }
    await heartbeat();
  }

  /** Open the settle gate when the group is settled, or check again when the start-up window ends. */
  #checkSettled(): void {
    clearTimeout(this.#settleTimer);
    if (this.#rebalancing) return;
    const wait = this.#settleUntil - Date.now();
    if (wait > 0) {
      this.#settleTimer = setTimeout(() => this.#checkSettled(), wait);
      return;
    }
    this.#unsettled?.open();
    this.#unsettled = undefined;
  }

  async #run(): Promise<void> {
    await this.#consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.#onBatch(p) });
    this.#running = true;
  }

  /**
   * kafkajs gives up on a consumer for good after some failures it counts as not retriable although
   * they pass (the group coordinator not found while a broker restarts, measured in the broker-restart
   * test under load): the consumer is connected and run again here, with a growing pause, up to
   * MAX_SELF_RESTARTS times in the process's life; after that, or when stopped, the source fails.
   */
  async #restartConsumer(cause: Error): Promise<void> {
    this.#selfRestarts++;
    this.#logger.warn('kafka consumer stopped by an error kafkajs does not retry; restarting it', { groupId: this.#cfg.groupId, error: errorMessage(cause), attempt: this.#selfRestarts });
    for (let attempt = 1; !this.#stopped; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** (attempt - 1))));
      if (this.#stopped) return;
      try {
        await this.#consumer.connect();
        await this.#run();
        return;
      } catch (e) {
        if (attempt >= 8) {
          this.#fatal ??= new GemflowError('kafka_consumer_failed', `Kafka consumer of group ${this.#cfg.groupId} failed (${errorMessage(cause)}) and could not be restarted: ${errorMessage(e)}`, { cause: e });
          this.#wake();
          return;
        }
      }
    }
  }

  #inFlight(st: OwnedPartition): number {
    return st.next === undefined || st.committed === undefined ? 0 : st.next - st.committed;
  }

  #stopFetching(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      if (this.#running) this.#consumer.pause(this.#cfg.topics.map((topic) => ({ topic })));
    } catch {
      // kafkajs stopped the group meanwhile (a crash): nothing is fetched anyway. (Thrown here, in
      // read()'s finally, it would replace the error the read is failing with.)
    }
    this.#wake();
  }

  /** Resolves on the next #wake() (buffer changed, abort, failure) or after `ms`. */
  #waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** A promise and the function that resolves it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((res) => (open = res));
  return { promise, open };
}

/** Most restarts of a consumer kafkajs gave up on (#restartConsumer), per process. */
const MAX_SELF_RESTARTS = 20;

/**
 * A crash kafkajs does not restart from, but that passes once the brokers are back: the group
 * coordinator not found or not available, a broker connection lost. Anything else (authorization,
 * a topic that does not exist, a bad config) stays fatal.
 */
export function isTransientCrash(e: unknown): boolean {
  const type = kafkaErrorType(e);
  if (type && ['COORDINATOR_NOT_AVAILABLE', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'NOT_COORDINATOR_FOR_GROUP', 'COORDINATOR_LOAD_IN_PROGRESS', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'REQUEST_TIMED_OUT'].includes(type)) return true;
  for (let cur = e as { name?: unknown; message?: unknown; cause?: unknown; originalError?: unknown } | undefined, depth = 0; cur && depth < 5; depth++) {
    if (cur.name === 'KafkaJSConnectionError' || cur.name === 'KafkaJSGroupCoordinatorNotFound' || cur.name === 'KafkaJSBrokerNotFound') return true;
    if (typeof cur.message === 'string' && /group coordinator|ECONNREFUSED|Connection (error|timeout)|Closed connection/i.test(cur.message)) return true;
    cur = (cur.cause ?? cur.originalError) as typeof cur;
  }
  return false;
}

/** The Kafka protocol error type (e.g. "REBALANCE_IN_PROGRESS") behind a kafkajs error, if any. */
function kafkaErrorType(e: unknown): string | undefined {
  for (let cur = e as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined, depth = 0; cur && depth < 5; depth++) {
    if (typeof cur.type === 'string') return cur.type;
    cur = (cur.cause ?? cur.originalError) as typeof cur;
  }
  return undefined;
}
