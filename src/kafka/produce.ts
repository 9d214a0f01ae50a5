import { stat } from 'node:fs/promises';
import { Kafka, Partitioners, type Admin, type Message } from 'kafkajs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../config/schema.js';
import type { SourceItem } from '../envelope.js';
import { errorMessage, GemflowError } from '../errors.js';
import { createS3Client } from '../s3/s3-client.js';
import { isS3Url } from '../s3/s3-url.js';
import { expandPaths, type InputFile } from '../sources/expand-paths.js';
import type { FileReadContext } from '../sources/file-read-context.js';
import { readJsonl } from '../sources/read-jsonl.js';
import { readParquet } from '../sources/read-parquet.js';
import { listS3Inputs, readS3Object, type S3Input } from '../sources/s3-objects.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { createTopicAndWait } from './create-topic.js';
import { kafkaClientConfig, type KafkaConnectionConfig } from './client-options.js';

export interface ProduceProgress {
  sent: number;
  /** Records left out because they do not decode (bad JSON, no text, too large, ...). */
  skipped: number;
  bytesRead: number;
  totalBytes: number;
}

export interface ProduceCorpusOptions extends Partial<KafkaConnectionConfig> {
  /**
   * A .jsonl, .jsonl.gz or .parquet file (or a directory / glob of them, see expandPaths), or an
   * `s3://bucket/prefix` (see listS3Inputs).
   */
  file: string;
  /** Client settings for an s3:// `file`; default: the SDK's environment (AWS_ENDPOINT_URL_S3, AWS_REGION, ...). */
  s3?: Partial<S3Config>;
  topic: string;
  brokers: string[];
  /** Create the topic (with this many partitions, default 1) when it does not exist. */
  createTopic: boolean;
  partitions?: number;
  idField: string;
  textField?: string;
  /** Larger records are skipped (default 1 MiB, Kafka's default message.max.bytes). */
  maxRecordBytes?: number;
  onProgress?: (p: ProduceProgress) => void;
  signal?: AbortSignal;
  logger?: Logger;
}

/** A produce request carries at most this many value bytes, so no partition's batch can exceed 1 MB. */
const MAX_BATCH_BYTES = 900 * 1024;
const MAX_BATCH_RECORDS = 1000;

/**
 * `gemflow produce`: loads a corpus into a topic, one message per document. The value is the
 * document as JSON ({id, text, ...small scalar fields}, as the file source decodes it, so a Kafka run
 * sees the same ids as a file run: a record without an id gets the id derived from its file
 * position); the key is the document id. Records that do not decode are skipped and counted.
 * The producer is idempotent (acks=-1), so a retried request never duplicates a message.
 */
export async function produceCorpus(opts: ProduceCorpusOptions): Promise<ProduceProgress> {
  const signal = opts.signal ?? new AbortController().signal;
  const logger = opts.logger ?? createLogger();
  const conn = { brokers: opts.brokers, clientId: opts.clientId ?? 'gemflow-produce', ssl: opts.ssl, sasl: opts.sasl };
  const kafka = new Kafka(kafkaClientConfig(conn, logger));
  const decode = { idField: opts.idField, textField: opts.textField ?? 'text', maxRecordBytes: opts.maxRecordBytes ?? 1024 * 1024 };

  const s3: S3Client | undefined = isS3Url(opts.file) ? createS3Client(opts.s3) : undefined;
  const files: Array<InputFile | S3Input> = s3 ? await listS3Inputs(s3, opts.file, signal) : await expandPaths([opts.file]);
  const sizes = await Promise.all(files.map(async (f) => ('key' in f ? f.size : (await stat(f.absPath)).size)));
  const progress: ProduceProgress = { sent: 0, skipped: 0, bytesRead: 0, totalBytes: sizes.reduce((a, b) => a + b, 0) };

  const unreachable = (e: unknown) =>
    new GemflowError('kafka_unreachable', `cannot connect to Kafka at ${opts.brokers.join(',')}: ${errorMessage(e)}`, { retriable: true, cause: e });
  const admin = kafka.admin();
  await admin.connect().catch((e: unknown) => {
    throw unreachable(e);
  });
  try {
    await ensureTopic(admin, opts);
  } finally {
    await admin.disconnect();
  }

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect().catch((e: unknown) => {
    throw unreachable(e);
  });
  try {
    let batch: Message[] = [];
    let batchBytes = 0;
    let doneBytes = 0; // bytes of the files already read to the end
    const send = async () => {
      if (batch.length === 0) return;
      await producer.send({ topic: opts.topic, messages: batch, acks: -1 });
      progress.sent += batch.length;
      batch = [];
      batchBytes = 0;
      opts.onProgress?.({ ...progress });
    };
    for (let i = 0; i < files.length && !signal.aborted; i++) {
      const file = files[i]!;
      const ctx: FileReadContext = { file, size: sizes[i]!, decode, skipBelow: 0, signal, progress: { bytesRead: 0, endOffset: 0 } };
      const items: AsyncIterable<SourceItem> = 'key' in file ? readS3Object(s3!, file, ctx) : file.format === 'parquet' ? readParquet(ctx) : readJsonl(ctx);
      for await (const item of items) {
        progress.bytesRead = doneBytes + ctx.progress.bytesRead;
        if (item.kind === 'bad') {
          if (progress.skipped++ < 5) logger.warn('produce: record skipped', { origin: `${file.path}:${item.bad.origin.offset + 1}`, code: item.bad.code });
          continue;
        }
        const { id, text, meta } = item.doc;
        const value = Buffer.from(JSON.stringify({ [decode.idField]: id, [decode.textField]: text, ...meta }));
        if (batchBytes + value.length > MAX_BATCH_BYTES || batch.length >= MAX_BATCH_RECORDS) await send();
        batch.push({ key: id, value });
        batchBytes += value.length;
      }
      doneBytes += sizes[i]!;
      progress.bytesRead = doneBytes;
    }
    await send();
  } catch (e) {
    throw new GemflowError('kafka_produce_failed', `cannot produce ${opts.file} to topic ${opts.topic}: ${errorMessage(e)}`, { retriable: true, cause: e });
  } finally {
    await producer.disconnect();
    s3?.destroy();
  }
  return progress;
}

/** Creates the topic when asked (no-op when it exists), or checks that it exists. */
async function ensureTopic(admin: Admin, opts: ProduceCorpusOptions): Promise<void> {
  if (opts.createTopic) {
    const { brokers } = await admin.describeCluster();
    await createTopicAndWait(admin, { topic: opts.topic, numPartitions: opts.partitions ?? 1, replicationFactor: Math.min(3, brokers.length) });
  } else if (!(await admin.listTopics()).includes(opts.topic)) {
    throw new GemflowError('kafka_topic_missing', `topic ${opts.topic} does not exist on ${opts.brokers.join(',')} (pass --create-topic to create it)`);
  }
}
