import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { consumeRaw, createTopic, sendMessages, uniqueName } from '../kafka/helpers.js';
import { readManifest, stepBooksProblems, startCli, sum, tempDir, writePipeline } from './harness.js';
import { corpusTexts, exactlyOnceProblems, groupLag, kafkaPipeline, outputDocs, produceWithCli, referenceDocIds, stopWhenCaughtUp } from './kafka-harness.js';

const brokers = inject('kafkaBrokers');

describe('gemflow run over a Kafka topic (real broker, bundled simulator)', () => {
  it('writes every relevant document of a 4-partition topic exactly once and balances the funnel', async () => {
    const expected = await referenceDocIds();
    const topic = uniqueName('e2e-4p');
    const groupId = uniqueName('e2e-4p-group');
    const produced = await produceWithCli(brokers, topic, 4);
    expect(produced.stdout).toMatch(/produced 42 documents/);
    const lag = await groupLag(brokers, groupId, topic);
    expect(lag.size).toBe(4);
    expect([...lag.values()].filter(([, end]) => end > 0).length).toBeGreaterThan(1); // keys spread the corpus

    const dir = await tempDir('kafka-4p');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, kafkaPipeline({ brokers, topic, groupId, out }));
    const run = await stopWhenCaughtUp(startCli(['run', cfg, '--quiet']), brokers, groupId, topic);
    expect(run.code, run.stderr).toBe(0);

    expect(exactlyOnceProblems(await outputDocs(out), expected)).toEqual([]);
    const m = await readManifest(out);
    const d = m.funnel.documents;
    expect(m.funnel.balanced).toBe(true);
    expect(stepBooksProblems(m)).toEqual([]);
    expect(Object.keys(m.stages)).toEqual(expect.arrayContaining(['relevance', 'dedupe', 'validate', 'stats']));
    expect(d.received).toBe(42);
    expect(d.abandoned).toBe(0);
    expect(d.written).toBe(expected.size);
    expect(d.written + sum(d.dropped) + sum(d.rejected) + sum(d.deadLettered)).toBe(d.received);
    expect((d.dropped.duplicate ?? 0) + (d.dropped.near_duplicate ?? 0)).toBe(2); // one of each planted pair
    for (const s of m.shards) expect(s.path).toMatch(new RegExp(`/${topic}-[0-3]-`)); // named from topic and partition
  });

  it('dead-letters bad records to the dead-letter topic with their reasons, and commits past them', async () => {
    const topic = uniqueName('e2e-bad');
    const dlTopic = uniqueName('e2e-bad-dl');
    const groupId = uniqueName('e2e-bad-group');
    await createTopic(brokers, topic, 2);
    const texts = await corpusTexts();
    const good = (id: string) => JSON.stringify({ id, text: texts.get(id)! });
    // Per partition: the bad records between and after good ones, so a commit at the end passes them all.
    const bad: Array<{ value: Buffer | string | null; code: string }> = [
      { value: 'this is not json {', code: 'invalid_json' },
      { value: JSON.stringify({ id: 'no-text', title: 'a record without text' }), code: 'missing_text' },
      { value: null, code: 'tombstone' },
      { value: JSON.stringify({ id: 'huge', text: 'x'.repeat(20_000) }), code: 'record_too_large' },
      { value: Buffer.concat([Buffer.from('{"id":"latin1","text":"caf'), Buffer.from([0xe9]), Buffer.from(' au lait"}')]), code: 'invalid_utf8' },
    ];
    const messages = [];
    for (const partition of [0, 1]) {
      messages.push({ partition, key: `p${partition}-good-1`, value: good(partition ? 'rest-api-invoices' : 'admin-console-users') });
      for (const [i, b] of bad.entries()) messages.push({ partition, key: `p${partition}-bad-${i}`, value: b.value });
      messages.push({ partition, key: `p${partition}-good-2`, value: good(partition ? 'essay-boredom' : 'deploy-rollback') });
      messages.push({ partition, key: `p${partition}-bad-last`, value: bad[0]!.value });
    }
    await sendMessages(brokers, topic, messages);

    const dir = await tempDir('kafka-bad');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, kafkaPipeline({ brokers, topic, groupId, out, source: { deadLetterTopic: dlTopic, maxRecordBytes: 8192 } }));
    const run = await stopWhenCaughtUp(startCli(['run', cfg, '--quiet']), brokers, groupId, topic);
    expect(run.code, run.stderr).toBe(0);

    // Committed offsets are the end offsets: the group moved past every bad record (the last one included).
    for (const [partition, [committed, end]] of await groupLag(brokers, groupId, topic)) expect({ partition, committed }).toEqual({ partition, committed: end });

    const perPartition = bad.length + 1;
    const dead = await consumeRaw(brokers, dlTopic, 2 * perPartition);
    const byOrigin = new Map(dead.map((m) => [m.headers['gemflow-origin'], m]));
    expect(byOrigin.size).toBe(2 * perPartition);
    for (const partition of [0, 1]) {
      const expectedCodes = [...bad.map((b) => b.code), 'invalid_json'];
      for (const [i, code] of expectedCodes.entries()) {
        const offset = i === bad.length ? bad.length + 2 : i + 1;
        const m = byOrigin.get(`kafka:${topic}/${partition}@${offset}`);
        expect(m, `dead letter for ${partition}@${offset}`).toBeDefined();
        expect(m!.headers['gemflow-code']).toBe(code);
        expect(m!.headers['gemflow-stage']).toBe('decode');
        expect(m!.headers['gemflow-message']!.length).toBeGreaterThan(0);
      }
    }
    expect(byOrigin.get(`kafka:${topic}/0@1`)!.value).toBe('this is not json {'); // the original record

    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(stepBooksProblems(m)).toEqual([]);
    expect(Object.keys(m.stages)).toEqual(expect.arrayContaining(['relevance', 'dedupe', 'validate', 'stats']));
    expect(m.funnel.documents.received).toBe(messages.length);
    expect(sum(m.funnel.documents.deadLettered)).toBe(2 * perPartition);
    expect(m.funnel.documents.written).toBeGreaterThan(0);
  });
});
