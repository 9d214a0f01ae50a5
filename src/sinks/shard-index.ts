import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { GemflowError, errorMessage } from '../errors.js';

/**
 * The sidecar index written next to every Parquet shard (`<name>.docs.json`): which documents the
 * shard holds. It is renamed into place just before the shard itself, so a shard that exists always
 * has its index; an index without its shard is left over from a crash between the two renames.
 */

export const SHARDS_SUBDIR = 'shards';
export const PARQUET_SUFFIX = '.parquet';
export const INDEX_SUFFIX = '.docs.json';
export const TMP_SUFFIX = '.tmp';

const ShardIndexDoc = z.object({
  partition: z.string(),
  offset: z.number().int().min(0),
  documentId: z.string(),
  /** Rows (trajectories) of this document in the shard. */
  rows: z.number().int().min(0),
});

export const ShardIndex = z.object({
  version: z.literal(1),
  /** File name without suffix: `<partitionSlug>-<firstOffset>-<lastOffset>-<hash8>`. */
  name: z.string(),
  partition: z.string(),
  firstOffset: z.number().int().min(0),
  lastOffset: z.number().int().min(0),
  rows: z.number().int().min(0),
  /** Size of the Parquet file. */
  bytes: z.number().int().min(0),
  docs: z.array(ShardIndexDoc),
});
export type ShardIndex = z.infer<typeof ShardIndex>;
export type ShardIndexDoc = z.infer<typeof ShardIndexDoc>;

export interface ShardDirListing {
  /** Complete shards: the Parquet file and its index, sorted by name. */
  shards: { name: string; parquetPath: string; indexPath: string }[];
  /** Indexes whose Parquet file does not exist (crash between the two renames). */
  orphanIndexes: string[];
  /** Parquet files without an index (not written by this sink, or the index was removed). */
  unindexedParquet: string[];
  /** Unfinished writes (`*.tmp`). */
  tmpFiles: string[];
}

/** What is in a shards directory; a missing directory is empty. */
export async function scanShardDir(shardsDir: string): Promise<ShardDirListing> {
  let names: string[];
  try {
    names = await readdir(shardsDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { shards: [], orphanIndexes: [], unindexedParquet: [], tmpFiles: [] };
    throw e;
  }
  const present = new Set(names);
  const out: ShardDirListing = { shards: [], orphanIndexes: [], unindexedParquet: [], tmpFiles: [] };
  for (const n of names.sort()) {
    const path = join(shardsDir, n);
    if (n.endsWith(TMP_SUFFIX)) out.tmpFiles.push(path);
    else if (n.endsWith(INDEX_SUFFIX)) {
      const base = n.slice(0, -INDEX_SUFFIX.length);
      if (present.has(base + PARQUET_SUFFIX)) out.shards.push({ name: base, parquetPath: join(shardsDir, base + PARQUET_SUFFIX), indexPath: path });
      else out.orphanIndexes.push(path);
    } else if (n.endsWith(PARQUET_SUFFIX) && !present.has(n.slice(0, -PARQUET_SUFFIX.length) + INDEX_SUFFIX)) {
      out.unindexedParquet.push(path);
    }
  }
  return out;
}

/**
 * The tag that ends a shard name's partition part: 6 hex of sha256 of the partition string. With the
 * offset range in the name it lets a reader pick a partition's shards from a listing, reading no index.
 */
export function partitionTag(partition: string): string {
  return createHash('sha256').update(partition).digest('hex').slice(0, 6);
}

/** What a shard's name says: `<readable>-<partitionTag>-<firstOffset 12>-<lastOffset 12>-<hash8>`. */
export interface ShardName {
  partitionTag: string;
  firstOffset: number;
  lastOffset: number;
}

const SHARD_NAME = /-([0-9a-f]{6})-(\d{12})-(\d{12})-[0-9a-f]{8}$/;

/** Parse a shard name (without suffix); undefined when it is not one this sink writes. */
export function parseShardName(name: string): ShardName | undefined {
  const m = SHARD_NAME.exec(name);
  return m ? { partitionTag: m[1]!, firstOffset: Number(m[2]), lastOffset: Number(m[3]) } : undefined;
}

/** Read and check one sidecar index; `shard_index_invalid` when it is not one. */
export async function readShardIndex(path: string): Promise<ShardIndex> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new GemflowError('shard_index_invalid', `cannot read shard index ${path}: ${errorMessage(e)}`, { cause: e });
  }
  const r = ShardIndex.safeParse(parsed);
  if (!r.success) throw new GemflowError('shard_index_invalid', `shard index ${path} is malformed: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}
