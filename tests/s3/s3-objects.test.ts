/**
 * Input objects in a real MinIO: FileSource over an s3:// prefix (JSONL, gzipped JSONL, Parquet),
 * its checkpoint resume, and `produceCorpus` from s3:// into a real Kafka topic.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SourceItem } from '../../src/envelope.js';
import { produceCorpus } from '../../src/kafka/produce.js';
import { FileSource } from '../../src/sources/file-source.js';
import { listS3Inputs } from '../../src/sources/s3-objects.js';
import { writeParquet } from '../fixtures/write-parquet.js';
import { consumeRaw, uniqueName } from '../kafka/helpers.js';
import { tempDir } from '../sinks/fixtures.js';
import { startMinio, type Minio } from './minio.js';

const jsonl = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `d${from + i}`, text: `text of document ${from + i}` })).join('\n') + '\n';

describe('S3 input objects (MinIO)', () => {
  let minio: Minio;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const bucket = `input-${process.pid}`;
  const s3 = () => ({ endpoint: minio.endpoint, forcePathStyle: true });

  beforeAll(async () => {
    minio = await startMinio();
    tmp = await tempDir('s3-objects');
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: minio.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: minio.env.AWS_SECRET_ACCESS_KEY });
    await minio.createBucket(bucket);
    const put = (Key: string, Body: Uint8Array | string) => minio.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
    await put('corpus/a.jsonl', jsonl(0, 3));
    await put('corpus/b/c.jsonl.gz', gzipSync(jsonl(3, 2)));
    const pq = join(tmp.dir, 'd.parquet');
    await writeParquet(pq, { id: 'UTF8', text: 'UTF8' }, [{ id: 'p0', text: 'parquet row zero' }, { id: 'p1', text: 'parquet row one' }], 1);
    await put('corpus/d.parquet', await readFile(pq));
    await put('corpus/notes.txt', 'not an input');
    await put('corpus/.hidden.jsonl', jsonl(100, 1));
  });
  afterAll(async () => {
    await minio?.stop();
    await tmp?.cleanup();
  });

  async function readAll(source: FileSource): Promise<SourceItem[]> {
    const out: SourceItem[] = [];
    for await (const item of source.read(new AbortController().signal)) out.push(item);
    return out;
  }

  it('lists input objects under a prefix at any depth, sorted by key; an exact key names one object', async () => {
    const found = await listS3Inputs(minio.client, `s3://${bucket}/corpus`);
    expect(found.map((f) => [f.key, f.format])).toEqual([
      ['corpus/a.jsonl', 'jsonl'],
      ['corpus/b/c.jsonl.gz', 'jsonl.gz'],
      ['corpus/d.parquet', 'parquet'],
    ]);
    expect((await listS3Inputs(minio.client, `s3://${bucket}/corpus/notes.txt`)).map((f) => f.format)).toEqual(['jsonl']);
    await expect(listS3Inputs(minio.client, `s3://${bucket}/nothing-here`)).rejects.toMatchObject({ code: 'source_no_files' });
  });

  it('streams every record with its object URL as origin, and resumes from the checkpoint', async () => {
    const stateDir = join(tmp.dir, 'state');
    const cfg = { type: 'files' as const, paths: [`s3://${bucket}/corpus/`], idField: 'id', textField: 'text', maxRecordBytes: 1024 * 1024 };
    const source = new FileSource(cfg, { stateDir, s3: s3() });
    const items = await readAll(source);
    expect(items.map((i) => (i.kind === 'doc' ? `${i.doc.id}@${i.doc.origin.partition}:${i.doc.origin.offset}` : `bad ${i.bad.code}`))).toEqual([
      `d0@s3://${bucket}/corpus/a.jsonl:0`,
      `d1@s3://${bucket}/corpus/a.jsonl:1`,
      `d2@s3://${bucket}/corpus/a.jsonl:2`,
      `d3@s3://${bucket}/corpus/b/c.jsonl.gz:0`,
      `d4@s3://${bucket}/corpus/b/c.jsonl.gz:1`,
      `p0@s3://${bucket}/corpus/d.parquet:0`,
      `p1@s3://${bucket}/corpus/d.parquet:1`,
    ]);
    const progress = source.progress()!;
    expect(progress.done).toBe(progress.total);
    // Commit a.jsonl entirely and the first Parquet row; a new source yields only the rest.
    await source.commit(new Map([[`s3://${bucket}/corpus/a.jsonl`, 3], [`s3://${bucket}/corpus/d.parquet`, 1]]));
    await source.close();
    const again = new FileSource(cfg, { stateDir, s3: s3() });
    expect((await readAll(again)).map((i) => (i.kind === 'doc' ? i.doc.id : 'bad'))).toEqual(['d3', 'd4', 'p1']);
    await again.close();
  });

  it('produces the objects under a prefix into a Kafka topic', async () => {
    const brokers = inject('kafkaBrokers');
    const topic = uniqueName('s3-produce');
    const result = await produceCorpus({ file: `s3://${bucket}/corpus`, topic, brokers, createTopic: true, idField: 'id', s3: s3() });
    expect(result).toMatchObject({ sent: 7, skipped: 0 });
    const ids = (await consumeRaw(brokers, topic, 7)).map((m) => (JSON.parse(m.value ?? '{}') as { id: string }).id);
    expect(ids.sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'p0', 'p1']);
  });
});
