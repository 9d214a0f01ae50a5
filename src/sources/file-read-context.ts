import type { Readable } from 'node:stream';
import type { Origin } from '../envelope.js';
import { GemflowError, errorMessage } from '../errors.js';
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

/**
 * The error that stops a run when an input file cannot be read (permission denied, not a regular
 * file, corrupt gzip or Parquet, a failed download): `input_unreadable`, naming the file and where
 * reading stopped. It is not a dead letter: one bad record would mark the rest of the file done, so
 * after a `chmod` or a re-upload the file would never be read again. The run stops (exit 2) with the
 * records read before the failure accounted for; records of the file from the failure on stay
 * uncommitted, and the next run resumes there.
 */
export function inputUnreadable(file: InputFile, what: string, cause: unknown, retriable = false): GemflowError {
  return new GemflowError('input_unreadable', `cannot read input ${file.path}${what ? ` ${what}` : ''}: ${errorMessage(cause)} (fix or remove it from source.paths, then run again)`, {
    cause,
    retriable,
    detail: { file: file.path },
  });
}
