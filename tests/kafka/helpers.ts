import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners, type Message } from 'kafkajs';
import { createTopicAndWait } from '../../src/kafka/create-topic.js';
import type { KafkaSourceConfig } from '../../src/config/schema.js';
import type { SourceItem } from '../../src/envelope.js';
import type { Logger } from '../../src/telemetry/logger.js';
import type { Source, SourceHooks } from '../../src/sources/types.js';

/** A topic or group name no other test uses (auto-creation is off on the test broker). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function testKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'gemflow-test', brokers, logLevel: logLevel.NOTHING });
}

export async function createTopic(brokers: string[], topic: string, partitions: number, replicationFactor = 1): Promise<void> {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    await createTopicAndWait(admin, { topic, numPartitions: partitions, replicationFactor });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sends messages as given (explicit partitions allowed) and waits for the acks. Idempotent, so a
 * request retried on a loaded machine (the ack came late) never writes a record twice.
 */
export async function sendMessages(brokers: string[], topic: string, messages: Message[]): Promise<void> {
  const producer = testKafka(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, messages: messages.slice(i, i + 500), acks: -1 });
  } finally {
    await producer.disconnect();
  }
}

export function sourceConfig(brokers: string[], topic: string, groupId: string, extra: Partial<KafkaSourceConfig> = {}): KafkaSourceConfig {
  return {
    type: 'kafka',
    brokers,
    topics: [topic],
    groupId,
    clientId: 'gemflow-test',
    fromBeginning: true,
    idField: 'id',
    textField: 'text',
    maxRecordBytes: 4 * 1024 * 1024,
    commitIntervalMs: 1000,
    maxInFlightPerPartition: 100_000,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 20_000,
    settleMs: 0,
    ...extra,
  };
}

/** A logger that keeps lines in memory (tests stay quiet; assertions can read them). */
export function memoryLogger(lines: string[] = []): Logger {
  return {
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
  };
}

/**
 * Reads `count` items from a source (calling `each` on every one), then aborts the read. Hook calls
 * are recorded in `events` in the order they happen, interleaved with "item" markers.
 */
export async function readItems(
  source: Source,
  count: number,
  opts: { each?: (item: SourceItem) => Promise<void> | void; hooks?: SourceHooks; events?: string[] } = {},
): Promise<SourceItem[]> {
  const ac = new AbortController();
  const events = opts.events ?? [];
  const hooks: SourceHooks = {
    onPartitionsAssigned: async (p) => {
      events.push(`assigned ${[...p].sort().join(',')}`);
      await opts.hooks?.onPartitionsAssigned?.(p);
    },
    onPartitionsRevoked: async (p) => {
      events.push(`revoked ${[...p].sort().join(',')}`);
      await opts.hooks?.onPartitionsRevoked?.(p);
    },
    onPartitionStart: async (p, offset) => {
      events.push(`start ${p}@${offset}`);
      await opts.hooks?.onPartitionStart?.(p, offset);
    },
  };
  const items: SourceItem[] = [];
  if (count === 0) return items;
  for await (const item of source.read(ac.signal, hooks)) {
    if (events.at(-1) !== 'item') events.push('item');
    items.push(item);
    await opts.each?.(item);
    if (items.length >= count) ac.abort();
  }
  return items;
}

/** "<partition>@<offset>" of each item, e.g. "t/0@3". */
export function positions(items: SourceItem[]): string[] {
  return items.map((i) => {
    const o = i.kind === 'doc' ? i.doc.origin : i.bad.origin;
    return `${o.partition}@${o.offset}`;
  });
}

/** The next offset to commit per partition, after all the given items. */
export function watermarks(items: SourceItem[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const i of items) {
    const o = i.kind === 'doc' ? i.doc.origin : i.bad.origin;
    out.set(o.partition, Math.max(out.get(o.partition) ?? 0, o.offset + 1));
  }
  return out;
}

export interface RawMessage {
  partition: number;
  key: string | undefined;
  value: string | undefined;
  headers: Record<string, string>;
}

/** The first `count` messages of a topic as a plain kafkajs consumer sees them (an independent reader). */
export async function consumeRaw(brokers: string[], topic: string, count: number): Promise<RawMessage[]> {
  const consumer = testKafka(brokers).consumer({ groupId: uniqueName('raw-reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const out: RawMessage[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
            out.push({ partition, key: message.key?.toString(), value: message.value?.toString(), headers });
            if (out.length === count) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}
