import type { SourceItem } from '../envelope.js';
import { GemflowError } from '../errors.js';
import { bad, decodeRecord } from './decode.js';
import { fileOrigin, inputUnreadable, type FileReadContext } from './file-read-context.js';

/**
 * The rows of a Parquet file, offset = 0-based row index, read by the same reader as `gemflow export`
 * (src/export/read-rows.ts: hyparquet one row group at a time, DuckDB for ZSTD / LZ4 and huge row
 * groups), so any Parquet format version and codec pyarrow, pandas, `datasets`, DuckDB or gemflow's
 * own sink writes. (parquetjs-lite, used before, refused every file whose footer says format version
 * 2, pyarrow's default: "invalid parquet version".) Each row is serialized to JSON and decoded like a
 * JSONL record. Row groups wholly below `skipBelow` (done by an earlier run) are not read. A file
 * without the text column yields one `parquet_wrong_columns` bad record; a file that cannot be read
 * (corrupt, permission denied) throws `input_unreadable` (see inputUnreadable) after the rows read
 * before the failure.
 */
export async function* readParquet(ctx: FileReadContext): AsyncGenerator<SourceItem> {
  const { file, decode, skipBelow, signal, progress } = ctx;
  const path = ctx.localPath ?? file.absPath;
  let offset = 0;
  try {
    // The Parquet readers (hyparquet, DuckDB) are loaded only when a Parquet input is read.
    const { parquetFileInfo, readParquetFile } = await import('../export/read-rows.js');
    const { columns, rows: totalRows } = await parquetFileInfo(path);
    if (!columns.includes(decode.textField)) {
      progress.endOffset = 1;
      if (skipBelow === 0) {
        const message = `${file.path} has no text column "${decode.textField}"; its columns are: ${columns.join(', ') || '(none)'}`;
        yield bad(fileOrigin(file, 0), 'parquet_wrong_columns', message, '');
      }
      return;
    }
    offset = Math.min(skipBelow, totalRows);
    for await (const batch of readParquetFile(path, { signal, fromRow: offset })) {
      for (const row of batch) {
        if (signal.aborted) return;
        const at = offset++;
        progress.endOffset = at + 1;
        progress.bytesRead = totalRows === 0 ? ctx.size : Math.floor((ctx.size * offset) / totalRows);
        yield decodeRecord(Buffer.from(JSON.stringify(row)), fileOrigin(file, at), decode);
      }
    }
  } catch (e) {
    if (signal.aborted) return;
    // The reader's own error names the file again ("cannot read X (after n rows): ..."): its cause says what is wrong.
    const cause = e instanceof GemflowError && e.code === 'export_unreadable' && e.cause !== undefined ? e.cause : e;
    throw inputUnreadable(file, offset === 0 ? '(Parquet)' : `(Parquet) at row ${offset}`, cause);
  }
}
