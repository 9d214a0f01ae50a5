/**
 * The S3 shard sink against a real MinIO (scripts/minio/minio.sh): shards read back by DuckDB from
 * downloaded copies, writtenDocs from the bucket after reopening, a multipart shard checked by its
 * composite SHA-256, and the cleanup of what a crashed writer leaves in the bucket.
 */
import { CreateMultipartUploadCommand, DeleteObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Config } from '../../src/config/schema.js';
import { originKey, type Origin } from '../../src/envelope.js';
import { S3ShardStore } from '../../src/s3/s3-shard-store.js';
import { createS3ShardSink } from '../../src/sinks/s3-shard-sink.js';
import { docRows, duck, kafkaOrigin, sinkConfig, sqlString, tempDir, writtenKeys } from '../sinks/fixtures.js';
import { startMinio, type Minio } from './minio.js';

const MiB = 1024 * 1024;

describe('S3 shard sink (MinIO)', () => {
  let minio: Minio;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let bucketSeq = 0;
  const newBucket = async () => {
    const name = `sink-${process.pid}-${++bucketSeq}`;
    await minio.createBucket(name);
    return name;
  };
  const sinkFor = (url: string, over: Record<string, unknown> = {}, s3: Partial<S3Config> = {}) =>
    createS3ShardSink(sinkConfig(url, { maxRows: 6, ...over }), S3Config.parse(s3), { client: minio.client, tmpDir: join(tmp.dir, 'upload') });

  beforeAll(async () => {
    minio = await startMinio();
    tmp = await tempDir('s3-sink');
  });
  afterAll(async () => {
    await minio?.stop();
    await tmp?.cleanup();
  });

  /** Downloads every shard under the prefix and reads all rows with DuckDB. */
  async function readBack(bucket: string, prefix: string): Promise<Array<Record<string, unknown>>> {
    const db = await duck();
    try {
      const rows: Array<Record<string, unknown>> = [];
      for (const key of (await minio.keys(bucket, prefix)).filter((k) => k.endsWith('.parquet'))) {
        const local = join(tmp.dir, key.replaceAll('/', '_'));
        await writeFile(local, await minio.getBytes(bucket, key));
        rows.push(...(await db.all(`SELECT document_id, origin_offset, trajectory_id FROM read_parquet(${sqlString(local)})`)));
      }
      return rows;
    } finally {
      db.close();
    }
  }

  it('uploads shards with their indexes, reports them durable, and puts the manifest last', async () => {
    const bucket = await newBucket();
    const sink = sinkFor(`s3://${bucket}/run-1`);
    const durable: Origin[] = [];
    sink.onDurable = (o) => durable.push(...o);
    await sink.open();
    const origins = Array.from({ length: 10 }, (_, i) => kafkaOrigin('corpus', i % 2, i));
    for (const o of origins) await sink.writeDoc(o, docRows(o, 2));
    await sink.close();

    expect(durable.map(originKey).sort()).toEqual(origins.map(originKey).sort());
    const shards = sink.shards();
    expect(shards.length).toBeGreaterThanOrEqual(4); // 2 partitions x 5 docs x 2 rows, 6 rows per shard
    for (const s of shards) expect(s.path).toMatch(new RegExp(`^s3://${bucket}/run-1/data/.+\\.parquet$`));
    const keys = await minio.keys(bucket, 'run-1/');
    const parquet = keys.filter((k) => k.endsWith('.parquet'));
    expect(parquet.map((k) => `s3://${bucket}/${k}`).sort()).toEqual(shards.map((s) => s.path).sort());
    for (const k of parquet) expect(keys).toContain(k.replace('/data/', '/_gemflow/index/').replace(/\.parquet$/, '.docs.json'));
    expect(await minio.uploads(bucket)).toEqual([]); // no multipart upload left open

    const rows = await readBack(bucket, 'run-1/');
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r.trajectory_id)).size).toBe(20);

    const url = await sink.writeManifest({ version: 1, startedAt: '', finishedAt: '', config: { apiKey: 'k' }, funnel: { documents: { received: 10, written: 10, dropped: {}, rejected: {}, deadLettered: {} }, trajectories: { generated: 20, written: 20, rejected: {}, dropped: {} } }, tokens: {}, shards, statsSummary: {}, simulated: true });
    expect(url).toBe(`s3://${bucket}/run-1/_gemflow/manifest.json`);
    const manifest = JSON.parse(Buffer.from(await minio.getBytes(bucket, 'run-1/_gemflow/manifest.json')).toString('utf8'));
    expect(manifest.shards).toHaveLength(shards.length);
    expect(manifest.config.apiKey).toBe('[redacted]');
    // The dataset card goes with the output: config at the top, card and histograms under _gemflow/card/.
    const after = await minio.keys(bucket, 'run-1/');
    expect(after).toContain('run-1/.huggingface.yaml');
    expect(after).toContain('run-1/_gemflow/card/README.md');
    expect(after).toContain('run-1/_gemflow/card/n_messages.svg');
    const card = Buffer.from(await minio.getBytes(bucket, 'run-1/_gemflow/card/README.md')).toString('utf8');
    expect(card).toContain('path: data/*.parquet');
    expect(card).toMatch(/\| n_messages \| 5\.5 \| 5 \| 6 \| 46\.1 \|/); // docRows: 5 + i messages, i in 0..1
  });

  it('moves an output of the legacy layout (shards/ with indexes beside, manifest.json at the top) into the dataset layout', async () => {
    const bucket = await newBucket();
    const origins = Array.from({ length: 6 }, (_, i) => kafkaOrigin('t', 0, i));
    const first = sinkFor(`s3://${bucket}/old`);
    await first.open();
    for (const o of origins) await first.writeDoc(o, docRows(o, 1));
    await first.close();
    await first.writeManifest({ version: 1, startedAt: '2025-01-01T00:00:00.000Z', finishedAt: '2025-01-01T00:00:01.000Z', config: {}, funnel: { documents: { received: 6, written: 6, dropped: {}, rejected: {}, deadLettered: {} }, trajectories: { generated: 6, written: 6, rejected: {}, dropped: {} } }, tokens: {}, shards: first.shards(), statsSummary: {}, simulated: true });
    // Rewind it to the legacy layout.
    const legacyKey = (k: string) => k.replace('old/data/', 'old/shards/').replace('old/_gemflow/index/', 'old/shards/').replace('old/_gemflow/manifest.json', 'old/manifest.json');
    const moved = (await minio.keys(bucket, 'old/')).filter((k) => legacyKey(k) !== k);
    for (const k of moved) {
      await minio.client.send(new PutObjectCommand({ Bucket: bucket, Key: legacyKey(k), Body: await minio.getBytes(bucket, k) }));
      await minio.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    }
    const legacy = (await minio.keys(bucket, 'old/')).sort();
    expect(legacy.filter((k) => k.startsWith('old/shards/')).length).toBe(2 * first.shards().length);

    const reopened = sinkFor(`s3://${bucket}/old`);
    await reopened.open();
    expect([...(await writtenKeys(reopened, origins.map((o) => o.partition)))].sort()).toEqual(origins.map(originKey).sort());
    const keys = await minio.keys(bucket, 'old/');
    expect(keys.filter((k) => k.startsWith('old/shards/') || k === 'old/manifest.json')).toEqual([]);
    for (const k of moved) expect(keys).toContain(k);
    // A replay of the same documents adds nothing.
    for (const o of origins) await reopened.writeDoc(o, docRows(o, 1));
    await reopened.close();
    expect((await minio.keys(bucket, 'old/')).sort()).toEqual(keys.sort());
    expect(await readBack(bucket, 'old/')).toHaveLength(6);
  });

  it('reports written documents from the bucket after reopening, per partition, and rewrites the same keys on a replay', async () => {
    const bucket = await newBucket();
    const origins = Array.from({ length: 8 }, (_, i) => kafkaOrigin('t', i % 2, i));
    const first = sinkFor(`s3://${bucket}/out`);
    await first.open();
    for (const o of origins) await first.writeDoc(o, docRows(o, 1));
    await first.close();
    const keysBefore = await minio.keys(bucket);

    const reopened = sinkFor(`s3://${bucket}/out`);
    await reopened.open();
    expect([...(await writtenKeys(reopened, ['t/0', 't/1']))].sort()).toEqual(origins.map(originKey).sort());
    expect([...(await writtenKeys(reopened, ['t/1']))].sort()).toEqual(origins.filter((o) => o.partition === 't/1').map(originKey).sort());
    expect([...(await writtenKeys(reopened, ['t/1'], 5))].sort()).toEqual(origins.filter((o) => o.partition === 't/1' && o.offset >= 5).map(originKey).sort());
    // A replay of the same documents produces the same shard names: nothing is added.
    for (const o of origins) await reopened.writeDoc(o, docRows(o, 1));
    await reopened.close();
    expect(await minio.keys(bucket)).toEqual(keysBefore);
    expect(await readBack(bucket, 'out/')).toHaveLength(8);
  });

  it('uploads a shard larger than the part size as a multipart upload whose composite checksum matches', async () => {
    const bucket = await newBucket();
    // ~11 MiB of incompressible messages in one shard: three 5 MiB parts.
    const sink = sinkFor(`s3://${bucket}/big`, { maxRows: 1000, compression: 'none', rowGroupRows: 50 }, { partSizeBytes: 5 * MiB, uploadConcurrency: 2 });
    await sink.open();
    const origins = Array.from({ length: 110 }, (_, i) => kafkaOrigin('big', 0, i));
    for (const o of origins) await sink.writeDoc(o, docRows(o, 1, 100 * 1024));
    await sink.flush();
    const [shard] = sink.shards();
    expect(sink.shards()).toHaveLength(1);
    expect(shard!.bytes).toBeGreaterThan(10 * MiB);
    await sink.close();
    const rows = await readBack(bucket, 'big/');
    expect(rows.map((r) => Number(r.origin_offset)).sort((a, b) => a - b)).toEqual(origins.map((o) => o.offset));
  });

  it('open() aborts stale multipart uploads and deletes stale orphan indexes, and leaves younger ones to their writer', async () => {
    const bucket = await newBucket();
    const { UploadId } = await minio.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'p/data/crashed.parquet' }));
    await minio.client.send(new UploadPartCommand({ Bucket: bucket, Key: 'p/data/crashed.parquet', UploadId, PartNumber: 1, Body: Buffer.alloc(5 * MiB, 1) }));
    await minio.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'p/_gemflow/index/crashed.docs.json', Body: '{}' }));
    await minio.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'p/other/keep.docs.json', Body: '{}' })); // outside the index folder
    const store = new S3ShardStore(minio.client, `s3://${bucket}/p`, { partSizeBytes: 5 * MiB, uploadConcurrency: 1, tmpDir: join(tmp.dir, 'upload') });

    await store.open(Date.now() - 60_000); // everything is younger than the horizon: a live peer's
    expect(await minio.uploads(bucket)).toEqual(['p/data/crashed.parquet']);
    expect(await minio.keys(bucket)).toContain('p/_gemflow/index/crashed.docs.json');
    expect(await store.indexes()).toEqual([]); // an index without its shard is not a shard

    await store.open(Date.now() + 60_000); // now all of it is stale
    expect(await minio.uploads(bucket)).toEqual([]);
    expect(await minio.keys(bucket)).toEqual(['p/other/keep.docs.json']);
  });
});
