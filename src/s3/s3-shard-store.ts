import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { GemflowError, errorMessage } from '../errors.js';
import { RUNS_DIR, publishRun, type ManifestStore, type RunManifest } from '../sinks/manifest.js';
import {
  DATA_DIR,
  INDEX_DIR,
  INDEX_SUFFIX,
  LEGACY_MANIFEST_PATH,
  LEGACY_SHARDS_DIR,
  MANIFEST_PATH,
  SHARD_SUFFIXES,
  ShardIndex,
  TMP_SUFFIX,
  shardFormatOf,
  shardSuffixOf,
  type ShardFormat,
} from '../sinks/shard-index.js';
import type { ListedShard, ShardStore } from '../sinks/shard-store.js';
import { isDeadWritersFile } from '../sinks/writer-tag.js';
import { dirPrefix, parseS3Url, s3Url } from './s3-url.js';

export interface S3ShardStoreOptions {
  /** Multipart part size (>= 5 MiB). */
  partSizeBytes: number;
  /** Parts uploaded at once; memory is partSizeBytes x uploadConcurrency per shard being uploaded. */
  uploadConcurrency: number;
  /** Local directory for shards being written; default `<os tmpdir>/gemflow-s3-shards`. */
  tmpDir?: string;
}

/**
 * Shards in object storage under `s3://bucket/prefix`, the same dataset layout as a local output
 * directory (see shard-index.ts): `<prefix>/data/<name>.parquet` (or `.arrow`), its index
 * `<prefix>/_gemflow/index/<name>.docs.json`, `<prefix>/_runs/<runId>.json` and
 * `<prefix>/_gemflow/manifest.json`. An output of the legacy layout (`<prefix>/shards/`) is moved into
 * it by open(): each index copied and deleted before its shard, so a crash part-way is finished by the
 * next open().
 *
 * Publishing a shard: the index object is put first, then the local file is uploaded (multipart, parts
 * checked by SHA-256 on arrival), then HeadObject must report the file's size and its SHA-256 checksum
 * (composite over the parts for a multipart upload) before publish() returns. A multipart upload
 * becomes visible only when completed, and a failed one is aborted, so a shard key either holds the
 * whole shard or nothing; and a visible shard always has its index (an index without its shard is left
 * from a crash, skipped by indexes() and deleted by open() once stale). Keys come from the shard name,
 * so a replay rewrites the same keys.
 */
export class S3ShardStore implements ShardStore {
  readonly tmpDir: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  /** `<prefix>/` or empty */
  readonly #prefix: string;
  readonly #dataPrefix: string;
  readonly #indexPrefix: string;
  readonly #opts: S3ShardStoreOptions;

  constructor(client: S3Client, url: string, opts: S3ShardStoreOptions) {
    const { bucket, key } = parseS3Url(url);
    this.#client = client;
    this.#bucket = bucket;
    this.#prefix = dirPrefix(key);
    this.#dataPrefix = `${this.#prefix}${DATA_DIR}/`;
    this.#indexPrefix = `${this.#prefix}${INDEX_DIR}/`;
    this.#opts = opts;
    this.tmpDir = opts.tmpDir ?? join(tmpdir(), 'gemflow-s3-shards');
  }

  async open(staleBefore: number): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    await this.#deleteStaleTmpFiles(staleBefore);
    await this.#abortStaleUploads(staleBefore);
    await this.#migrateLegacyLayout();
    const { indexes, data } = await this.#listShardObjects();
    for (const o of indexes) {
      const key = o.Key!;
      const orphan = !data.has(key.slice(this.#indexPrefix.length, -INDEX_SUFFIX.length));
      if (orphan && (o.LastModified?.getTime() ?? 0) < staleBefore) await this.#delete(key);
    }
  }

  /** Move `<prefix>/shards/` (indexes first, then data files) and `<prefix>/manifest.json` into the dataset layout. */
  async #migrateLegacyLayout(): Promise<void> {
    const legacy = `${this.#prefix}${LEGACY_SHARDS_DIR}/`;
    const keys = (await this.#listObjects(legacy)).map((o) => o.Key!).filter((k) => !k.slice(legacy.length).includes('/'));
    const moves = [
      ...keys.filter((k) => k.endsWith(INDEX_SUFFIX)).map((k) => [k, `${this.#indexPrefix}${k.slice(legacy.length)}`]),
      ...keys.filter((k) => shardSuffixOf(k)).map((k) => [k, `${this.#dataPrefix}${k.slice(legacy.length)}`]),
      ...((await this.#exists(`${this.#prefix}${LEGACY_MANIFEST_PATH}`)) && !(await this.#exists(`${this.#prefix}${MANIFEST_PATH}`))
        ? [[`${this.#prefix}${LEGACY_MANIFEST_PATH}`, `${this.#prefix}${MANIFEST_PATH}`]]
        : []),
    ];
    for (const [from, to] of moves) {
      await this.#request(`copy ${from} to ${to}`, () => this.#client.send(new CopyObjectCommand({ Bucket: this.#bucket, Key: to!, CopySource: `${this.#bucket}/${encodeURIComponent(from!).replaceAll('%2F', '/')}`, ChecksumAlgorithm: 'SHA256' })));
      await this.#delete(from!);
    }
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return true;
    } catch (e) {
      if ((e as { name?: string }).name === 'NotFound' || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw new GemflowError('s3_request_failed', `S3 head ${key} in bucket ${this.#bucket} failed: ${errorMessage(e)}`, { retriable: true, cause: e });
    }
  }

  async #delete(key: string): Promise<void> {
    await this.#request(`delete ${key}`, () => this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })));
  }

  /** Write an object of the output (the dataset card, `.huggingface.yaml`); `rel` is relative to the prefix. */
  async putFile(rel: string, data: string, contentType = 'text/plain; charset=utf-8'): Promise<string> {
    const key = `${this.#prefix}${rel}`;
    await this.#request(`put ${key}`, () => this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: data, ContentType: contentType, ChecksumAlgorithm: 'SHA256' })));
    return s3Url(this.#bucket, key);
  }

  /** Download a shard (`s3://` URL from listShards) to a local file. */
  async download(url: string, path: string): Promise<void> {
    const { key } = parseS3Url(url);
    const res = await this.#request(`get ${key}`, () => this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key })));
    await pipeline(res.Body as Readable, createWriteStream(path));
  }

  async publish(tmpPath: string, index: ShardIndex): Promise<string> {
    const key = this.#dataKey(index);
    const indexKey = `${this.#indexPrefix}${index.name}${INDEX_SUFFIX}`;
    await this.#request(`put ${indexKey}`, () => this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: indexKey, Body: JSON.stringify(index), ContentType: 'application/json', ChecksumAlgorithm: 'SHA256' })));
    const { size } = await stat(tmpPath);
    const expected = await fileChecksum(tmpPath, this.#opts.partSizeBytes);
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: createReadStream(tmpPath), ContentLength: size, ContentType: index.format === 'arrow' ? 'application/vnd.apache.arrow.file' : 'application/vnd.apache.parquet', ChecksumAlgorithm: 'SHA256' },
      partSize: this.#opts.partSizeBytes,
      queueSize: this.#opts.uploadConcurrency,
      leavePartsOnError: false, // a failed multipart upload is aborted: no parts left behind
    });
    try {
      await upload.done();
    } catch (e) {
      throw new GemflowError('s3_upload_failed', `cannot upload shard to ${s3Url(this.#bucket, key)}: ${errorMessage(e)}`, { retriable: true, cause: e });
    }
    const head = await this.#request(`check ${key}`, () => this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key, ChecksumMode: 'ENABLED' })));
    if (head.ContentLength !== size || head.ChecksumSHA256 !== expected) {
      await this.#delete(key);
      throw new GemflowError(
        's3_upload_corrupt',
        `uploaded shard ${s3Url(this.#bucket, key)} does not match its file: ${head.ContentLength} bytes, sha256 ${head.ChecksumSHA256 ?? '(none)'}; expected ${size} bytes, sha256 ${expected}`,
        { retriable: true },
      );
    }
    await unlink(tmpPath);
    return s3Url(this.#bucket, key);
  }

  async indexes(): Promise<ShardIndex[]> {
    const out: ShardIndex[] = [];
    for (const s of await this.listShardIndexes()) out.push(await s.readIndex());
    return out;
  }

  /** One listing; an index is fetched (one GET) only when read, and not kept. */
  async listShardIndexes(): Promise<ListedShard[]> {
    const { indexes, data } = await this.#listShardObjects();
    const out: ListedShard[] = [];
    for (const key of indexes.map((o) => o.Key!).sort()) {
      const name = key.slice(this.#indexPrefix.length, -INDEX_SUFFIX.length);
      const format = data.get(name);
      if (format === undefined) continue;
      out.push({ name, format, readIndex: () => this.#readIndex(key) });
    }
    return out;
  }

  /** The run as `_runs/<runId>.json`, then the merged `manifest.json` (see manifest.ts). */
  publishRun(manifest: RunManifest): Promise<{ path: string; merged: RunManifest }> {
    return publishRun(this.manifestStore(), manifest);
  }

  /** The output's manifest objects: each PutObject is atomic (whole or absent), and run keys are unique. */
  manifestStore(): ManifestStore {
    const runsPrefix = `${this.#prefix}${RUNS_DIR}/`;
    const put = async (key: string, text: string) => {
      await this.#request(`put ${key}`, () => this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: text, ContentType: 'application/json', ChecksumAlgorithm: 'SHA256' })));
      return s3Url(this.#bucket, key);
    };
    const get = async (key: string): Promise<string | null> => {
      try {
        const res = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
        return await res.Body!.transformToString('utf8');
      } catch (e) {
        if ((e as { name?: string }).name === 'NoSuchKey') return null;
        throw new GemflowError('s3_request_failed', `S3 get ${key} in bucket ${this.#bucket} failed: ${errorMessage(e)}`, { retriable: true, cause: e });
      }
    };
    return {
      putRun: async (runId, text) => void (await put(`${runsPrefix}${runId}.json`, text)),
      listRunIds: async () => (await this.#listObjects(runsPrefix)).map((o) => o.Key!.slice(runsPrefix.length)).filter((n) => n.endsWith('.json') && !n.includes('/')).map((n) => n.slice(0, -5)).sort(),
      getRun: (runId) => get(`${runsPrefix}${runId}.json`),
      putMerged: (text) => put(`${this.#prefix}${MANIFEST_PATH}`, text),
      getMerged: () => get(`${this.#prefix}${MANIFEST_PATH}`),
      listShards: async () =>
        (await this.indexes()).map((i) => ({ path: s3Url(this.#bucket, this.#dataKey(i)), rows: i.rows, bytes: i.bytes, partition: i.partition, firstOffset: i.firstOffset, lastOffset: i.lastOffset })),
    };
  }

  async #readIndex(key: string): Promise<ShardIndex> {
    const res = await this.#request(`get ${key}`, () => this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key })));
    let parsed: unknown;
    try {
      parsed = JSON.parse(await res.Body!.transformToString('utf8'));
    } catch (e) {
      throw new GemflowError('shard_index_invalid', `cannot read shard index ${s3Url(this.#bucket, key)}: ${errorMessage(e)}`, { cause: e });
    }
    const r = ShardIndex.safeParse(parsed);
    if (!r.success) throw new GemflowError('shard_index_invalid', `shard index ${s3Url(this.#bucket, key)} is malformed: ${r.error.issues[0]?.message ?? ''}`);
    return r.data;
  }

  #dataKey(index: ShardIndex): string {
    return `${this.#dataPrefix}${index.name}${SHARD_SUFFIXES[index.format ?? 'parquet']}`;
  }

  /** The index objects, and the names (without suffix) of the data objects. */
  async #listShardObjects(): Promise<{ indexes: _Object[]; data: Map<string, ShardFormat> }> {
    const indexes = (await this.#listObjects(this.#indexPrefix)).filter((o) => o.Key!.endsWith(INDEX_SUFFIX) && !o.Key!.slice(this.#indexPrefix.length).includes('/'));
    const data = new Map<string, ShardFormat>();
    for (const o of await this.#listObjects(this.#dataPrefix)) {
      const name = o.Key!.slice(this.#dataPrefix.length);
      const suffix = shardSuffixOf(name);
      if (suffix && !name.includes('/')) data.set(name.slice(0, -suffix.length), shardFormatOf(name) ?? 'parquet');
    }
    return { indexes, data };
  }

  /** Every object under a key prefix. */
  async #listObjects(prefix: string): Promise<_Object[]> {
    const out: _Object[] = [];
    let token: string | undefined;
    do {
      const page = await this.#request(`list ${prefix}`, () => this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token })));
      out.push(...(page.Contents ?? []));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /**
   * Abort multipart uploads under the data prefix started before `staleBefore` (a crashed writer's).
   * Uploads are listed for the whole bucket and filtered here: MinIO lists uploads only for an empty
   * prefix or one exact key.
   */
  async #abortStaleUploads(staleBefore: number): Promise<void> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.#request(`list uploads under ${this.#dataPrefix}`, () => this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.#bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })));
      for (const u of page.Uploads ?? []) {
        if (!(u.Key!.startsWith(this.#dataPrefix) || u.Key!.startsWith(`${this.#prefix}${LEGACY_SHARDS_DIR}/`)) || (u.Initiated?.getTime() ?? 0) >= staleBefore) continue;
        await this.#request(`abort upload of ${u.Key}`, () => this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: u.Key!, UploadId: u.UploadId! })));
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }

  async #deleteStaleTmpFiles(staleBefore: number): Promise<void> {
    for (const name of await readdir(this.tmpDir)) {
      if (!name.endsWith(TMP_SUFFIX)) continue;
      const path = join(this.tmpDir, name);
      const st = await stat(path).catch(() => undefined);
      if (st && (st.mtimeMs < staleBefore || isDeadWritersFile(name))) await unlink(path).catch(() => {});
    }
  }

  /** One S3 request; failures become retriable `s3_request_failed` errors naming what was attempted. */
  async #request<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (e) {
      throw new GemflowError('s3_request_failed', `S3 ${what} in bucket ${this.#bucket} failed: ${errorMessage(e)}`, { retriable: true, cause: e });
    }
  }
}

/**
 * The SHA-256 checksum S3 reports for the file uploaded with `partSize` parts: base64 of the file's
 * digest when it fits one part (a single PutObject), else base64 of the digest of the concatenated part
 * digests, suffixed `-<parts>` (S3's composite multipart checksum).
 */
export async function fileChecksum(path: string, partSize: number): Promise<string> {
  const whole = createHash('sha256');
  const parts: Buffer[] = [];
  let part = createHash('sha256');
  let inPart = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    whole.update(chunk);
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(chunk.length - at, partSize - inPart);
      part.update(chunk.subarray(at, at + take));
      at += take;
      inPart += take;
      if (inPart === partSize) {
        parts.push(part.digest());
        part = createHash('sha256');
        inPart = 0;
      }
    }
  }
  if (inPart > 0) parts.push(part.digest());
  if (parts.length <= 1) return whole.digest('base64');
  return `${createHash('sha256').update(Buffer.concat(parts)).digest('base64')}-${parts.length}`;
}
