import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { SourceItem } from '../envelope.js';
import { decodeRecord, RAW_PREVIEW_BYTES, tooLargeRecord } from './decode.js';
import { fileOrigin, inputUnreadable, type FileReadContext } from './file-read-context.js';
import { isBlank, splitLines } from './split-lines.js';

/**
 * The records of a JSONL (or gzipped JSONL) file, one per line, offset = 0-based line index.
 * Blank lines yield nothing but keep their line number. A read failure (missing file, permission
 * denied, a directory, corrupt gzip) throws `input_unreadable` (see inputUnreadable) after the lines
 * read before it.
 */
export async function* readJsonl(ctx: FileReadContext): AsyncGenerator<SourceItem> {
  const { file, decode, skipBelow, signal, progress } = ctx;
  const raw = ctx.open?.() ?? createReadStream(file.absPath, { signal, highWaterMark: 256 * 1024 });
  // pipeline() forwards an error of the file stream (or the abort) to the gunzip stream we read from.
  const bytes: AsyncIterable<Buffer> = file.format === 'jsonl.gz' ? pipeline(raw, createGunzip(), () => {}) : raw;
  let offset = 0;
  try {
    for await (const line of splitLines(bytes, decode.maxRecordBytes, RAW_PREVIEW_BYTES)) {
      if (signal.aborted) return; // lines of a chunk already read are not handed out after an abort
      const at = offset++;
      progress.bytesRead = raw.bytesRead;
      if (!line.truncated && isBlank(line.bytes)) continue;
      progress.endOffset = at + 1;
      if (at < skipBelow) continue;
      const origin = fileOrigin(file, at);
      yield line.truncated ? tooLargeRecord(origin, line.length, line.bytes, decode.maxRecordBytes) : decodeRecord(line.bytes, origin, decode);
    }
  } catch (e) {
    if (signal.aborted) return;
    throw inputUnreadable(file, `at line ${offset + 1}`, e, ctx.open !== undefined);
  } finally {
    raw.destroy();
  }
}
