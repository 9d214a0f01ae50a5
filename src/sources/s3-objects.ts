import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { SourceItem } from '../envelope.js';
import { GemflowError, errorMessage } from '../errors.js';
import { dirPrefix, parseS3Url, s3Url } from '../s3/s3-url.js';
import type { InputFile, InputFormat } from './expand-paths.js';
import { inputUnreadable, type FileReadContext } from './file-read-context.js';
import { readJsonl } from './read-jsonl.js';
import { readParquet } from './read-parquet.js';

/** An input object: path and absPath are its `s3://bucket/key` URL (the partition of its records). */
export interface S3Input extends InputFile {
  bucket: string;
  key: string;
  size: number;
  /** LastModified, for the checkpoint's "input unchanged" check. */
  mtimeMs: number;
  /** Reads are conditional on it: an object replaced mid-run fails its read instead of mixing versions. */
  etag: string;
}

const SUFFIXES: Array<[string, InputFormat]> = [
  ['.jsonl', 'jsonl'],
  ['.jsonl.gz', 'jsonl.gz'],
  ['.parquet', 'parquet'],
];

/**
 * The input objects an `s3://bucket/key` URL names: the object itself when one has exactly that key
 * (read by its suffix: .parquet, .gz = gzipped JSONL, else JSONL), else every *.jsonl, *.jsonl.gz and
 * *.parquet object under the prefix `key/` at any depth, sorted by key, skipping names that start with a
 * dot. `source_no_files` when there are none.
 */
export async function listS3Inputs(client: S3Client, url: string, signal?: AbortSignal): Promise<S3Input[]> {
  const { bucket, key } = parseS3Url(url);
  const request = <T>(what: string, send: () => Promise<T>) =>
    send().catch((e: unknown) => {
      throw new GemflowError('s3_request_failed', `cannot ${what} ${url}: ${errorMessage(e)}`, { retriable: true, cause: e });
    });
  if (key !== '' && !key.endsWith('/')) {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }).catch((e: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
      if (e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw new GemflowError('s3_request_failed', `cannot read ${url}: ${errorMessage(e)}`, { retriable: true, cause: e });
    });
    if (head) return [input(bucket, key, namedFormat(key), head.ContentLength ?? 0, head.LastModified, head.ETag)];
  }
  const prefix = dirPrefix(key);
  const out: S3Input[] = [];
  let token: string | undefined;
  do {
    const page = await request('list', () => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal: signal }));
    for (const o of page.Contents ?? []) {
      const name = o.Key!.slice(o.Key!.lastIndexOf('/') + 1);
      const format = name.startsWith('.') ? undefined : SUFFIXES.find(([s]) => name.endsWith(s))?.[1];
      if (format) out.push(input(bucket, o.Key!, format, o.Size ?? 0, o.LastModified, o.ETag));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (out.length === 0) throw new GemflowError('source_no_files', `input path ${url} matches no .jsonl, .jsonl.gz or .parquet object`, { detail: { path: url } });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The records of one input object, like the file readers give them for a file. JSONL and gzipped
 * JSONL are streamed from the GetObject body; Parquet (which needs random access) is downloaded to a
 * temporary file first, deleted once read. Memory stays bounded by the readers' own buffers.
 */
export async function* readS3Object(client: S3Client, object: S3Input, ctx: FileReadContext): AsyncGenerator<SourceItem> {
  if (object.format !== 'parquet') {
    yield* readJsonl({ ...ctx, open: () => objectStream(client, object, ctx.signal) });
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'gemflow-s3-input-'));
  try {
    const localPath = join(dir, 'object.parquet');
    try {
      await pipeline(objectStream(client, object, ctx.signal), createWriteStream(localPath), { signal: ctx.signal });
    } catch (e) {
      if (ctx.signal.aborted) return;
      // The network or the store, not the data: the run stops with the object uncommitted.
      throw inputUnreadable(object, '(download)', e, true);
    }
    yield* readParquet({ ...ctx, localPath });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The object's body as a stream counting the bytes it passes (progress); errors end it. */
function objectStream(client: S3Client, object: S3Input, signal: AbortSignal): Readable & { bytesRead: number } {
  const out = new CountingStream();
  client
    .send(new GetObjectCommand({ Bucket: object.bucket, Key: object.key, IfMatch: object.etag || undefined }), { abortSignal: signal })
    .then((res) => pipeline(res.Body as Readable, out))
    .catch((e: unknown) => out.destroy(new GemflowError('s3_request_failed', `cannot read ${object.path}: ${errorMessage(e)}`, { retriable: true, cause: e })));
  return out;
}

class CountingStream extends PassThrough {
  bytesRead = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytesRead += chunk.length;
    done(null, chunk);
  }
}

function input(bucket: string, key: string, format: InputFormat, size: number, modified: Date | undefined, etag: string | undefined): S3Input {
  const url = s3Url(bucket, key);
  return { path: url, absPath: url, format, bucket, key, size, mtimeMs: modified?.getTime() ?? 0, etag: etag ?? '' };
}

function namedFormat(key: string): InputFormat {
  if (key.endsWith('.parquet')) return 'parquet';
  if (key.endsWith('.gz')) return 'jsonl.gz';
  return 'jsonl';
}
