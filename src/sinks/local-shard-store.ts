import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fsyncDir, writeFileDurable } from './durable-file.js';
import { MANIFEST_FILE_NAME, RUNS_DIR, localManifestReader, publishRun, type ManifestStore, type RunManifest } from './manifest.js';
import { INDEX_SUFFIX, PARQUET_SUFFIX, SHARDS_SUBDIR, TMP_SUFFIX, readShardIndex, scanShardDir, type ShardIndex } from './shard-index.js';
import type { ListedShard, ShardStore } from './shard-store.js';
import type { ShardInfo } from './types.js';
import { isDeadWritersFile } from './writer-tag.js';

/**
 * Shards in a local directory, `<dir>/shards/<name>.parquet` beside `<name>.docs.json`. A shard is
 * published as: index written durably (tmp + fsync + rename), then the fsynced `.tmp` shard renamed to
 * its final name, then the directory fsynced; so a shard that exists always has its index, and an index
 * without its shard is left over from a crash between the two renames. Runs are recorded as
 * `<dir>/_runs/<runId>.json` and merged into `<dir>/manifest.json` (see manifest.ts).
 */
export class LocalShardStore implements ShardStore {
  readonly tmpDir: string;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    this.tmpDir = join(dir, SHARDS_SUBDIR);
  }

  async open(staleBefore: number): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    const listing = await scanShardDir(this.tmpDir);
    const stale: string[] = [];
    for (const path of listing.orphanIndexes) {
      const st = await stat(path).catch(() => undefined);
      if (st && st.mtimeMs < staleBefore) stale.push(path);
    }
    stale.push(...(await staleTmpFiles(listing.tmpFiles, staleBefore)));
    for (const path of stale) await unlink(path).catch(() => {});
    if (stale.length > 0) await fsyncDir(this.tmpDir);
    // Temp files of manifest writes (a crash between write and rename).
    for (const dir of [this.#dir, join(this.#dir, RUNS_DIR)]) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const tmps = names.filter((n) => n.endsWith(TMP_SUFFIX) && (dir !== this.#dir || n.startsWith(`${MANIFEST_FILE_NAME}.`))).map((n) => join(dir, n));
      for (const path of await staleTmpFiles(tmps, staleBefore)) await unlink(path).catch(() => {});
    }
  }

  async publish(tmpPath: string, index: ShardIndex): Promise<string> {
    const path = join(this.tmpDir, index.name + PARQUET_SUFFIX);
    await writeFileDurable(join(this.tmpDir, index.name + INDEX_SUFFIX), JSON.stringify(index), { syncDir: false });
    await rename(tmpPath, path);
    await fsyncDir(this.tmpDir);
    return path;
  }

  async indexes(): Promise<ShardIndex[]> {
    const out: ShardIndex[] = [];
    for (const s of await this.listShardIndexes()) out.push(await s.readIndex());
    return out;
  }

  async listShardIndexes(): Promise<ListedShard[]> {
    return (await scanShardDir(this.tmpDir)).shards.map((s) => ({ name: s.name, readIndex: () => readShardIndex(s.indexPath) }));
  }

  /** The run as `_runs/<runId>.json`, then the merged `manifest.json` (see manifest.ts). */
  publishRun(manifest: RunManifest): Promise<{ path: string; merged: RunManifest }> {
    return publishRun(this.manifestStore(), manifest);
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
        const path = join(this.#dir, MANIFEST_FILE_NAME);
        await writeFileDurable(path, text);
        return path;
      },
    };
  }

  /** Every complete shard in the directory, from its index (bytes: the index's record of the file size). */
  async listShards(): Promise<ShardInfo[]> {
    return localShardInfos(this.tmpDir);
  }
}

/** ShardInfo of every complete shard in a local shards directory; unreadable indexes are skipped. */
export async function localShardInfos(shardsDir: string): Promise<ShardInfo[]> {
  const out: ShardInfo[] = [];
  for (const s of (await scanShardDir(shardsDir)).shards) {
    const index = await readShardIndex(s.indexPath).catch(() => undefined);
    if (index) out.push({ path: s.parquetPath, rows: index.rows, bytes: index.bytes, partition: index.partition, firstOffset: index.firstOffset, lastOffset: index.lastOffset });
  }
  return out;
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
