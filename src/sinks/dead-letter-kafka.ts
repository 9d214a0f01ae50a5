import { Kafka, Partitioners, type Message, type Producer } from 'kafkajs';
import { originKey, type Origin } from '../envelope.js';
import { errorMessage, GemflowError } from '../errors.js';
import { createTopicAndWait } from '../kafka/create-topic.js';
import { kafkaClientConfig, type KafkaConnectionConfig } from '../kafka/client-options.js';
import { trackedSockets, type TrackedSockets } from '../kafka/tracked-sockets.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { DEFAULT_MAX_RAW_BYTES, deadLetterRaw } from './dead-letter-file.js';
import type { DeadLetter, DeadLetterSink } from './types.js';

export interface KafkaDeadLetterSinkOptions {
  /** Dead letters sent per produce request; write() waits for the send when this many are pending (default 100). */
  batchSize?: number;
  logger?: Logger;
  /** Bound on the record kept as the value (default 64 KiB, cut on a character boundary). */
  maxRawBytes?: number;
}

/**
 * Dead letters to a Kafka topic: the value is the original record (`raw`), the key the document id
 * (or the origin key when the record never got one), and headers say where and why it failed:
 * gemflow-stage, gemflow-code, gemflow-message, gemflow-origin ("kafka:<topic>/<p>@<offset>" or
 * "file:<path>:<line>", as in output rows); when the value is only the record's first maxRawBytes,
 * also gemflow-raw-truncated: "true" and gemflow-raw-bytes (the whole record's size). The topic is created (1 partition) when missing.
 * The producer is idempotent with acks=-1; flush() returns once every dead letter is acknowledged.
 */
export class KafkaDeadLetterSink implements DeadLetterSink {
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #sockets: TrackedSockets = trackedSockets();
  readonly #topic: string;
  readonly #batchSize: number;
  readonly #maxRawBytes: number;
  #pending: Message[] = [];
  #ready: Promise<void> | undefined;
  /** The send chain: sends run one after another so dead letters keep their order. */
  #sending: Promise<void> = Promise.resolve();

  constructor(cfg: KafkaConnectionConfig, topic: string, opts: KafkaDeadLetterSinkOptions = {}) {
    this.#topic = topic;
    this.#batchSize = opts.batchSize ?? 100;
    this.#maxRawBytes = opts.maxRawBytes ?? DEFAULT_MAX_RAW_BYTES;
    this.#kafka = new Kafka({ ...kafkaClientConfig(cfg, opts.logger ?? createLogger()), socketFactory: this.#sockets.socketFactory });
    this.#producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async write(dl: DeadLetter): Promise<void> {
    const raw = deadLetterRaw(dl, this.#maxRawBytes);
    this.#pending.push({
      key: dl.documentId ?? originKey(dl.origin),
      value: raw.text,
      headers: {
        'gemflow-stage': dl.stage,
        'gemflow-code': dl.code,
        'gemflow-message': dl.message,
        'gemflow-origin': originLabel(dl.origin),
        ...(raw.truncated && { 'gemflow-raw-bytes': String(raw.bytes), 'gemflow-raw-truncated': 'true' }),
      },
    });
    if (this.#pending.length >= this.#batchSize) await this.#send();
  }

  async flush(): Promise<void> {
    await this.#send();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.#producer.disconnect().finally(() => this.#sockets.destroyAll()); // see trackedSockets
    }
  }

  /** Sends everything pending; a failed batch goes back to the front of the queue for the next try. */
  #send(): Promise<void> {
    const run = this.#sending.then(async () => {
      const batch = this.#pending.splice(0);
      if (batch.length === 0) return;
      try {
        await this.#connect();
        await this.#producer.send({ topic: this.#topic, messages: batch, acks: -1 });
      } catch (e) {
        this.#pending.unshift(...batch);
        throw new GemflowError('dead_letter_write_failed', `cannot write ${batch.length} dead letters to Kafka topic ${this.#topic}: ${errorMessage(e)}`, {
          retriable: true,
          cause: e,
        });
      }
    });
    this.#sending = run.catch(() => {});
    return run;
  }

  #connect(): Promise<void> {
    this.#ready ??= (async () => {
      await this.#producer.connect();
      const admin = this.#kafka.admin();
      await admin.connect();
      try {
        const { brokers } = await admin.describeCluster();
        await createTopicAndWait(admin, { topic: this.#topic, numPartitions: 1, replicationFactor: Math.min(3, brokers.length) });
      } finally {
        await admin.disconnect();
      }
    })().catch((e) => {
      this.#ready = undefined; // try again on the next send
      throw e;
    });
    return this.#ready;
  }
}

/** Same form as OutputRow.origin. */
function originLabel(o: Origin): string {
  return o.kind === 'file' ? `file:${o.file}:${o.line}` : `kafka:${o.topic}/${o.kafkaPartition}@${o.offset}`;
}
