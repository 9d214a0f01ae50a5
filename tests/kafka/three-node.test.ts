import { describe, expect, it } from 'vitest';
import { startBroker } from '../../src/kafka/broker.js';
import { KafkaSource } from '../../src/sources/kafka-source.js';
import { createTopic, memoryLogger, positions, readItems, sendMessages, sourceConfig, testKafka, uniqueName } from './helpers.js';

describe('three-node cluster', () => {
  it('starts three KRaft nodes, replicates a topic, and keeps serving it with one node killed', { timeout: 300_000 }, async () => {
    const broker = await startBroker({ nodes: 3 });
    try {
      expect(broker.bootstrap).toHaveLength(3);
      const admin = testKafka(broker.bootstrap).admin();
      await admin.connect();
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);

      const topic = uniqueName('replicated');
      await createTopic(broker.bootstrap, topic, 3, 3);
      const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
      await admin.disconnect();
      expect(meta?.partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3]);
      await sendMessages(
        broker.bootstrap,
        topic,
        Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: JSON.stringify({ id: `d${i}`, text: `t${i}` }) })),
      );

      await broker.killNode(1);
      // The broker's minimum session timeout (6 s, sourceConfig's is 10 s): if the consumer gives up on
      // the dead leader before the cluster has moved its partitions and restarts, its group waits for the
      // old member's session to expire before assigning them again.
      const source = new KafkaSource(sourceConfig(broker.bootstrap, topic, uniqueName('g'), { sessionTimeoutMs: 6000 }), { logger: memoryLogger() });
      try {
        const items = await readItems(source, 30);
        expect(new Set(positions(items)).size).toBe(30);
        expect(items.every((i) => i.kind === 'doc')).toBe(true);
      } finally {
        await source.close();
      }
    } finally {
      // The cluster is thrown away: SIGKILL every node (a SIGTERM waits seconds for their controlled
      // shutdown), then stop() removes its directory (and SIGTERMs any node a kill missed).
      for (const i of [1, 2, 3]) await broker.killNode(i).catch(() => {});
      await broker.stop();
    }
  });
});
