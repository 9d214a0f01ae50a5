import { mkdir, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fsyncDir, writeFileDurable } from './durable-file.js';
import { RUNS_DIR, localManifestReader, publishRun, type ManifestStore, type RunManifest } from './manifest.js';
import {
  DATA_DIR,
  DEAD_LETTERS_PATH,
  INDEX_DIR,
  INDEX_SUFFIX,
  LEGACY_DEAD_LETTERS_PATH,
  LEGACY_MANIFEST_PATH,
  LEGACY_SHARDS_DIR,
  MANIFEST_PATH,
  SHARD_SUFFIXES,
  STATE_DIR,
  TMP_DIR,
  TMP_SUFFIX,
  readShardIndex,
  shardFormatOf,
  scanOutputDir,
  scanShardDir,
  shardSuffixOf,
  type ShardIndex,
} from './shard-index.js';
import type { ListedShard, ShardStore } from './shard-store.js';
import type { ShardInfo } from './types.js';
import { isDeadWritersFile } from './writer-tag.js';

/**
 * Shards in a local directory laid out as a dataset (see shard-index.ts): `<dir>/data/<name>.parquet`
 * (or `.arrow`), its index `<dir>/_gemflow/index/<name>.docs.json`. A shard is published as: index
 * written durably (tmp + fsync + rename + fsync its directory), then the fsynced temp file
 * (`_gemflow/tmp/`) renamed to its final name in `data/`, then `data/` fsynced; so a shard that exists
 * always has its index, and an index without its shard is left over from a crash between the two.
 * Runs are recorded as `<dir>/_runs/<runId>.json` and merged into `<dir>/_gemflow/manifest.json`
 * (see manifest.ts).
 */
export class LocalShardStore implements ShardStore {
  readonly tmpDir: string;
  readonly #dir: string;
  readonly #dataDir: string;
  readonly #indexDir: string;

  constructor(dir: string) {
    this.#dir = dir;
    this.tmpDir = join(dir, TMP_DIR);
    this.#dataDir = join(dir, DATA_DIR);
    this.#indexDir = join(dir, INDEX_DIR);
  }

  async open(staleBefore: number): Promise<void> {
    for (const d of [this.tmpDir, this.#dataDir, this.#indexDir]) await mkdir(d, { recursive: true });
    // First finish moving an older layout (also one a crash left half-moved), then clean up.
    await migrateLegacyLayout(this.#dir, staleBefore);
    const listing = await scanShardDir(this.#dataDir, this.#indexDir, this.tmpDir);
    const stale: string[] = [];
    for (const path of listing.orphanIndexes) {
      const st = await stat(path).catch(() => undefined);
      if (st && st.mtimeMs < staleBefore) stale.push(path);
    }
    stale.push(...(await staleTmpFiles(listing.tmpFiles, staleBefore)));
    for (const path of stale) await unlink(path).catch(() => {});
    if (stale.length > 0) for (const d of [this.tmpDir, this.#dataDir, this.#indexDir]) await fsyncDir(d);
    // Temp files of manifest and card writes (a crash between write and rename).
    for (const dir of [join(this.#dir, STATE_DIR), join(this.#dir, RUNS_DIR), this.#dir]) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const tmps = names.filter((n) => n.endsWith(TMP_SUFFIX)).map((n) => join(dir, n));
      for (const path of await staleTmpFiles(tmps, staleBefore)) await unlink(path).catch(() => {});
    }
  }

  async publish(tmpPath: string, index: ShardIndex): Promise<string> {
    const path = join(this.#dataDir, index.name + SHARD_SUFFIXES[index.format ?? 'parquet']);
    await writeFileDurable(join(this.#indexDir, index.name + INDEX_SUFFIX), JSON.stringify(index));
    await rename(tmpPath, path);
    await fsyncDir(this.#dataDir);
    return path;
  }

  async indexes(): Promise<ShardIndex[]> {
    const out: ShardIndex[] = [];
    for (const s of await this.listShardIndexes()) out.push(await s.readIndex());
    return out;
  }

  async listShardIndexes(): Promise<ListedShard[]> {
    return (await scanShardDir(this.#dataDir, this.#indexDir)).shards.map((s) => ({ name: s.name, format: shardFormatOf(s.dataPath) ?? 'parquet', readIndex: () => readShardIndex(s.indexPath) }));
  }

  /** The run as `_runs/<runId>.json`, then the merged `_gemflow/manifest.json` (see manifest.ts). */
  publishRun(manifest: RunManifest): Promise<{ path: string; merged: RunManifest }> {
    return publishRun(this.manifestStore(), manifest);
  }

  /** Write a file of the output (the dataset card, `.huggingface.yaml`) durably; `rel` is relative to the output. */
  async putFile(rel: string, data: string): Promise<string> {
    const path = join(this.#dir, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFileDurable(path, data);
    return path;
  }

  /** The output's manifest files (see manifest.ts). */
  manifestStore(): ManifestStore {
    const reader = localManifestReader(this.#dir, () => this.listShards());
    return {
      ...reader,
      putRun: async (runId, text) => {
        await mkdir(join(this.#dir, RUNS_DIR), { recursive: true });
        await writeFileDurable(join(this.#dir, RUNS_DIR, `${runId}.json`), text);
      },
      putMerged: async (text) => {
        const path = join(this.#dir, MANIFEST_PATH);
        await mkdir(join(this.#dir, STATE_DIR), { recursive: true });
        await writeFileDurable(path, text);
        return path;
      },
    };
  }

  /** Every complete shard in the directory, from its index (bytes: the index's record of the file size). */
  async listShards(): Promise<ShardInfo[]> {
    return localShardInfos(this.#dir);
  }
}

/** ShardInfo of every complete shard in a local output directory (either layout); unreadable indexes are skipped. */
export async function localShardInfos(dir: string): Promise<ShardInfo[]> {
  const out: ShardInfo[] = [];
  for (const s of (await scanOutputDir(dir)).shards) {
    const index = await readShardIndex(s.indexPath).catch(() => undefined);
    if (index) out.push({ path: s.dataPath, rows: index.rows, bytes: index.bytes, partition: index.partition, firstOffset: index.firstOffset, lastOffset: index.lastOffset });
  }
  return out;
}

/**
 * Move an output written in the legacy layout (`shards/` with indexes beside the Parquet files,
 * `manifest.json` and `dead-letters.jsonl` at the top) into the dataset layout. Each shard's index
 * moves before its data file, so a shard visible in `data/` always has its index; the moves are
 * renames, and a crash part-way leaves files that the next open() moves on (it runs this before any
 * cleanup). Temp files of the old layout are deleted under the same rule as new ones.
 */
async function migrateLegacyLayout(dir: string, staleBefore: number): Promise<void> {
  const legacy = join(dir, LEGACY_SHARDS_DIR);
  const names = await readdir(legacy).catch(() => undefined);
  if (names) {
    const dataDir = join(dir, DATA_DIR);
    const indexDir = join(dir, INDEX_DIR);
    for (const n of names.filter((x) => x.endsWith(INDEX_SUFFIX))) await rename(join(legacy, n), join(indexDir, n));
    if (names.some((x) => x.endsWith(INDEX_SUFFIX))) await fsyncDir(indexDir);
    for (const n of names.filter((x) => shardSuffixOf(x) && !x.endsWith(TMP_SUFFIX))) await rename(join(legacy, n), join(dataDir, n));
    await fsyncDir(dataDir);
    for (const path of await staleTmpFiles(names.filter((x) => x.endsWith(TMP_SUFFIX)).map((x) => join(legacy, x)), staleBefore)) await unlink(path).catch(() => {});
    await rmdir(legacy).catch(() => {}); // kept while a live legacy writer's temp file is in it
  }
  for (const [from, to] of [
    [LEGACY_MANIFEST_PATH, MANIFEST_PATH],
    [LEGACY_DEAD_LETTERS_PATH, DEAD_LETTERS_PATH],
  ] as const) {
    const exists = await stat(join(dir, from)).then(() => true, () => false);
    if (!exists) continue;
    await mkdir(join(dir, STATE_DIR), { recursive: true });
    // A file already at the new place was written after a migration: the legacy one is then left alone.
    if (await stat(join(dir, to)).then(() => true, () => false)) continue;
    await rename(join(dir, from), join(dir, to));
    await fsyncDir(join(dir, STATE_DIR));
    await fsyncDir(dir);
  }
}

/**
 * Temp files that no live writer can own: older than `staleBefore`, or named with the tag of a
 * writer on this host that is gone (see writer-tag.ts).
 */
async function staleTmpFiles(paths: string[], staleBefore: number): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    if (isDeadWritersFile(basename(path))) {
      out.push(path);
      continue;
    }
    const st = await stat(path).catch(() => undefined);
    if (st && st.mtimeMs < staleBefore) out.push(path);
  }
  return out;
}
