import { describe, expect, inject, it } from 'vitest';
import { createTopicAndWait } from '../../src/kafka/create-topic.js';
import { sendMessages, testKafka, uniqueName } from './helpers.js';

const brokers = inject('kafkaBrokers');

describe('createTopicAndWait', () => {
  it('returns only when every partition has a leader (a record to each partition is accepted at once), and is a no-op for an existing topic', async () => {
    const admin = testKafka(brokers).admin();
    await admin.connect();
    try {
      for (let round = 0; round < 5; round++) {
        const topic = uniqueName(`ct-${round}`);
        await createTopicAndWait(admin, { topic, numPartitions: 8, replicationFactor: 1 });
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        expect(topics[0].partitions).toHaveLength(8);
        expect(topics[0].partitions.every((p) => p.leader >= 0)).toBe(true);
        await sendMessages(brokers, topic, Array.from({ length: 8 }, (_, p) => ({ partition: p, value: `r${p}` })));
        const offsets = await admin.fetchTopicOffsets(topic);
        expect(offsets.map((o) => Number(o.high)).sort()).toEqual(Array(8).fill(1));
        // Again: the topic exists, nothing changes, and it still returns once the leaders are known.
        await createTopicAndWait(admin, { topic, numPartitions: 8, replicationFactor: 1 });
        expect((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions).toHaveLength(8);
      }
    } finally {
      await admin.disconnect();
    }
  });
});
