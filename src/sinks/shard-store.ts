import type { ManifestStore, RunManifest } from './manifest.js';
import type { ShardFormat, ShardIndex } from './shard-index.js';

/**
 * Where ParquetShardSink puts finished shards: a local directory (LocalShardStore) or object storage
 * (S3ShardStore). The sink writes every shard to a local `.tmp` file in `tmpDir`; the store makes it
 * durable under its final name. Whatever the store, a shard that is visible always has its index, so
 * the documents a reader can see are exactly those writtenDocs() reports.
 */

/** A complete shard in a listing: its name, and its index, read only when asked. */
export interface ListedShard {
  name: string;
  /** The data file's format, from its suffix (no read). */
  format: ShardFormat;
  readIndex(): Promise<ShardIndex>;
}
export interface ShardStore {
  /** Local directory for the sink's `.tmp` shard files. */
  readonly tmpDir: string;
  /**
   * Create what is missing and delete leftovers of crashed writers: unfinished files and uploads,
   * indexes without their shard, older than `staleBefore` (epoch ms); and local temp files whose name
   * carries the tag of a dead writer on this host (isDeadWritersFile), whatever their age. Other
   * younger ones may belong to a live peer sharing the output, and are never visible as shards anyway.
   */
  open(staleBefore: number): Promise<void>;
  /**
   * Make the finished local file `tmpPath` durable as shard `index.name` together with its index, and
   * return the shard's final path or URL. The tmp file is consumed (moved or deleted) on success.
   */
  publish(tmpPath: string, index: ShardIndex): Promise<string>;
  /** Indexes of the complete shards (shard and index both present). */
  indexes(): Promise<ShardIndex[]>;
  /** The complete shards by name, sorted; listing reads no index (see parseShardName for what a name says). */
  listShardIndexes(): Promise<ListedShard[]>;
  /**
   * Record a finished run (after every shard): its own run file, then the merged manifest.json (see
   * manifest.ts publishRun). Returns the merged manifest's path or URL and its content.
   */
  publishRun(manifest: RunManifest): Promise<{ path: string; merged: RunManifest }>;
  /** The run files and merged manifest of the output (manifest.ts). */
  manifestStore(): ManifestStore;
  /** Write a file of the output (the dataset card) whole, replacing it; `rel` is relative to the output. Returns its path or URL. */
  putFile(rel: string, data: string): Promise<string>;
}
