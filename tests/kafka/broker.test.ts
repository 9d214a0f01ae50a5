import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SourceItem } from '../../src/envelope.js';
import { startBroker } from '../../src/kafka/broker.js';
import { KafkaSource } from '../../src/sources/kafka-source.js';
import { createTopic, memoryLogger, sendMessages, sourceConfig, testKafka, uniqueName } from './helpers.js';

/** Whether a process runs (an exited process not yet reaped by init, state Z, does not count). */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

const docs = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => ({ value: JSON.stringify({ id: `d${from + k}`, text: `t${from + k}` }) }));

describe('scripts/kafka/kafka.sh through startBroker', () => {
  it('starts a broker, survives a restart under a running KafkaSource, and stops it', async () => {
    const broker = await startBroker({ nodes: 1 });
    const pidFile = join(broker.dir, 'node-1', 'pid');
    try {
      const properties = await readFile(join(broker.dir, 'node-1', 'server.properties'), 'utf8');
      expect(properties).toMatch(/^process\.roles=broker,controller$/m);
      expect(properties).toMatch(/^auto\.create\.topics\.enable=false$/m);
      const admin = testKafka(broker.bootstrap).admin();
      await admin.connect();
      expect((await admin.describeCluster()).brokers.map((b) => `${b.host}:${b.port}`)).toEqual(broker.bootstrap);
      await admin.disconnect();

      const topic = uniqueName('restart');
      await createTopic(broker.bootstrap, topic, 1);
      await sendMessages(broker.bootstrap, topic, docs(0, 10));
      const logLines: string[] = [];
      const source = new KafkaSource(sourceConfig(broker.bootstrap, topic, uniqueName('g')), { logger: memoryLogger(logLines) });
      const ac = new AbortController();
      const it = source.read(ac.signal, {})[Symbol.asyncIterator]();
      const offsetOf = (r: IteratorResult<SourceItem>) => (r.done ? -1 : r.value.kind === 'doc' ? r.value.doc.origin.offset : -1);
      try {
        const before: number[] = [];
        for (let i = 0; i < 10; i++) before.push(offsetOf(await it.next()));
        expect(before).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        await source.commit(new Map([[`${topic}/0`, 10]]));

        const oldPid = Number(await readFile(pidFile, 'utf8'));
        await broker.restart();
        expect(Number(await readFile(pidFile, 'utf8'))).not.toBe(oldPid);
        expect(isAlive(oldPid)).toBe(false);

        await sendMessages(broker.bootstrap, topic, docs(10, 15));
        const after: number[] = [];
        for (let i = 0; i < 5; i++) after.push(offsetOf(await it.next()));
        expect(after).toEqual([10, 11, 12, 13, 14]);
        await source.commit(new Map([[`${topic}/0`, 15]]));
      } finally {
        ac.abort();
        await it.return?.();
        await source.close();
      }
    } finally {
      const pid = Number(await readFile(pidFile, 'utf8'));
      await broker.stop();
      expect(isAlive(pid)).toBe(false);
      expect(existsSync(broker.dir)).toBe(false);
    }
  });
});
