import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runProduce } from '../../src/kafka/produce-command.js';
import { produceCorpus, type ProduceProgress } from '../../src/kafka/produce.js';
import { KafkaSource } from '../../src/sources/kafka-source.js';
import { consumeRaw, memoryLogger, readItems, sourceConfig, testKafka, uniqueName } from './helpers.js';

const brokers = inject('kafkaBrokers');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemflow-produce-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Documents read back from the topic: id -> {text, partition}. */
async function readBack(topic: string, count: number): Promise<Map<string, { text: string; url: unknown }>> {
  const source = new KafkaSource(sourceConfig(brokers, topic, uniqueName('g')), { logger: memoryLogger() });
  try {
    const items = await readItems(source, count);
    return new Map(items.map((i) => (i.kind === 'doc' ? [i.doc.id, { text: i.doc.text, url: i.doc.meta.url }] : [`bad ${i.bad.code}`, { text: '', url: undefined }])));
  } finally {
    await source.close();
  }
}

describe('produceCorpus', () => {
  it('loads a gzipped JSONL corpus into a new 3-partition topic, keyed by document id, skipping bad lines', async () => {
    const file = join(dir, 'corpus.jsonl.gz');
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `doc-${i}`, text: `document number ${i}`, url: `https://example.org/${i}` }));
    lines.splice(10, 0, 'not json at all', JSON.stringify({ id: 'no-text' }));
    await writeFile(file, gzipSync(lines.join('\n') + '\n'));
    const topic = uniqueName('produce-jsonl');
    const seen: ProduceProgress[] = [];

    const result = await produceCorpus({ file, topic, brokers, createTopic: true, partitions: 3, idField: 'id', onProgress: (p) => seen.push(p), logger: memoryLogger() });

    expect(result).toMatchObject({ sent: 50, skipped: 2 });
    expect(result.bytesRead).toBe(result.totalBytes);
    expect(seen.at(-1)?.sent).toBe(50);
    const admin = testKafka(brokers).admin();
    await admin.connect();
    const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    expect(meta?.partitions).toHaveLength(3);
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(50);

    for (const m of await consumeRaw(brokers, topic, 50)) expect(m.key).toBe((JSON.parse(m.value ?? '{}') as { id?: string }).id);
    const docs = await readBack(topic, 50);
    expect([...docs.keys()].sort()).toEqual(Array.from({ length: 50 }, (_, i) => `doc-${i}`).sort());
    expect(docs.get('doc-7')).toEqual({ text: 'document number 7', url: 'https://example.org/7' });
  });

  it('loads a Parquet corpus written by DuckDB', async () => {
    const file = join(dir, 'corpus.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`COPY (SELECT 'p-' || i AS id, 'parquet text ' || i AS text FROM range(20) t(i)) TO '${file}' (FORMAT parquet)`);
    conn.closeSync();
    const topic = uniqueName('produce-parquet');

    const result = await produceCorpus({ file, topic, brokers, createTopic: true, idField: 'id', logger: memoryLogger() });

    expect(result).toMatchObject({ sent: 20, skipped: 0 });
    const docs = await readBack(topic, 20);
    expect(docs.get('p-13')).toEqual({ text: 'parquet text 13', url: undefined });
    expect(docs.size).toBe(20);
  });

  it('refuses a missing topic unless asked to create it', async () => {
    const file = join(dir, 'small.jsonl');
    await writeFile(file, JSON.stringify({ id: 'a', text: 'b' }) + '\n');
    await expect(produceCorpus({ file, topic: uniqueName('absent'), brokers, createTopic: false, idField: 'id', logger: memoryLogger() })).rejects.toMatchObject({
      code: 'kafka_topic_missing',
    });
  });

  it('runs as the produce command: creates the topic with the asked partitions and prints a summary', async () => {
    const file = join(dir, 'cli.jsonl');
    await writeFile(file, Array.from({ length: 12 }, (_, i) => JSON.stringify({ id: `c${i}`, text: `cli ${i}` })).join('\n'));
    const topic = uniqueName('produce-cli');
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let printed = '';
    stdout.on('data', (b: Buffer) => (printed += b.toString()));

    const code = await runProduce({ file, topic, brokers, partitions: 2, idField: 'id' }, { stdout, stderr });

    expect(code).toBe(0);
    expect(printed).toBe(`produced 12 documents to ${topic}, 0 skipped\n`);
    const admin = testKafka(brokers).admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    expect(offsets).toHaveLength(2);
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(12);
  });
});
