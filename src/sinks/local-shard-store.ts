import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileDurable } from './durable-file.js';
import { writeManifest, type RunManifest } from './manifest.js';
import { INDEX_SUFFIX, PARQUET_SUFFIX, SHARDS_SUBDIR, readShardIndex, scanShardDir, type ShardIndex } from './shard-index.js';
import type { ShardStore } from './shard-store.js';

/**
 * Shards in a local directory, `<dir>/shards/<name>.parquet` beside `<name>.docs.json`. A shard is
 * published as: index written durably (tmp + fsync + rename), then the fsynced `.tmp` shard renamed to
 * its final name, then the directory fsynced; so a shard that exists always has its index, and an index
 * without its shard is left over from a crash between the two renames. The manifest is `<dir>/manifest.json`.
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
    for (const path of [...listing.tmpFiles, ...listing.orphanIndexes]) {
      const st = await stat(path).catch(() => undefined);
      if (st && st.mtimeMs < staleBefore) stale.push(path);
    }
    for (const path of stale) await unlink(path).catch(() => {});
    if (stale.length > 0) await fsyncDir(this.tmpDir);
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
    for (const s of (await scanShardDir(this.tmpDir)).shards) out.push(await readShardIndex(s.indexPath));
    return out;
  }

  writeManifest(manifest: RunManifest): Promise<string> {
    return writeManifest(this.#dir, manifest);
  }
}
