import { createRequire } from 'node:module';
import { readdir } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { RecordBatchReader, Vector } from 'apache-arrow';
import { GemflowError } from '../errors.js';

/**
 * The rows of a gemflow output directory, one at a time, with flat memory: Parquet through a
 * parquetjs-lite cursor (one row group decoded at a time), Arrow IPC (file or stream format) through
 * apache-arrow's RecordBatchReader (one record batch at a time). Rows are plain JSON values keyed by
 * column name: nested columns as arrays / objects, 64-bit integers as numbers, byte arrays as text.
 *
 * Where the rows are: `data/` (the dataset layout; subfolders included, names starting with `_` or
 * `.` skipped, as pyarrow and `datasets` skip them), else `shards/` (the older layout). Files are read
 * in name order, so two exports of one output list rows in the same order.
 */
export const ROW_DIRS = ['data', 'shards'] as const;
const ROW_FILE = /\.(parquet|arrow|arrows|feather)$/;

export type RowRecord = Record<string, unknown>;

interface ParquetCursor {
  next(): Promise<Record<string, unknown> | null>;
}
interface ParquetReader {
  getCursor(): ParquetCursor;
  close(): Promise<void>;
}
const parquet = createRequire(import.meta.url)('parquetjs-lite') as { ParquetReader: { openFile(path: string): Promise<ParquetReader> } };

/** The row files of an output directory (see above); throws `export_no_rows` naming where it looked. */
export async function listRowFiles(outputDir: string): Promise<string[]> {
  for (const sub of ROW_DIRS) {
    const files = await walk(join(outputDir, sub));
    if (files.length > 0) return files.sort();
  }
  throw new GemflowError('export_no_rows', `${outputDir} holds no row files (*.parquet, *.arrow) under ${ROW_DIRS.map((d) => `${d}/`).join(' or ')}: is it a gemflow output directory?`);
}

async function walk(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('_') || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile() && ROW_FILE.test(e.name)) out.push(p);
  }
  return out;
}

/** Every row of an output directory, in file order. */
export async function* readRows(outputDir: string, signal?: AbortSignal): AsyncGenerator<RowRecord> {
  for (const file of await listRowFiles(outputDir)) {
    if (signal?.aborted) return;
    yield* readRowFile(file);
  }
}

/** The rows of one Parquet or Arrow IPC file; an unreadable file throws `export_unreadable` naming it. */
export async function* readRowFile(file: string): AsyncGenerator<RowRecord> {
  let n = 0;
  try {
    if (file.endsWith('.parquet')) {
      const reader = await parquet.ParquetReader.openFile(file);
      try {
        const cursor = reader.getCursor();
        for (let row = await cursor.next(); row; row = await cursor.next()) {
          n++;
          yield plain(row) as RowRecord;
        }
      } finally {
        await reader.close();
      }
      return;
    }
    const fh = await open(file);
    try {
      const reader = await RecordBatchReader.from(fh);
      await reader.open();
      for await (const batch of reader) {
        for (let i = 0; i < batch.numRows; i++) {
          n++;
          yield plain(batch.get(i)) as RowRecord;
        }
      }
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof GemflowError) throw e;
    throw new GemflowError('export_unreadable', `cannot read ${file} (after ${n} rows): ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A value read from Parquet or Arrow as plain JSON: Arrow vectors as arrays, struct rows as objects,
 * Parquet LIST wrappers (`{list: [{element: x}]}`) as arrays, 64-bit integers as numbers, bytes as text.
 */
export function plain(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v !== 'object') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, plain);
  if (v instanceof Vector) return Array.from(v as Iterable<unknown>, plain); // a list column's value
  const o = v as Record<string, unknown> & { toJSON?: () => unknown }; // a StructRow has toJSON
  const src = typeof o.toJSON === 'function' ? (o.toJSON() as Record<string, unknown>) : (o as Record<string, unknown>);
  if (src !== o) return plain(src);
  const keys = Object.keys(src);
  if (keys.length === 1 && keys[0] === 'list' && Array.isArray(src.list)) {
    return src.list.map((x) => (x !== null && typeof x === 'object' && ('element' in x || 'item' in x) && Object.keys(x).length === 1 ? plain((x as Record<string, unknown>).element ?? (x as Record<string, unknown>).item) : plain(x)));
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = plain(src[k]);
  return out;
}
