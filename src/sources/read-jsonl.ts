import { createReadStream } from 'node:fs';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { SourceItem } from '../envelope.js';
import { decodeRecord, RAW_PREVIEW_BYTES, tooLargeRecord } from './decode.js';
import { fileOrigin, inputUnreadable, type FileReadContext } from './file-read-context.js';
import { isBlank, splitLines } from './split-lines.js';

/**
 * The records of a JSONL (or gzipped JSONL: see sniff) file, one per line, offset = 0-based line index.
 * Blank lines yield nothing but keep their line number. A read failure (missing file, permission
 * denied, a directory, corrupt gzip) throws `input_unreadable` (see inputUnreadable) after the lines
 * read before it.
 */
export async function* readJsonl(ctx: FileReadContext): AsyncGenerator<SourceItem> {
  const { file, decode, skipBelow, signal, progress } = ctx;
  const raw = ctx.open?.() ?? createReadStream(file.absPath, { signal, highWaterMark: 256 * 1024 });
  let offset = 0;
  try {
    const bytes = await sniff(raw, file.path);
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

/**
 * The file's bytes as UTF-8 JSONL, by what its first bytes say rather than its name: gzip (1f 8b)
 * is decompressed whatever the suffix (a .jsonl that is really gzip gave one garbage dead letter per
 * line of compressed bytes), anything else is read as it is (a plain file named .gz, too). A UTF-16
 * file (byte-order mark FF FE or FE FF) is refused with what to do, instead of one garbage record.
 */
async function sniff(raw: Readable, path: string): Promise<AsyncIterable<Buffer>> {
  const it = (raw as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : first.value;
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    // pipeline() forwards an error of the file stream (or the abort) to the gunzip stream we read from.
    return pipeline(Readable.from(all()), createGunzip(), () => {});
  }
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) {
    throw new Error(`${path} is UTF-16 text (byte-order mark ${head[0]!.toString(16)} ${head[1]!.toString(16)}); gemflow reads UTF-8 JSONL: convert it, e.g. iconv -f UTF-16 -t UTF-8`);
  }
  return all();
}
