import { isUtf8 } from 'node:buffer';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { DuckDBInstance, DuckDBTypeId, JSDuckDBValueConverter, type DuckDBBlobVector, type DuckDBConnection } from '@duckdb/node-api';
import { RecordBatchReader, Type, Vector } from 'apache-arrow';
import { parquetMetadata, parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type Compressors, type FileMetaData } from 'hyparquet';
import { snappyUncompressor } from 'hysnappy';
import { GemflowError } from '../errors.js';
import { pruneFooter } from './parquet-footer.js';
import { SNAPPY_MODULE, SnappyArena } from './snappy-arena.js';

/**
 * The rows of a gemflow output directory, in batches, with flat memory: Parquet through hyparquet
 * (one row group of the asked columns at a time; DuckDB, streaming, for codecs and row-group sizes
 * hyparquet is not used for: readParquet), Arrow IPC (file or stream format) through apache-arrow's
 * RecordBatchReader (one record batch at a time). Rows are plain JSON values keyed by column name:
 * nested columns as arrays / objects, 64-bit integers as numbers, byte arrays as text. Reading the 3
 * columns export needs costs ~20 us CPU a row with hyparquet on the sink's SNAPPY shards, ~28 with
 * DuckDB (copying each value out of DuckDB), ~36 to 49 with parquetjs-lite (bench/results/export.md).
 *
 * Where the rows are: `data/` (the dataset layout; subfolders included, names starting with `_` or
 * `.` skipped, as pyarrow and `datasets` skip them), else `shards/` (the older layout). Files are read
 * in name order, so two exports of one output list rows in the same order.
 */
export const ROW_DIRS = ['data', 'shards'] as const;
const ROW_FILE = /\.(parquet|arrow|arrows|feather)$/;

export type RowRecord = Record<string, unknown>;

export interface ReadOptions {
  /** Only these columns (those of them a file has); all when absent. */
  columns?: readonly string[];
  signal?: AbortSignal;
  /** Called with each file's path before its first row. */
  onFile?: (file: string) => void;
  /** These columns, where stored as text, as their UTF-8 bytes (readBatches). */
  bytes?: readonly string[];
  /** Parquet files with a row group larger than this (asked columns, uncompressed) go to DuckDB; default HYPARQUET_MAX_GROUP_BYTES. */
  maxGroupBytes?: number;
  /** readParquetFile: the rows before this 0-based row index are not handed out (whole row groups before it not even read). */
  fromRow?: number;
}

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
export async function* readRows(outputDir: string, o: ReadOptions = {}): AsyncGenerator<RowRecord> {
  for await (const batch of readBatches(outputDir, o)) for (const row of batch) yield row;
}

/**
 * The rows of an output directory in batches of up to BATCH rows (from a Parquet row group, a DuckDB
 * chunk, an Arrow record batch), in file order: one await per batch, not per row. With `bytes`, those
 * columns, when a file stores them as text, come as their UTF-8 bytes (Uint8Array, never decoded;
 * always valid UTF-8): hyparquet's views of the decompressed page when valid UTF-8 (else strings),
 * DuckDB VARCHAR (which DuckDB holds to valid UTF-8) through `encode()`, Arrow Utf8 as views of the
 * batch's buffer when the batch's values are valid UTF-8 (else as strings, decoded as before). The
 * bytes of a batch are valid until the next batch is asked for.
 */
export async function* readBatches(outputDir: string, o: ReadOptions = {}): AsyncGenerator<RowRecord[]> {
  for (const file of await listRowFiles(outputDir)) {
    if (o.signal?.aborted) return;
    o.onFile?.(file);
    yield* file.endsWith('.parquet') ? readParquetFile(file, o) : readArrow(file, o);
  }
}

/**
 * Rows per batch handed out: a DuckDB chunk (2,048 rows) or an Arrow record batch (any size) is cut into
 * batches of this many, so row objects die young (a 10,000-row batch kept alive at once cost the
 * garbage collector more than the batching saved).
 */
const BATCH = 128;

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;
const sqlName = (s: string) => `"${s.replaceAll('"', '""')}"`;

/**
 * A Parquet file through DuckDB (a streaming query, one 2,048-row chunk at a time, one thread, only
 * the columns asked for). One DuckDB instance per file, closed after it: DuckDB's chunks are freed only when the JS garbage
 * collector finalises them, and one instance for a whole export let the process grow (peak RSS 500, 600,
 * 710 MB at 20,000, 60,000, 120,000 rows); closing it per file keeps it flat (~485 MB).
 */
async function* readParquetDuckDB(file: string, o: ReadOptions): AsyncGenerator<RowRecord[]> {
  let n = 0;
  let instance: DuckDBInstance | undefined;
  let con: DuckDBConnection | undefined;
  try {
    instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    con = await instance.connect();
    const from = `FROM read_parquet(${sqlString(file)})`;
    const head = await con.run(`SELECT * ${from} LIMIT 0`);
    const all = head.columnNames();
    const types = head.columnTypes();
    let names = o.columns ? all.filter((c) => o.columns!.includes(c)) : all;
    if (names.length === 0) names = all.slice(0, 1); // still one row each
    const asBytes = names.map((c) => (o.bytes?.includes(c) ?? false) && types[all.indexOf(c)]!.typeId === DuckDBTypeId.VARCHAR);
    // One thread keeps the file's row order, so OFFSET skips exactly the rows before fromRow.
    const offset = o.fromRow ? ` OFFSET ${Math.floor(o.fromRow)}` : '';
    const result = await con.stream(`SELECT ${names.map((c, i) => (asBytes[i] ? `encode(${sqlName(c)}) AS ${sqlName(c)}` : sqlName(c))).join(', ')} ${from}${offset}`);
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      // Values taken one row at a time (short-lived strings: cheap garbage), nested ones converted per column.
      const vectors = names.map((_, i) => chunk.getColumnVector(i));
      const nested: Array<unknown[] | undefined> = [];
      for (let r0 = 0; r0 < chunk.rowCount; r0 += BATCH) {
        const rows: RowRecord[] = [];
        for (let r = r0; r < Math.min(chunk.rowCount, r0 + BATCH); r++) {
          const row: RowRecord = {};
          for (let i = 0; i < names.length; i++) {
            if (asBytes[i]) {
              const b = (vectors[i] as DuckDBBlobVector).getItemBytes(r);
              row[names[i]!] = b && b.length <= 12 ? b.slice() : b; // short ones are views of the chunk
              continue;
            }
            const v = vectors[i]!.getItem(r);
            if (typeof v === 'string' || typeof v === 'number') row[names[i]!] = v;
            else if (v === null || typeof v !== 'object') row[names[i]!] = plain(v);
            else row[names[i]!] = plain((nested[i] ??= chunk.convertColumnValues(i, JSDuckDBValueConverter))[r]);
          }
          rows.push(row);
        }
        n += rows.length;
        yield rows;
      }
    }
  } catch (e) {
    throw unreadable(file, n, e);
  } finally {
    con?.closeSync();
    instance?.closeSync();
  }
}

/**
 * Decompressors for hyparquet: SNAPPY through hysnappy (WebAssembly, one instance: hyparquet's own JS
 * snappy took ~19 us a row of the 8.5 KB export columns, hysnappy ~6; the napi-rs `snappy` binding
 * measured slower), GZIP and BROTLI through node:zlib. ZSTD (fzstd, pure JS: 37 us a row against
 * DuckDB's 26), LZ4 and the rest go to DuckDB.
 */
const COMPRESSORS: Compressors = {
  SNAPPY: snappyUncompressor(),
  GZIP: (b) => new Uint8Array(gunzipSync(b)),
  BROTLI: (b) => new Uint8Array(brotliDecompressSync(b)),
};
const HYPARQUET_CODECS = new Set(['UNCOMPRESSED', ...Object.keys(COMPRESSORS)]);
/**
 * hyparquet decodes a whole row group's asked columns at once: a file whose row group holds more than this
 * (uncompressed, the asked columns) is read by DuckDB, which streams inside row groups.
 */
export const HYPARQUET_MAX_GROUP_BYTES = 256 * 2 ** 20;

/**
 * A Parquet file: through hyparquet (pure JS, one row group at a time, only the asked columns' byte
 * ranges read from the file; strings handed out as views of the decompressed page, no copy) when it
 * can: codecs SNAPPY, GZIP, BROTLI or none (COMPRESSORS), row groups of at most
 * HYPARQUET_MAX_GROUP_BYTES of asked columns. Else (ZSTD, LZ4; huge row groups) through DuckDB, which
 * streams inside a row group. Reading the 3 columns of export openai / sharegpt:
 * ~18 to 20 us CPU a row against DuckDB's ~27 on gemflow's SNAPPY shards, 14 against 26 uncompressed
 * (bench/results/export.md).
 */
export async function* readParquetFile(file: string, o: ReadOptions): AsyncGenerator<RowRecord[]> {
  const { fh, buf } = await openParquet(file);
  try {
    let meta: FileMetaData;
    try {
      meta = await metadataOf(buf, o.columns);
    } catch (e) {
      throw unreadable(file, 0, e);
    }
    yield* readParquetWith(file, buf, meta, o);
  } finally {
    await fh.close();
  }
}

/** A Parquet file's top-level column names and row count, from its footer (`export_unreadable` when it has none hyparquet reads). */
export async function parquetFileInfo(file: string): Promise<{ columns: string[]; rows: number }> {
  const { fh, buf } = await openParquet(file);
  try {
    const meta = await parquetMetadataAsync(buf);
    return { columns: parquetSchema(meta).children.map((c) => c.element.name), rows: Number(meta.num_rows) };
  } catch (e) {
    throw unreadable(file, 0, e);
  } finally {
    await fh.close();
  }
}

/** A file opened as hyparquet's AsyncBuffer; `export_unreadable` when it cannot be. The caller closes `fh`. */
async function openParquet(file: string): Promise<{ fh: import('node:fs/promises').FileHandle; buf: AsyncBuffer }> {
  let fh: import('node:fs/promises').FileHandle | undefined;
  try {
    fh = await open(file);
    return { fh, buf: await fileBuffer(fh) };
  } catch (e) {
    await fh?.close();
    throw unreadable(file, 0, e);
  }
}

/**
 * A file's metadata as hyparquet parses it, from its footer without column statistics and, with
 * `columns`, without the chunk metadata of other columns but their path (pruneFooter); a footer it
 * cannot prune goes to hyparquet whole, which says what is wrong with it.
 */
async function metadataOf(buf: AsyncBuffer, columns?: readonly string[]): Promise<FileMetaData> {
  if (buf.byteLength >= 12) {
    const tail = new DataView(await buf.slice(buf.byteLength - 8));
    const n = tail.getUint32(0, true);
    if (tail.getUint32(4, true) === 0x31524150 && n + 8 <= buf.byteLength) {
      const footer = new Uint8Array(await buf.slice(buf.byteLength - 8 - n, buf.byteLength - 8));
      let pruned: Uint8Array | undefined;
      try {
        pruned = pruneFooter(footer, columns);
      } catch {
        // not a footer this reads: hyparquet's error below
      }
      if (pruned) {
        const meta = parquetMetadata(pruned);
        // None of the columns in this file: the reader reads its first column, which needs its metadata.
        if (!columns || parquetSchema(meta).children.some((c) => columns.includes(c.element.name))) return meta;
        return parquetMetadata(pruneFooter(footer));
      }
    }
  }
  return parquetMetadataAsync(buf);
}

/** A file as hyparquet's AsyncBuffer: each slice one read into a fresh buffer (no stream, no copy). */
async function fileBuffer(fh: import('node:fs/promises').FileHandle): Promise<AsyncBuffer> {
  const { size } = await fh.stat();
  return {
    byteLength: size,
    async slice(start: number, end = size) {
      const out = new Uint8Array(Math.max(0, end - start));
      for (let at = 0; at < out.length; ) {
        const { bytesRead } = await fh.read(out, at, out.length - at, start + at);
        if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + at} of ${size}`);
        at += bytesRead;
      }
      return out.buffer;
    },
  };
}

async function* readParquetWith(file: string, buf: AsyncBuffer, meta: FileMetaData, o: ReadOptions): AsyncGenerator<RowRecord[]> {
  const top = parquetSchema(meta).children;
  const all = top.map((c) => c.element.name);
  let names = o.columns ? all.filter((c) => o.columns!.includes(c)) : all;
  if (names.length === 0) names = all.slice(0, 1); // still one row each
  const asked = (path: string[] | undefined) => path !== undefined && names.includes(path[0]!);
  const fits = meta.row_groups.every((g) => {
    let bytes = 0;
    for (const c of g.columns) {
      if (!c.meta_data || !asked(c.meta_data.path_in_schema)) continue;
      if (!HYPARQUET_CODECS.has(c.meta_data.codec)) return false;
      bytes += Number(c.meta_data.total_uncompressed_size);
    }
    return bytes <= (o.maxGroupBytes ?? HYPARQUET_MAX_GROUP_BYTES);
  });
  if (!fits) return yield* readParquetDuckDB(file, o);
  // UTF8 columns come as bytes (stringFromBytes: identity); decoded here unless asked for as bytes.
  const text = names.map((c) => {
    const el = top[all.indexOf(c)]!.element;
    return el.type === 'BYTE_ARRAY' && (el.converted_type === 'UTF8' || el.logical_type?.type === 'STRING' || el.converted_type === undefined);
  });
  const raw = names.map((c, i) => text[i]! && (o.bytes?.includes(c) ?? false));
  // SNAPPY pages decompressed into one reused memory, sized per row group (src/export/snappy-arena.ts).
  const arena = SNAPPY_MODULE ? new SnappyArena(SNAPPY_MODULE) : undefined;
  const compressors = arena ? { ...COMPRESSORS, SNAPPY: arena.uncompress } : COMPRESSORS;
  let n = 0;
  try {
    const fromRow = o.fromRow ?? 0;
    let start = 0;
    for (const g of meta.row_groups) {
      if (o.signal?.aborted) return;
      const end = start + Number(g.num_rows);
      if (end <= fromRow) {
        start = end; // a row group wholly before fromRow: not read
        continue;
      }
      const first = Math.max(start, fromRow);
      if (arena) {
        let input = 0;
        let output = 0;
        for (const c of g.columns) {
          if (!c.meta_data || !asked(c.meta_data.path_in_schema) || c.meta_data.codec !== 'SNAPPY') continue;
          input = Math.max(input, Number(c.meta_data.total_compressed_size));
          output += Number(c.meta_data.total_uncompressed_size);
        }
        arena.reserve(input, output); // the previous group's rows are all taken: its pages can go
      }
      let rows0: unknown[][] = [];
      await parquetRead({
        file: buf,
        metadata: meta,
        columns: names,
        rowStart: first,
        rowEnd: end,
        compressors,
        parsers: { stringFromBytes: (b: Uint8Array) => b },
        onComplete: (rows: unknown[][]) => (rows0 = rows),
      });
      for (let r0 = 0; r0 < end - first; r0 += BATCH) {
        const rows: RowRecord[] = [];
        for (let r = r0; r < Math.min(end - first, r0 + BATCH); r++) {
          const row: RowRecord = {};
          const values = rows0[r]!;
          for (let i = 0; i < names.length; i++) {
            const v = values[i];
            if (v instanceof Uint8Array && text[i]) row[names[i]!] = raw[i] && isUtf8(v) ? v : utf8.decode(v);
            else row[names[i]!] = typeof v === 'string' || typeof v === 'number' ? v : plain(v); // nested strings: bytes, decoded by plain
          }
          rows.push(row);
        }
        n += rows.length;
        yield rows;
      }
      start = end;
    }
  } catch (e) {
    throw unreadable(file, n, e);
  }
}

const utf8 = new TextDecoder();

async function* readArrow(file: string, o: ReadOptions): AsyncGenerator<RowRecord[]> {
  let n = 0;
  try {
    const fh = await open(file);
    try {
      const reader = await RecordBatchReader.from(fh);
      await reader.open();
      for await (const batch of reader) {
        const names = batch.schema.fields.map((f) => f.name).filter((c) => !o.columns || o.columns.includes(c));
        const cols = names.map((c) => batch.getChild(c)!);
        // Utf8 columns asked for as bytes: their offsets and values buffers, when every value is valid UTF-8.
        const raw = names.map((c, i) => {
          const d = cols[i]!.data;
          return o.bytes?.includes(c) && d.length === 1 && d[0]!.typeId === Type.Utf8 && validUtf8(d[0]!.values, d[0]!.valueOffsets, batch.numRows) ? d[0]! : undefined;
        });
        for (let r0 = 0; r0 < batch.numRows; r0 += BATCH) {
          const rows: RowRecord[] = [];
          for (let r = r0; r < Math.min(batch.numRows, r0 + BATCH); r++) {
            const row: RowRecord = {};
            for (let i = 0; i < names.length; i++) {
              const d = raw[i];
              if (d) row[names[i]!] = d.getValid(r) ? d.values.subarray(d.valueOffsets[r]!, d.valueOffsets[r + 1]!) : null;
              else row[names[i]!] = plain(cols[i]!.get(r));
            }
            rows.push(row);
          }
          n += rows.length;
          yield rows;
        }
      }
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw unreadable(file, n, e);
  }
}

/**
 * Every value of an Arrow Utf8 column is valid UTF-8: the values buffer as a whole is, and no value starts
 * with a continuation byte (so no sequence straddles two values). One native pass for the batch.
 */
function validUtf8(values: Uint8Array, offsets: Int32Array, n: number): boolean {
  if (!isUtf8(values.subarray(offsets[0]!, offsets[n]!))) return false;
  for (let r = 1; r < n; r++) if (offsets[r]! < offsets[n]! && (values[offsets[r]!]! & 0xc0) === 0x80) return false;
  return true;
}

/** An unreadable file: `export_unreadable`, naming it and how far it was read. */
function unreadable(file: string, n: number, e: unknown): GemflowError {
  if (e instanceof GemflowError) return e;
  return new GemflowError('export_unreadable', `cannot read ${file} (after ${n} rows): ${(e as Error).message}`, { cause: e });
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
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'); // a DuckDB BLOB
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
