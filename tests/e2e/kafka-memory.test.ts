import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { scoreText } from '../../operators/relevance/score.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { createTopic, testKafka, uniqueName } from '../kafka/helpers.js';
import { readManifest, startCli, tempDir, writePipeline } from './harness.js';
import { kafkaPipeline, liveStderr, rssKb, stopWhenCaughtUp, waitFor } from './kafka-harness.js';
import { mulberry32 } from '../mulberry32.js';

const brokers = inject('kafkaBrokers');

const RECORDS = 20_000;
const PARTITIONS = 4;
/** Bytes of text per document. */
const DOC_CHARS = 5_000;

/**
 * A ~5 KB how-to document: numbered UI steps (relevant to the scorer) whose nouns are random words,
 * so no two documents are exact or near duplicates of each other.
 */
function procedureDoc(i: number, rand: () => number): string {
  const word = () => Array.from({ length: 4 + Math.floor(rand() * 6) }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join('');
  let text = `How to set up the ${word()} ${word()} integration (guide ${i})\n\n`;
  for (let step = 1; text.length < DOC_CHARS; step++) {
    text += `${step}. Open the ${word()} menu, click the ${word()} button, then set ${word()} to ${word()} in Settings.\n`;
  }
  return text.slice(0, DOC_CHARS);
}

/** Produces the backlog with kafkajs directly: batches under the broker's 1 MB request limit. */
async function produceBacklog(topic: string): Promise<void> {
  await createTopic(brokers, topic, PARTITIONS);
  const producer = testKafka(brokers).producer();
  await producer.connect();
  try {
    const rand = mulberry32(42);
    for (let i = 0; i < RECORDS; ) {
      const messages = [];
      for (let n = 0; n < 150 && i < RECORDS; n++, i++) {
        messages.push({ partition: i % PARTITIONS, key: `doc-${i}`, value: JSON.stringify({ id: `doc-${i}`, text: procedureDoc(i, rand) }) });
      }
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

/** (wall-clock ms, documents received) from the run's plain progress lines on stderr. */
function progressPoints(stderr: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of stderr.matchAll(/^(\S+) progress \S+ docs (\d+) /gm)) out.push([Date.parse(m[1]!), Number(m[2])]);
  return out;
}

describe('gemflow run over a large Kafka backlog', () => {
  const topic = uniqueName('e2e-backlog');
  let sim: SimulatorHandle | undefined;

  beforeAll(async () => {
    // Real time: every LLM call takes many seconds, so the pipeline fills up and stays full.
    sim = await startSimulator({ timeScale: 1 });
    await produceBacklog(topic);
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('generates relevant, distinct documents', () => {
    const rand = mulberry32(7);
    const [a, b] = [procedureDoc(0, rand), procedureDoc(1, rand)];
    expect(a.length).toBe(DOC_CHARS);
    expect(a).not.toBe(b);
    expect(scoreText(a).score).toBeGreaterThan(0.35); // passes the default relevance threshold
  });

  it('keeps RSS bounded with a slow LLM: partitions are paused, not read into memory', { timeout: 90_000 }, async () => {
    const groupId = uniqueName('e2e-backlog-slow');
    const dir = await tempDir('kafka-memory');
    const cfg = await writePipeline(
      dir,
      kafkaPipeline({ brokers, topic, groupId, out: join(dir, 'out'), llm: { endpoints: [{ url: sim!.url }] }, extra: { logIntervalMs: 1000 } }),
    );
    const run = startCli(['run', cfg]);
    const stderr = liveStderr(run.child);
    const samples: number[] = [];
    try {
      await waitFor('the run to receive documents', () => progressPoints(stderr()).some(([, docs]) => docs > 0), 30_000);
      for (let i = 0; i < 25; i++) {
        const kb = await rssKb(run.child.pid!);
        if (kb === undefined) break;
        samples.push(kb);
        await sleep(1000);
      }
    } finally {
      run.child.kill('SIGKILL');
    }
    const result = await run.done;
    expect(samples.length, result.stderr).toBe(25); // alive throughout
    const maxMb = Math.max(...samples) / 1024;
    const received = Math.max(...progressPoints(result.stderr).map(([, docs]) => docs));
    console.log(`memory: RSS max ${maxMb.toFixed(0)} MB (samples ${samples.map((kb) => Math.round(kb / 1024)).join(',')} MB); ${received} of ${RECORDS} records read`);
    expect(maxMb).toBeLessThan(600);
    // Read at most: documents in the pipeline (queueCapacity + llm.maxDocsInFlight) + the source buffer.
    expect(received).toBeLessThanOrEqual(1024 + 256 + 1024);
  });

  it('measures the ingest rate of the Kafka source into the relevance stage (threshold 1.0: all scored, all dropped)', { timeout: 120_000 }, async () => {
    const groupId = uniqueName('e2e-backlog-ingest');
    const dir = await tempDir('kafka-ingest');
    const out = join(dir, 'out');
    const cfg = await writePipeline(
      dir,
      kafkaPipeline({
        brokers,
        topic,
        groupId,
        out,
        llm: { endpoints: [{ url: sim!.url }] },
        relevance: { threshold: 1, threads: 2 },
        extra: { logIntervalMs: 500 },
      }),
    );
    const result = await stopWhenCaughtUp(startCli(['run', cfg]), brokers, groupId, topic, 110_000);
    expect(result.code, result.stderr).toBe(0);
    const m = await readManifest(out);
    expect(m.funnel.documents.received).toBe(RECORDS);
    expect(m.funnel.documents.dropped).toEqual({ irrelevant: RECORDS });
    expect(m.funnel.balanced).toBe(true);

    // From the first progress line with documents to the first that shows all of them.
    const points = progressPoints(result.stderr);
    const first = points.find(([, docs]) => docs > 0)!;
    const last = points.find(([, docs]) => docs === RECORDS)!;
    expect(last[1] - first[1]).toBeGreaterThan(RECORDS / 2); // enough of the run between the two samples
    const seconds = (last[0] - first[0]) / 1000;
    const docsPerSec = (last[1] - first[1]) / seconds;
    const { bytes } = m.funnel.documents as typeof m.funnel.documents & { bytes: number }; // record bytes received
    const mbPerSec = (docsPerSec * bytes) / RECORDS / 1e6;
    console.log(`ingest: ${docsPerSec.toFixed(0)} docs/s, ${mbPerSec.toFixed(1)} MB/s (${last[1] - first[1]} docs in ${seconds.toFixed(1)} s, relevance threads 2)`);
  });
});
