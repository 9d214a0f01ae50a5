import type { Readable } from 'node:stream';
import type { Origin } from '../envelope.js';
import type { DecodeOptions } from './decode.js';
import type { InputFile } from './expand-paths.js';

/** What a per-format reader (JSONL, Parquet) gets from the file source for one file. */
export interface FileReadContext {
  file: InputFile;
  /** File size in bytes (as checked against the checkpoint). */
  size: number;
  decode: DecodeOptions;
  /** Records below this offset were resolved by an earlier run: counted, never yielded. */
  skipBelow: number;
  signal: AbortSignal;
  /** Kept current by the reader: bytes of the file consumed so far, and one past the last record offset. */
  progress: { bytesRead: number; endOffset: number };
  /** The file's bytes when they are not at file.absPath (an object in S3); default: read file.absPath. */
  open?: () => Readable & { bytesRead: number };
  /** A local copy to read instead of file.absPath (Parquet needs random access: a downloaded object). */
  localPath?: string;
}

/** The origin of the record at a 0-based line or row offset of a file. */
export function fileOrigin(file: InputFile, offset: number): Origin {
  return { kind: 'file', partition: file.absPath, offset, file: file.path, line: offset + 1 };
}
