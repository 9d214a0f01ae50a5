import { createHash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SinkConfig } from '../config/schema.js';
import { originKey, type Origin } from '../envelope.js';
import { GemflowError, errorMessage, isGemflowError } from '../errors.js';
import { LocalShardStore } from './local-shard-store.js';
import { getRunRecord, putRunRecord, type RunManifest } from './manifest.js';
import { addStats, toParquetRow, type StatHistogram } from './output-columns.js';
import { ParquetShardWriter } from './parquet-shard-writer.js';
import { stringify } from 'yaml';
import { datasetCardFiles, datasetConfig } from './dataset-card.js';
import { DATASET_CONFIG_PATH, SHARD_SUFFIXES, TMP_SUFFIX, parseShardName, partitionTag, type ShardIndex, type ShardIndexDoc } from './shard-index.js';
import type { ShardStore } from './shard-store.js';
import type { OutputRow, ShardInfo, ShardSink } from './types.js';
import { uniqueTmpPart } from './writer-tag.js';

export interface ParquetShardSinkOptions {
  /** Clock used for shard age (maxAgeMs); Date.now by default. */
  now?: () => number;
  /** Where finished shards go; default: the local directory config.dir (LocalShardStore). */
  store?: ShardStore;
}

/** What writes one shard file: ParquetShardWriter or ArrowShardWriter. */
interface ShardFileWriter {
  appendRow(values: Record<string, unknown>, approxBytes: number): Promise<void>;
  close(): Promise<void>;
}

/** A shard being written: a `.tmp` Parquet or Arrow file plus what will go into its index. */
interface OpenShard {
  partition: string;
  slug: string;
  tmpPath: string;
  fh: FileHandle;
  writer: ShardFileWriter;
  /** Bytes handed to the file so far (the file's size once the writer is closed). */
  bytes: number;
  rows: number;
  approxBytes: number;
  openedAt: number;
  /** Closed by tick() once this old: sink.maxAgeMs, or firstShardMaxAgeMs for a partition's first shard. */
  maxAgeMs: number;
  docs: ShardIndexDoc[];
  origins: Origin[];
  /** Histograms of the statistic columns, for the index. */
  stats: Record<string, StatHistogram>;
}

/** One source partition: its open shard, and the tail of the queue that serializes its operations. */
interface Lane {
  tail: Promise<void>;
  shard?: OpenShard;
  /** Bumped by discard(): a shard finished under an older epoch is never published. */
  epoch: number;
  /** discard() calls whose operation has not run yet: a shard finished meanwhile is dropped at once. */
  pendingDiscards: number;
  /** Resolves at the next discard() of the partition (ends a wait for the publish permit). */
  discarded: Promise<void>;
  onDiscard: () => void;
  /** The store's publish of one of this partition's shards, while it runs (past the permit: it will be visible). */
  publishing?: Promise<unknown>;
  /** The partition is new to this sink or was discarded: its next shard closes after firstShardMaxAgeMs. */
  fresh: boolean;
}

/**
 * Writes output rows to shards (`sink.format`: Parquet, or Arrow IPC files), one open shard per source
 * partition, and hands finished shards to a ShardStore: `<dir>/data/` by default (see shard-index.ts
 * for the layout), or object storage (s3-shard-sink.ts).
 *
 * A document's rows go into one shard: the shard is rolled before a document that would take it past
 * maxRows or maxBytes (bytes approximated from the rows' string lengths), right after a document
 * that fills it, and by tick() once it is older than maxAgeMs. A shard is written to a local
 * `.tmp` file, closed and fsynced, then published by the store (locally: index `<name>.docs.json`
 * tmp+fsync+rename -> rename to `data/<name>.parquet` (or `.arrow`) -> fsync the directory), and only then are its
 * documents passed to onDurable.
 * Names come from what a shard holds (partition, offset range, hash of the offsets), so a replay of
 * the same documents rewrites the same file.
 *
 * Memory per open shard is one row group (rowGroupRows rows, at most ~rowGroupBytes of values) plus one small entry per document.
 * Operations on one partition run one after another; a caller's `await writeDoc` is its
 * backpressure. Any I/O failure makes the sink unusable (`sink_write_failed` on every later call):
 * documents already accepted can no longer become durable, so the run must stop and replay them.
 * One sink instance owns a directory: open() deletes unfinished files left by a crash. onDurable must
 * not throw (a throw counts as a sink failure).
 */
export class ParquetShardSink implements ShardSink {
  onDurable: (origins: Origin[]) => void = () => {};
  publishPermit?: () => Promise<boolean>;

  readonly #config: SinkConfig;
  readonly #store: ShardStore;
  readonly #now: () => number;
  readonly #lanes = new Map<string, Lane>();
  readonly #written: ShardInfo[] = [];
  #opened = false;
  #closed = false;
  #failure: GemflowError | undefined;

  constructor(config: SinkConfig, opts: ParquetShardSinkOptions = {}) {
    this.#config = config;
    this.#store = opts.store ?? new LocalShardStore(config.dir);
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Prepare the store and delete what a crash left behind (`.tmp` files, unfinished uploads, orphan
   * indexes). Several workers of one consumer group may share an output, so a leftover is deleted when
   * it is certainly not a live writer's: its name carries the tag of a process on this host that is
   * gone (see writer-tag.ts: a kill -9 followed by a restart cleans up at once), or it is untouched for
   * longer than any live shard stays open (2 x maxAgeMs, at least 10 minutes: another host's). Younger
   * ones of live or unknown writers are left alone. Leftovers are never visible as shards either way.
   */
  async open(): Promise<void> {
    await this.#store.open(Date.now() - Math.max(2 * this.#config.maxAgeMs, 10 * 60_000));
    // One output holds one format (its dataset config names one): shards of another format beside them would
    // hide rows from `datasets` and break `pyarrow.dataset(dir)`. The listing's file names say what is there (no index is read).
    const [first] = await this.#store.listShardIndexes();
    const existing = first?.format;
    if (existing !== undefined && existing !== this.#config.format) {
      throw new GemflowError(
        'sink_format_mismatch',
        `${this.#config.dir} holds ${existing} shards and this run writes ${this.#config.format} (sink.format): one output holds one format. ` +
          `Write to another sink.dir, or set sink.format: ${existing}`,
        { detail: { dir: this.#config.dir, existing, configured: this.#config.format } },
      );
    }
    // The dataset config first, so `datasets.load_dataset(<output>)` reads only data/ from the first shard on.
    await this.#store.putFile(DATASET_CONFIG_PATH, stringify(datasetConfig(this.#config.format)));
    this.#opened = true;
  }

  /**
   * Offsets at or above `from.get(partition)` of the documents of each partition durable in the output.
   * The shard names say which partition and offset range each holds, so only the indexes of shards
   * that reach `from` are read: what is below a committed position is never looked at again. An index
   * whose shard is missing is not listed (open() deletes those; here one may be a shard being finished).
   */
  async writtenDocs(from: ReadonlyMap<string, number>): Promise<Map<string, Set<number>>> {
    const out = new Map<string, Set<number>>();
    if (from.size === 0) return out;
    // A shard of ours already on its way to the store (e.g. when a partition is lost and regained at
    // once: a consumer restart) becomes visible after the listing below: wait for it first.
    await Promise.all([...from.keys()].map((p) => this.#lanes.get(p)?.publishing?.catch(() => {})));
    const byTag = new Map<string, string[]>();
    for (const p of from.keys()) {
      out.set(p, new Set());
      const tag = partitionTag(p);
      byTag.set(tag, [...(byTag.get(tag) ?? []), p]);
    }
    for (const shard of await this.#store.listShardIndexes()) {
      const n = parseShardName(shard.name);
      // A name this sink did not make says nothing: its index is read.
      if (n && !(byTag.get(n.partitionTag) ?? []).some((p) => n.lastOffset >= from.get(p)!)) continue;
      const index = await shard.readIndex();
      const min = from.get(index.partition);
      if (min === undefined || index.lastOffset < min) continue;
      const set = out.get(index.partition)!;
      for (const d of index.docs) if (d.partition === index.partition && d.offset >= min) set.add(d.offset);
    }
    return out;
  }

  async writeDoc(origin: Origin, rows: OutputRow[]): Promise<void> {
    this.#checkUsable();
    if (rows.length === 0) throw new GemflowError('sink_no_rows', `document ${originKey(origin)} has no rows to write`);
    // Convert and check every row before touching the shard, so a bad row leaves no partial document.
    const converted = rows.map(toParquetRow);
    const approxBytes = converted.reduce((n, r) => n + r.approxBytes, 0);
    const lane = this.#lane(origin.partition);
    await this.#enqueue(lane, async () => {
      const { maxRows, maxBytes } = this.#config;
      if (lane.shard && (lane.shard.rows + rows.length > maxRows || lane.shard.approxBytes + approxBytes > maxBytes)) await this.#finish(lane);
      if (!lane.shard) {
        lane.shard = await this.#openShard(origin);
        // Kafka only: a file source is never reassigned, and its shards keep the composition (and names) they have on a replay.
        if (lane.fresh && origin.kind === 'kafka') lane.shard.maxAgeMs = Math.min(this.#config.firstShardMaxAgeMs ?? Infinity, this.#config.maxAgeMs);
        lane.fresh = false;
      }
      const shard = lane.shard;
      for (const r of converted) await shard.writer.appendRow(r.values, r.approxBytes);
      for (const r of rows) addStats(shard.stats, r);
      shard.rows += rows.length;
      shard.approxBytes += approxBytes;
      shard.docs.push({ partition: origin.partition, offset: origin.offset, documentId: rows[0]!.documentId, rows: rows.length });
      shard.origins.push(origin);
      if (shard.rows >= maxRows || shard.approxBytes >= maxBytes) await this.#finish(lane);
    });
  }

  async tick(): Promise<void> {
    if (this.#closedCleanly()) return;
    this.#checkUsable();
    const old = (lane: Lane) => lane.shard !== undefined && this.#now() - lane.shard.openedAt >= lane.shard.maxAgeMs;
    await Promise.all(
      [...this.#lanes.values()].filter(old).map((lane) => this.#enqueue(lane, async () => (old(lane) ? this.#finish(lane) : undefined))),
    );
  }

  async flush(): Promise<void> {
    if (this.#closedCleanly()) return;
    this.#checkUsable();
    await this.#finishAll();
  }

  /**
   * Drop the open shards of `partitions` (the source lost them in a rebalance): their documents were
   * never reported durable, and the partitions' new owner replays them, so finishing these shards
   * would write those documents twice. Operations already queued for a partition run first.
   */
  async discard(partitions: string[]): Promise<void> {
    if (this.#closed) return;
    const lanes = partitions.map((p) => this.#lanes.get(p)).filter((lane) => lane !== undefined);
    // A shard of these partitions finished but waiting for its publish permit is deleted, not published.
    for (const lane of lanes) {
      lane.fresh = true;
      lane.epoch++;
      lane.pendingDiscards++;
      lane.onDiscard();
      Object.assign(lane, discardSignal());
    }
    await Promise.all(
      lanes.map((lane) =>
        this.#enqueue(lane, async () => {
          lane.pendingDiscards--;
          const shard = lane.shard;
          lane.shard = undefined;
          if (!shard) return;
          // Closing lets the writer settle its pending writes; the file is deleted whatever the outcome.
          await shard.writer.close().catch(() => {});
          await discard(shard);
        }),
      ),
    );
  }

  /**
   * Refuse new writes, finish every open shard, release everything. After a failure, open shards
   * are discarded (their documents were never reported durable) and the failure is thrown.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.#failure) await this.#finishAll();
    } finally {
      await Promise.all([...this.#lanes.values()].map((lane) => lane.tail));
      for (const lane of this.#lanes.values()) if (lane.shard) await discard(lane.shard);
      this.#lanes.clear();
    }
    if (this.#failure) throw this.#failure;
  }

  shards(): ShardInfo[] {
    return [...this.#written];
  }

  /**
   * Record the run beside the shards (call after close(), so it comes last): its own run file, then
   * the merged manifest, then the dataset card rebuilt from it; returns the manifest's path or URL.
   * See manifest.ts and dataset-card.ts.
   */
  async writeManifest(manifest: RunManifest): Promise<string> {
    return (await this.publishRun(manifest)).path;
  }

  /** Write (or replace) one run's own record alone (a provisional one while it runs; see RunManifest.provisional). */
  async putRunRecord(manifest: RunManifest & { runId: string }): Promise<void> {
    await putRunRecord(this.#store.manifestStore(), manifest);
  }

  /** One run's record; undefined when there is none. */
  async getRunRecord(runId: string): Promise<RunManifest | undefined> {
    return getRunRecord(this.#store.manifestStore(), runId);
  }

  /** writeManifest, returning the merged view (every run, every shard of the output) too. */
  async publishRun(manifest: RunManifest): Promise<{ path: string; merged: RunManifest }> {
    const published = await this.#store.publishRun(manifest);
    const name = this.#config.dir.replace(/\/+$/, '').split('/').pop() || 'gemflow-output';
    const files = datasetCardFiles({ name, format: this.#config.format, manifest: published.merged, indexes: await this.#store.indexes() });
    for (const [rel, text] of Object.entries(files)) await this.#store.putFile(rel, text);
    return published;
  }

  /** Closed without failure: tick() and flush() have nothing left to do (a late timer is harmless). */
  #closedCleanly(): boolean {
    return this.#closed && !this.#failure;
  }

  /** Finish the open shard of every partition, after the operations already queued for it. */
  async #finishAll(): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((lane) => this.#enqueue(lane, async () => (lane.shard ? this.#finish(lane) : undefined))));
  }

  #checkUsable(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new GemflowError('sink_closed', 'the Parquet sink is closed');
    if (!this.#opened) throw new GemflowError('sink_not_open', 'open() the Parquet sink before writing');
  }

  #lane(partition: string): Lane {
    let lane = this.#lanes.get(partition);
    if (!lane) this.#lanes.set(partition, (lane = { tail: Promise.resolve(), epoch: 0, pendingDiscards: 0, fresh: true, ...discardSignal() }));
    return lane;
  }

  /** Run `op` after the lane's earlier operations; a failure of `op` fails the whole sink. */
  #enqueue(lane: Lane, op: () => Promise<void>): Promise<void> {
    const run = lane.tail.then(async () => {
      if (this.#failure) throw this.#failure;
      try {
        await op();
      } catch (e) {
        this.#failure ??= new GemflowError('sink_write_failed', `Parquet sink failed: ${errorMessage(e)}`, {
          cause: e,
          retriable: isGemflowError(e) && e.retriable,
        });
        throw this.#failure;
      }
    });
    lane.tail = run.catch(() => {});
    return run;
  }

  async #openShard(origin: Origin): Promise<OpenShard> {
    const slug = partitionSlug(origin);
    const tmpPath = join(this.#store.tmpDir, `${slug}.${uniqueTmpPart()}${SHARD_SUFFIXES[this.#config.format]}${TMP_SUFFIX}`);
    const fh = await open(tmpPath, 'wx');
    // Every field but the writer: creating the writer already writes the file header through `write`.
    const shard = { partition: origin.partition, slug, tmpPath, fh, bytes: 0, rows: 0, approxBytes: 0, openedAt: this.#now(), maxAgeMs: this.#config.maxAgeMs, docs: [], origins: [], stats: {} } as Omit<OpenShard, 'writer'> as OpenShard;
    let pending: Promise<unknown> = Promise.resolve();
    // File sections are written in the order they are handed over; returning the chain itself means a
    // failure is seen by the next awaited write.
    const write = (buf: Buffer): Promise<unknown> => {
      const pos = shard.bytes;
      shard.bytes += buf.length;
      return (pending = pending.then(() => writeAll(fh, buf, pos)));
    };
    const close = async (): Promise<void> => {
      try {
        await pending;
        await fh.sync();
      } finally {
        await fh.close();
      }
    };
    if (this.#config.format === 'arrow') {
      // apache-arrow is loaded only for Arrow shards (~0.3 s of CPU at every start otherwise).
      const { ArrowShardWriter } = await import('./arrow-shard-writer.js');
      const arrow = new ArrowShardWriter(write, this.#config.rowGroupRows, this.#config.rowGroupBytes);
      shard.writer = { appendRow: (v, b) => arrow.appendRow(v, b), close: async () => {
        try {
          await arrow.close();
        } finally {
          await close();
        }
      } };
      return shard;
    }
    const parquet = new ParquetShardWriter(write, this.#config.rowGroupRows, this.#config.compression, this.#config.rowGroupBytes);
    shard.writer = { appendRow: (v, b) => parquet.appendRow(v, b), close: async () => {
      try {
        await parquet.close();
      } finally {
        await close();
      }
    } };
    return shard;
  }

  /** Make the lane's shard durable under its final name, then report its documents. */
  async #finish(lane: Lane): Promise<void> {
    const shard = lane.shard!;
    lane.shard = undefined;
    const { epoch, discarded } = lane;
    try {
      await shard.writer.close();
    } catch (e) {
      await discard(shard);
      throw e;
    }
    // The source's fence (Kafka: no rebalance in progress, membership confirmed): a partition's former
    // owner never makes a shard visible once its new owner may have listed the partition's shards.
    // A shard finished while a discard of its partition is queued (a write queued before it) never
    // waits: the revocation that queued the discard is what the permit waits for.
    if (this.publishPermit || lane.epoch !== epoch || lane.pendingDiscards > 0) {
      const permitted = lane.epoch === epoch && lane.pendingDiscards === 0 && (await Promise.race([this.publishPermit?.() ?? true, discarded.then(() => false)]));
      if (!permitted || lane.epoch !== epoch || lane.pendingDiscards > 0) return discard(shard);
    }
    const offsets = shard.docs.map((d) => d.offset).sort((a, b) => a - b);
    const firstOffset = offsets[0]!;
    const lastOffset = offsets[offsets.length - 1]!;
    const hash8 = createHash('sha256').update(offsets.join(',')).digest('hex').slice(0, 8);
    const name = `${shard.slug}-${pad(firstOffset)}-${pad(lastOffset)}-${hash8}`;
    const index: ShardIndex = { version: 1, name, partition: shard.partition, firstOffset, lastOffset, rows: shard.rows, bytes: shard.bytes, format: this.#config.format, stats: shard.stats, docs: shard.docs };
    let path: string;
    const publishing = this.#store.publish(shard.tmpPath, index);
    lane.publishing = publishing;
    try {
      path = await publishing;
    } catch (e) {
      await unlink(shard.tmpPath).catch(() => {});
      throw e;
    } finally {
      if (lane.publishing === publishing) lane.publishing = undefined;
    }
    this.#written.push({ path, rows: shard.rows, bytes: shard.bytes, partition: shard.partition, firstOffset, lastOffset });
    this.onDurable(shard.origins);
  }
}

/**
 * Filesystem-safe, readable and unique name part for a partition: the file's basename or
 * `<topic>-<partition>`, plus 6 hex of sha256 of the full partition string (two files with the same
 * basename in different directories get different slugs).
 */
export function partitionSlug(origin: Origin): string {
  const readable = origin.kind === 'kafka' ? `${origin.topic}-${origin.kafkaPartition}` : basename(origin.partition);
  const safe = readable.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 64) || 'partition';
  return `${safe}-${partitionTag(origin.partition)}`;
}

const pad = (n: number) => String(n).padStart(12, '0');

async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, pos + done);
    done += bytesWritten;
  }
}

function discardSignal(): { discarded: Promise<void>; onDiscard: () => void } {
  let onDiscard!: () => void;
  const discarded = new Promise<void>((res) => (onDiscard = res));
  return { discarded, onDiscard };
}

/** Drop an unfinished shard: close its file (if still open) and delete it. */
async function discard(shard: OpenShard): Promise<void> {
  await shard.fh.close().catch(() => {});
  await unlink(shard.tmpPath).catch(() => {});
}
