import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { SourceItem } from '../../src/envelope.js';
import { KafkaSource } from '../../src/sources/kafka-source.js';
import { createTopic, memoryLogger, positions, readItems, sendMessages, sourceConfig, uniqueName } from './helpers.js';

const brokers = inject('kafkaBrokers');
const open: KafkaSource[] = [];

function newSource(topic: string, groupId: string, extra: Parameters<typeof sourceConfig>[3] = {}, bufferRecords?: number): KafkaSource {
  const source = new KafkaSource(sourceConfig(brokers, topic, groupId, extra), { bufferRecords, logger: memoryLogger() });
  open.push(source);
  return source;
}

/** n documents spread round-robin: document i goes to partition i % partitions, at offset floor(i / partitions). */
async function produceDocs(topic: string, n: number, partitions: number): Promise<void> {
  await createTopic(brokers, topic, partitions);
  await sendMessages(
    brokers,
    topic,
    Array.from({ length: n }, (_, i) => ({ partition: i % partitions, key: `d${i}`, value: JSON.stringify({ id: `d${i}`, text: `text of ${i}` }) })),
  );
}

function expectedPositions(topic: string, n: number, partitions: number, from: (p: number) => number = () => 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = i % partitions;
    const offset = Math.floor(i / partitions);
    if (offset >= from(p)) out.push(`${topic}/${p}@${offset}`);
  }
  return out.sort();
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('KafkaSource', () => {
  it('reads every record of a 4-partition topic with exact origins, after announcing the assignment', async () => {
    const topic = uniqueName('src-all');
    await produceDocs(topic, 40, 4);
    const events: string[] = [];
    const items = await readItems(newSource(topic, uniqueName('g')), 40, { events });

    expect(events[0]).toBe(`assigned ${[0, 1, 2, 3].map((p) => `${topic}/${p}`).join(',')}`);
    expect(events.filter((e) => !e.startsWith('start '))[1]).toBe('item');
    expect(positions(items).sort()).toEqual(expectedPositions(topic, 40, 4));
    for (const item of items) {
      expect(item.kind).toBe('doc');
      if (item.kind !== 'doc') continue;
      const { origin, id, text } = item.doc;
      if (origin.kind !== 'kafka') throw new Error('not a kafka origin');
      const i = origin.offset * 4 + origin.kafkaPartition;
      expect({ id, text, topic: origin.topic, partition: origin.partition }).toEqual({
        id: `d${i}`,
        text: `text of ${i}`,
        topic,
        partition: `${topic}/${origin.kafkaPartition}`,
      });
    }
    // Within a partition, records come in offset order.
    for (let p = 0; p < 4; p++) {
      const offsets = items.map((i) => i.kind === 'doc' && i.doc.origin).filter((o) => o && o.partition === `${topic}/${p}`).map((o) => (o ? o.offset : -1));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
  });

  it('commits positions, and a new member of the group starts after them', async () => {
    const topic = uniqueName('src-commit');
    const groupId = uniqueName('g');
    await produceDocs(topic, 20, 2);
    const first = newSource(topic, groupId);
    await readItems(first, 20);
    // Positions of partitions this consumer does not own are ignored.
    await first.commit(new Map([[`${topic}/0`, 4], [`${topic}/1`, 7], ['some-other-topic/0', 3]]));
    await first.close();

    const second = newSource(topic, groupId);
    const events: string[] = [];
    const items = await readItems(second, 9, { events });
    expect(positions(items).sort()).toEqual(expectedPositions(topic, 20, 2, (p) => (p === 0 ? 4 : 7)));
    // Each partition's start (its committed position) is announced before its first record.
    const starts = events.filter((e) => e.startsWith('start ')).sort();
    expect(starts).toEqual([`start ${topic}/0@4`, `start ${topic}/1@7`]);
    expect(events.findIndex((e) => e.startsWith('start '))).toBeLessThan(events.indexOf('item'));
  });

  it('never buffers more than bufferRecords while the reader is slow', async () => {
    const topic = uniqueName('src-buffer');
    await produceDocs(topic, 30, 2);
    const source = newSource(topic, uniqueName('g'), {}, 5);
    let maxBuffered = 0;
    const items = await readItems(source, 30, {
      each: async () => {
        await sleep(20);
        maxBuffered = Math.max(maxBuffered, source.bufferedRecords());
      },
    });
    expect(maxBuffered).toBe(5);
    expect(positions(items).sort()).toEqual(expectedPositions(topic, 30, 2));
  });

  it('pauses a partition at maxInFlightPerPartition uncommitted records and resumes on commit', async () => {
    const topic = uniqueName('src-inflight');
    await produceDocs(topic, 30, 1);
    const source = newSource(topic, uniqueName('g'), { maxInFlightPerPartition: 10 });
    const ac = new AbortController();
    const it = source.read(ac.signal, {})[Symbol.asyncIterator]();
    const offsetOf = (r: IteratorResult<SourceItem>) => (r.done ? -1 : r.value.kind === 'doc' ? r.value.doc.origin.offset : -1);
    const take = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(offsetOf(await it.next()));
      return out;
    };
    /** The next item, or "stalled" when none comes within a second and a half. */
    const nextOrStall = async (pending: Promise<IteratorResult<SourceItem>>) =>
      Promise.race([pending.then(offsetOf), sleep(1500).then(() => 'stalled' as const)]);

    expect(await take(10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let pending = it.next();
    expect(await nextOrStall(pending)).toBe('stalled');

    await source.commit(new Map([[`${topic}/0`, 4]]));
    expect(offsetOf(await pending)).toBe(10);
    expect(await take(3)).toEqual([11, 12, 13]);
    pending = it.next();
    expect(await nextOrStall(pending)).toBe('stalled');

    await source.commit(new Map([[`${topic}/0`, 14]]));
    expect(offsetOf(await pending)).toBe(14);
    expect(await take(9)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23]);
    pending = it.next();
    expect(await nextOrStall(pending)).toBe('stalled');
    ac.abort();
    expect((await pending).done).toBe(true);
    await it.return?.();
  });

  it('turns undecodable records into bad records with their codes', async () => {
    const topic = uniqueName('src-bad');
    await createTopic(brokers, topic, 1);
    await sendMessages(brokers, topic, [
      { value: 'this is not json' },
      { value: JSON.stringify({ id: 'no-text', body: 'x' }) },
      { key: 'deleted', value: null },
      { value: JSON.stringify({ id: 'big', text: 'x'.repeat(300) }) },
      { value: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
      { value: JSON.stringify({ id: 'fine', text: 'a good document' }) },
    ]);
    const items = await readItems(newSource(topic, uniqueName('g'), { maxRecordBytes: 200 }), 6);
    expect(items.map((i) => (i.kind === 'doc' ? `doc ${i.doc.id}` : `bad ${i.bad.code}`))).toEqual([
      'bad invalid_json',
      'bad missing_text',
      'bad tombstone',
      'bad record_too_large',
      'bad invalid_utf8',
      'doc fine',
    ]);
    expect(positions(items)).toEqual([0, 1, 2, 3, 4, 5].map((o) => `${topic}/0@${o}`));
    const notJson = items[0]!;
    expect(notJson.kind === 'bad' && notJson.bad.raw).toBe('this is not json');
  });

  it('hands partitions over on a rebalance: the old owner hears of the revocation, the new one replays them', async () => {
    const topic = uniqueName('src-rebalance');
    const groupId = uniqueName('g');
    await produceDocs(topic, 32, 4);
    const a = newSource(topic, groupId);
    const aEvents: string[] = [];
    const ac = new AbortController();
    const aIt = a.read(ac.signal, {
      onPartitionsAssigned: async (p) => void aEvents.push(`assigned ${[...p].sort().join(',')}`),
      onPartitionsRevoked: async (p) => void aEvents.push(`revoked ${[...p].sort().join(',')}`),
    })[Symbol.asyncIterator]();
    for (let i = 0; i < 32; i++) await aIt.next();
    const aPending = aIt.next(); // a is idle, still in the group

    const bEvents: string[] = [];
    const bItems = await readItems(newSource(topic, groupId), 16, { events: bEvents });
    const bAssigned = bEvents[0]!.replace('assigned ', '').split(',');
    expect(bAssigned).toHaveLength(2);
    // Nothing was committed: b replays its partitions from the start.
    expect(positions(bItems).sort()).toEqual(
      expectedPositions(topic, 32, 4).filter((pos) => bAssigned.includes(pos.split('@')[0]!)),
    );
    // The old owner hears of the revocation at its next heartbeat; allow for a loaded machine.
    for (let i = 0; i < 600 && aEvents.length < 2; i++) await sleep(100);
    expect(aEvents).toEqual([`assigned ${[0, 1, 2, 3].map((p) => `${topic}/${p}`).join(',')}`, `revoked ${bAssigned.join(',')}`]);
    ac.abort();
    expect((await aPending).done).toBe(true);
  });

  it('is settled only after the start-up window and never while the group rebalances', async () => {
    const topic = uniqueName('src-settle');
    const groupId = uniqueName('g');
    await produceDocs(topic, 8, 4);
    const isSettled = (s: KafkaSource) => Promise.race([s.whenSettled().then(() => true), sleep(0).then(() => false)]);

    // A long start-up window: records flow, but the group is not settled yet.
    const waiting = newSource(topic, uniqueName('g-wait'), { settleMs: 600_000 });
    expect(await isSettled(waiting)).toBe(false);
    await readItems(waiting, 8);
    expect(await isSettled(waiting)).toBe(false);

    // No window: settled once assigned; unsettled from the start of a rebalance to the new assignment.
    const a = newSource(topic, groupId);
    const ac = new AbortController();
    const aEvents: string[] = [];
    const aIt = a.read(ac.signal, { onPartitionsRevoked: async (p) => void aEvents.push(`revoked ${p.length}`) })[Symbol.asyncIterator]();
    for (let i = 0; i < 8; i++) await aIt.next();
    const aPending = aIt.next();
    expect(await isSettled(a)).toBe(true);
    let sawUnsettled = false;
    const watch = (async () => {
      while (aEvents.length === 0) {
        if (!(await isSettled(a))) sawUnsettled = true;
        await sleep(5);
      }
    })();
    const b = newSource(topic, groupId);
    await readItems(b, 4);
    for (let i = 0; i < 600 && aEvents.length === 0; i++) await sleep(100);
    await watch;
    expect(aEvents).toEqual(['revoked 2']);
    expect(sawUnsettled).toBe(true);
    await a.whenSettled(); // the new assignment settles it again
    ac.abort();
    expect((await aPending).done).toBe(true);
  });

  it('waits out the start-up window only as the group\'s first member, not when joining a group another member leads', async () => {
    const topic = uniqueName('src-settle-join');
    const groupId = uniqueName('g');
    await produceDocs(topic, 8, 4);
    const isSettled = (s: KafkaSource) => Promise.race([s.whenSettled().then(() => true), sleep(0).then(() => false)]);
    const first = newSource(topic, groupId, { settleMs: 600_000 });
    const ac = new AbortController();
    const revoked: string[] = [];
    const it1 = first.read(ac.signal, { onPartitionsRevoked: async (p) => void revoked.push(...p.map((x) => `${x.topic}/${x.partition}`)) })[Symbol.asyncIterator]();
    for (let i = 0; i < 8; i++) await it1.next();
    const pending = it1.next();
    expect(await isSettled(first)).toBe(false);
    // A worker joining the existing group (as a restarted pod does): settled as soon as it holds partitions.
    const second = newSource(topic, groupId, { settleMs: 600_000 });
    await readItems(second, 4);
    expect(second.assignedCount).toBe(2);
    await second.whenSettled();
    expect(await isSettled(second)).toBe(true);
    for (let i = 0; i < 600 && revoked.length === 0; i++) await sleep(100);
    expect(revoked).toHaveLength(2);
    expect(await isSettled(first)).toBe(false); // the leader's own window still runs
    ac.abort();
    expect((await pending).done).toBe(true);
  });
});
