import { createRequire } from 'node:module';
import type { SourceItem } from '../envelope.js';
import { bad, decodeRecord } from './decode.js';
import { fileOrigin, inputUnreadable, type FileReadContext } from './file-read-context.js';

/** The part of parquetjs-lite (an untyped CommonJS package) this reader uses. */
interface ParquetCursor {
  /** Index of the row group nextRowGroup() reads; set it to skip row groups without decoding them. */
  rowGroupIndex: number;
  nextRowGroup(): Promise<Array<Record<string, unknown>> | null>;
}
interface ParquetReader {
  metadata: { row_groups: Array<{ num_rows: unknown }> };
  getSchema(): { fields: Record<string, unknown> };
  getCursor(): ParquetCursor;
  close(): Promise<void>;
}
const parquet = createRequire(import.meta.url)('parquetjs-lite') as {
  ParquetReader: { openFile(path: string): Promise<ParquetReader> };
};

/**
 * The rows of a Parquet file, row group by row group, offset = 0-based row index. Each row is
 * serialized to JSON and decoded like a JSONL record. A file without the text column yields one
 * `parquet_wrong_columns` bad record; a file that cannot be read (corrupt, permission denied) throws
 * `input_unreadable` (see inputUnreadable) after the rows read before the failure.
 */
export async function* readParquet(ctx: FileReadContext): AsyncGenerator<SourceItem> {
  const { file, decode, skipBelow, signal, progress } = ctx;
  let offset = 0;
  let reader: ParquetReader | undefined;
  try {
    reader = await parquet.ParquetReader.openFile(ctx.localPath ?? file.absPath);
    const columns = Object.keys(reader.getSchema().fields);
    if (!columns.includes(decode.textField)) {
      progress.endOffset = 1;
      if (skipBelow === 0) {
        const message = `${file.path} has no text column "${decode.textField}"; its columns are: ${columns.join(', ') || '(none)'}`;
        yield bad(fileOrigin(file, 0), 'parquet_wrong_columns', message, '');
      }
      return;
    }
    const groups = reader.metadata.row_groups.map((g) => Number(g.num_rows));
    const totalRows = groups.reduce((a, b) => a + b, 0);
    const cursor = reader.getCursor();
    for (let g = 0; g < groups.length; g++) {
      const rowsInGroup = groups[g]!;
      if (offset + rowsInGroup <= skipBelow) {
        offset += rowsInGroup; // the whole row group was done by an earlier run: not even decoded
        continue;
      }
      cursor.rowGroupIndex = g;
      const rows = (await cursor.nextRowGroup()) ?? [];
      for (const row of rows) {
        if (signal.aborted) return;
        const at = offset++;
        progress.endOffset = at + 1;
        progress.bytesRead = totalRows === 0 ? ctx.size : Math.floor((ctx.size * offset) / totalRows);
        if (at < skipBelow) continue;
        yield decodeRecord(Buffer.from(JSON.stringify(plain(row))), fileOrigin(file, at), decode);
      }
    }
  } catch (e) {
    if (signal.aborted) return;
    throw inputUnreadable(file, offset === 0 ? '(Parquet)' : `(Parquet) at row ${offset}`, e);
  } finally {
    await reader?.close();
  }
}

/** A Parquet value as plain JSON: byte arrays as UTF-8 text, 64-bit integers as numbers, dates as ISO. */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}
