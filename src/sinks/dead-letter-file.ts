import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Origin } from '../envelope.js';
import { GemflowError } from '../errors.js';
import type { DeadLetter, DeadLetterSink } from './types.js';

/** Name of the dead-letter file inside an output directory (what `gemflow stats` reads). */
export const DEAD_LETTER_FILE_NAME = 'dead-letters.jsonl';

/** Default bound on the raw record kept in a dead letter. */
export const DEFAULT_MAX_RAW_BYTES = 64 * 1024;

/** One line of the dead-letter file. */
export interface DeadLetterLine {
  /** ISO 8601 time of writing. */
  time: string;
  stage: string;
  code: string;
  message: string;
  origin: Origin;
  documentId?: string;
  /** The raw record, cut to at most maxRawBytes of UTF-8 (on a character boundary) by this sink. */
  raw: string;
  /** UTF-8 length of the original raw record. */
  rawBytes: number;
  /** True when `raw` is not the whole record (cut here, or only a prefix reached the sink). */
  rawTruncated: boolean;
}

/**
 * Dead letters as JSON lines appended to one file through one handle (created with its directory
 * on the first write). Lines are written in call order; flush() fsyncs what was written so far.
 */
export class FileDeadLetterSink implements DeadLetterSink {
  readonly path: string;
  readonly #maxRawBytes: number;
  #fh: Promise<FileHandle> | undefined;
  /** Tail of the write queue: appends run one after another, in call order. */
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(path: string, opts: { maxRawBytes?: number } = {}) {
    this.path = path;
    this.#maxRawBytes = opts.maxRawBytes ?? DEFAULT_MAX_RAW_BYTES;
  }

  write(dl: DeadLetter): Promise<void> {
    if (this.#closed) return Promise.reject(new GemflowError('sink_closed', `dead-letter file ${this.path} is closed`));
    const raw = deadLetterRaw(dl, this.#maxRawBytes);
    const line: DeadLetterLine = {
      time: new Date().toISOString(),
      stage: dl.stage,
      code: dl.code,
      message: dl.message,
      origin: dl.origin,
      ...(dl.documentId !== undefined && { documentId: dl.documentId }),
      raw: raw.text,
      rawBytes: raw.bytes,
      rawTruncated: raw.truncated,
    };
    const data = JSON.stringify(line) + '\n';
    const fh = this.#handle();
    return this.#enqueue(async () => (await fh).appendFile(data));
  }

  /** fsync everything written so far (nothing to do before the first write). */
  flush(): Promise<void> {
    const fh = this.#fh;
    if (this.#closed || !fh) return Promise.resolve();
    return this.#enqueue(async () => (await fh).sync());
  }

  /** Wait for queued writes, fsync and close the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const fh = this.#fh;
    if (!fh) return;
    await this.#enqueue(async () => {
      const h = await fh;
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    });
  }

  #enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(op);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** The append handle, opened (with its directory) on first use. */
  #handle(): Promise<FileHandle> {
    if (!this.#fh) {
      this.#fh = mkdir(dirname(this.path), { recursive: true }).then(() => open(this.path, 'a'));
      // Awaited by queued operations later; an open failure is reported there, not as unhandled.
      this.#fh.catch(() => {});
    }
    return this.#fh;
  }
}

/**
 * The raw record of a dead letter as kept: cut to `maxBytes` of UTF-8 here (callers pass it whole),
 * with the whole record's size (`dl.rawBytes` when the caller only had a prefix) and whether anything
 * of it is missing from `text`.
 */
export function deadLetterRaw(dl: Pick<DeadLetter, 'raw' | 'rawBytes'>, maxBytes: number): { text: string; bytes: number; truncated: boolean } {
  const cut = truncateUtf8(dl.raw, maxBytes);
  const bytes = Math.max(cut.bytes, dl.rawBytes ?? 0);
  return { text: cut.text, bytes, truncated: Buffer.byteLength(cut.text) < bytes };
}

/** Cut `s` to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): { text: string; bytes: number; truncated: boolean } {
  const bytes = Buffer.byteLength(s);
  if (bytes <= maxBytes) return { text: s, bytes, truncated: false };
  const buf = Buffer.from(s);
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return { text: buf.subarray(0, end).toString('utf8'), bytes, truncated: true };
}
