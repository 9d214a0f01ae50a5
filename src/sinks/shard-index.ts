import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { GemflowError, errorMessage } from '../errors.js';

/**
 * The output directory is a dataset: readers (pyarrow.dataset, pandas, `datasets.load_dataset`, DuckDB
 * globs) open it as it is. Data files live under `data/`; everything else under `_`- or `.`-prefixed
 * paths, which pyarrow skips and `datasets` is pointed away from by `.huggingface.yaml`:
 *
 *   .huggingface.yaml              dataset config (data_files: data/*, features), read by `datasets`
 *   data/<name>.parquet|.arrow     the shards
 *   _gemflow/index/<name>.docs.json which documents each shard holds (replay safety)
 *   _gemflow/tmp/                  shards being written (renamed into data/ when durable)
 *   _gemflow/manifest.json         the merged view of every run; _runs/<runId>.json: each run
 *   _gemflow/dead-letters.jsonl    dead letters (local sinks)
 *   _gemflow/card/README.md, *.svg the dataset card
 *   .gemflow/                      default stateDir (checkpoint, SQLite state)
 *
 * Every path of the layout is named here (and nowhere else), relative to the output directory.
 * Outputs written before (`shards/` with the indexes beside the Parquet files, `manifest.json` and
 * `dead-letters.jsonl` at the top) are migrated by the next run that opens them (LocalShardStore /
 * S3ShardStore.open) and read as they are by `gemflow stats`.
 *
 * The sidecar index of a shard (`<name>.docs.json`) is written durably just before the shard is renamed
 * into `data/`, so a shard that exists always has its index; an index without its shard is left over
 * from a crash between the two steps.
 */
export const DATA_DIR = 'data';
export const STATE_DIR = '_gemflow';
export const INDEX_DIR = `${STATE_DIR}/index`;
export const TMP_DIR = `${STATE_DIR}/tmp`;
export const CARD_DIR = `${STATE_DIR}/card`;
export const MANIFEST_PATH = `${STATE_DIR}/manifest.json`;
export const DEAD_LETTERS_PATH = `${STATE_DIR}/dead-letters.jsonl`;
export const DATASET_CONFIG_PATH = '.huggingface.yaml';
/** The layout before the output directory was a dataset: shards and indexes side by side here. */
export const LEGACY_SHARDS_DIR = 'shards';
export const LEGACY_MANIFEST_PATH = 'manifest.json';
export const LEGACY_DEAD_LETTERS_PATH = 'dead-letters.jsonl';

/** Shard file formats (`sink.format`) and their file suffixes. */
export const SHARD_SUFFIXES = { parquet: '.parquet', arrow: '.arrow' } as const;
export type ShardFormat = keyof typeof SHARD_SUFFIXES;
export const PARQUET_SUFFIX = SHARD_SUFFIXES.parquet;
export const INDEX_SUFFIX = '.docs.json';
/** The format a shard file's name says (its suffix), or undefined. */
export function shardFormatOf(name: string): ShardFormat | undefined {
  return (Object.keys(SHARD_SUFFIXES) as ShardFormat[]).find((f) => name.endsWith(SHARD_SUFFIXES[f]));
}
export const TMP_SUFFIX = '.tmp';

/** The shard-format suffix a file name ends with, if any. */
export function shardSuffixOf(name: string): string | undefined {
  return Object.values(SHARD_SUFFIXES).find((s) => name.endsWith(s));
}

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
  /** Size of the data file. */
  bytes: z.number().int().min(0),
  /** File format of the shard (`sink.format`); absent in indexes written before Arrow shards: parquet. */
  format: z.enum(['parquet', 'arrow']).optional(),
  /**
   * Per statistic column: the exact sum of its values and a histogram (output-columns.ts statKey), for
   * the dataset card. Absent in indexes written before it.
   */
  stats: z.record(z.string(), z.object({ sum: z.number(), counts: z.record(z.string(), z.number().int().min(0)) })).optional(),
  docs: z.array(ShardIndexDoc),
});
export type ShardIndex = z.infer<typeof ShardIndex>;
export type ShardIndexDoc = z.infer<typeof ShardIndexDoc>;

export interface ShardDirListing {
  /** Complete shards: the data file and its index, sorted by name. */
  shards: { name: string; dataPath: string; indexPath: string }[];
  /** Indexes whose data file does not exist (crash between the index write and the shard's rename). */
  orphanIndexes: string[];
  /** Data files without an index (not written by this sink, or the index was removed). */
  unindexedData: string[];
  /** Unfinished writes (`*.tmp`). */
  tmpFiles: string[];
}

/**
 * What an output holds: shards in `dataDir` with indexes in `indexDir` (the same directory in the legacy
 * layout), temp files in any of them and in `tmpDir`; missing directories are empty.
 */
export async function scanShardDir(dataDir: string, indexDir: string, tmpDir?: string): Promise<ShardDirListing> {
  const list = (d: string) => readdir(d).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? ([] as string[]) : Promise.reject(e)));
  const dataNames = await list(dataDir);
  const indexNames = indexDir === dataDir ? dataNames : await list(indexDir);
  const tmpNames = tmpDir === undefined || tmpDir === dataDir ? [] : await list(tmpDir);
  const data = new Map<string, string>();
  const out: ShardDirListing = { shards: [], orphanIndexes: [], unindexedData: [], tmpFiles: [] };
  for (const n of dataNames.sort()) {
    const suffix = shardSuffixOf(n);
    if (n.endsWith(TMP_SUFFIX)) out.tmpFiles.push(join(dataDir, n));
    else if (suffix) data.set(n.slice(0, -suffix.length), join(dataDir, n));
  }
  for (const n of tmpNames.sort()) if (n.endsWith(TMP_SUFFIX)) out.tmpFiles.push(join(tmpDir!, n));
  const indexed = new Set<string>();
  for (const n of indexNames.sort()) {
    if (indexDir !== dataDir && n.endsWith(TMP_SUFFIX)) out.tmpFiles.push(join(indexDir, n));
    if (!n.endsWith(INDEX_SUFFIX)) continue;
    const base = n.slice(0, -INDEX_SUFFIX.length);
    const dataPath = data.get(base);
    if (dataPath) {
      out.shards.push({ name: base, dataPath, indexPath: join(indexDir, n) });
      indexed.add(base);
    } else out.orphanIndexes.push(join(indexDir, n));
  }
  for (const [base, path] of data) if (!indexed.has(base)) out.unindexedData.push(path);
  return out;
}

/** The complete shards of a local output directory, new layout and (not yet migrated) legacy layout. */
export async function scanOutputDir(dir: string): Promise<ShardDirListing> {
  const now = await scanShardDir(join(dir, DATA_DIR), join(dir, INDEX_DIR), join(dir, TMP_DIR));
  const legacy = await scanShardDir(join(dir, LEGACY_SHARDS_DIR), join(dir, LEGACY_SHARDS_DIR));
  return {
    shards: [...now.shards, ...legacy.shards],
    orphanIndexes: [...now.orphanIndexes, ...legacy.orphanIndexes],
    unindexedData: [...now.unindexedData, ...legacy.unindexedData],
    tmpFiles: [...now.tmpFiles, ...legacy.tmpFiles],
  };
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
