import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { createTopic, sendMessages, uniqueName } from '../kafka/helpers.js';
import { type RedisServer, startRedis } from '../store/redis-server.js';
import { CORPUS, readManifest, runCli, shardFiles, startCli, tempDir, writePipeline, type Manifest } from './harness.js';
import { assignedMembers, caughtUp, corpusTexts, docHash, exactlyOnceProblems, kafkaPipeline, outputDocs, referenceDocIds, waitFor } from './kafka-harness.js';

const brokers = inject('kafkaBrokers');

/**
 * The shared state backend (state.backend: redis) with real processes: two workers of one consumer
 * group, each with its own stateDir (as pods with an emptyDir have), share dedupe and the LLM cache
 * through one real Redis server (scripts/redis/redis.sh).
 */
describe('shared state (Redis) across workers', () => {
  let redis: RedisServer;
  const sims: SimulatorHandle[] = [];
  beforeAll(async () => {
    // The reference run (the sample corpus from its file, uninterrupted) starts now and overlaps the
    // first test, which waits on Kafka; the tests that need it await the same promise.
    referenceDocIds().catch(() => {});
    redis = await startRedis();
  }, 60_000);
  afterAll(async () => {
    for (const s of sims) await s.close();
    await redis?.stop();
  });

  const state = (prefix: string) => ({ backend: 'redis', url: redis.url, keyPrefix: `${prefix}:` });

  /** Every run record of the output (one per worker process): summed drops by reason. */
  async function droppedByReason(out: string): Promise<Record<string, number>> {
    const sum: Record<string, number> = {};
    for (const f of await readdir(join(out, '_runs'))) {
      const run = JSON.parse(await readFile(join(out, '_runs', f), 'utf8')) as Manifest;
      for (const [k, n] of Object.entries(run.funnel.documents.dropped)) sum[k] = (sum[k] ?? 0) + n;
    }
    return sum;
  }

  async function stopBoth(runs: Array<ReturnType<typeof startCli>>, groupId: string, topic: string) {
    await waitFor(`group ${groupId} to commit ${topic} to its end`, () => caughtUp(brokers, groupId, topic), 90_000, 300);
    for (const r of runs) r.child.kill('SIGTERM');
    return Promise.all(runs.map((r) => r.done));
  }

  it('near-duplicate documents on two partitions owned by two workers: one is written, the other dropped as near_duplicate', async () => {
    const texts = await corpusTexts();
    const original = texts.get('git-feature-branch')!;
    const near = original.replace('always releasable', 'releasable at all times').replace('reviewed pull request', 'pull request that was reviewed');
    expect(near).not.toBe(original);
    const topic = uniqueName('e2e-shared-near');
    const groupId = uniqueName('e2e-shared-near-group');
    await createTopic(brokers, topic, 2);
    const dir = await tempDir('shared-near');
    const out = join(dir, 'out');
    const cfg = (w: string) =>
      writePipeline(dir, { ...kafkaPipeline({ brokers, topic, groupId, out }), state: state(topic), stateDir: join(dir, `state-${w}`) }, `${w}.yaml`);
    const a = startCli(['run', await cfg('a'), '--quiet']);
    const b = startCli(['run', await cfg('b'), '--quiet']);
    // Each worker owns one partition before anything is produced.
    await waitFor('both workers to hold a partition', async () => (await assignedMembers(brokers, groupId)) === 2, 60_000);
    await sendMessages(brokers, topic, [
      { key: 'doc-a', value: JSON.stringify({ id: 'doc-a', text: original }), partition: 0 },
      { key: 'doc-b', value: JSON.stringify({ id: 'doc-b', text: near }), partition: 1 },
    ]);
    const ends = await stopBoth([a, b], groupId, topic);
    for (const e of ends) expect(e.code, e.stderr).toBe(0);
    const docs = await outputDocs(out);
    expect([...docs.origins.keys()].filter((id) => id === 'doc-a' || id === 'doc-b')).toHaveLength(1);
    expect(await droppedByReason(out)).toMatchObject({ near_duplicate: 1 });
  });

  /**
   * Worker A answers every LLM call of its documents but never makes a shard durable, and is killed
   * -9; worker B (its own stateDir, as another pod) takes the partitions over and writes them.
   */
  async function killBeforeDurable(backend: 'redis' | 'sqlite') {
    // Fast (0.01): A only has to finish answering before the kill, and B's replay is counted, not timed.
    const sim = await startSimulator({ timeScale: 0.01 });
    sims.push(sim);
    const texts = await corpusTexts();
    const ids = ['git-feature-branch', 'bank-international-transfer', ...[...(await referenceDocIds())].filter((id) => !id.startsWith('git-') && !id.startsWith('bank-')).slice(0, 4)];
    const topic = uniqueName(`e2e-shared-kill-${backend}`);
    const groupId = uniqueName('e2e-shared-kill-group');
    await createTopic(brokers, topic, 2);
    await sendMessages(brokers, topic, ids.map((id, i) => ({ key: id, value: JSON.stringify({ id, text: texts.get(id)! }), partition: i % 2 })));
    const dir = await tempDir('shared-kill');
    const out = join(dir, 'out');
    const cfg = (w: string, sink: Record<string, unknown>) =>
      writePipeline(
        dir,
        {
          ...kafkaPipeline({ brokers, topic, groupId, out, llm: { endpoints: [{ url: sim.url }] }, sink }),
          ...(backend === 'redis' ? { state: state(topic) } : {}),
          stateDir: join(dir, `state-${w}`),
        },
        `${w}.yaml`,
      );
    // A never closes a shard on its own (no row or age limit is reached): its work is answered, not durable.
    const a = startCli(['run', await cfg('a', { maxRows: 100_000, maxAgeMs: 3_600_000 }), '--quiet']);
    let last = -1;
    let stableSince = Date.now();
    await waitFor('A to finish its LLM calls', () => {
      const s = sim.stats();
      const answered = s.calls.answered;
      if (answered !== last || s.running > 0 || s.waiting > 0) [last, stableSince] = [answered, Date.now()];
      return answered > 0 && Date.now() - stableSince > 2000;
    }, 90_000, 200);
    a.child.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    expect(await shardFiles(out)).toEqual([]); // nothing of A's was durable
    const answeredByA = sim.stats().calls.answered;

    // B takes both partitions once A's session expires and replays them.
    const b = startCli(['run', await cfg('b', { maxRows: 4, maxAgeMs: 1000 }), '--quiet']);
    const [done] = await stopBoth([b], groupId, topic);
    expect(done!.code, done!.stderr).toBe(0);
    const docs = await outputDocs(out);
    const written = [...docs.origins.keys()];
    expect(written.length).toBeGreaterThan(0);
    expect(docs.repeatedTrajectories).toEqual([]);
    expect((await readManifest(out)).funnel.balanced).toBe(true);
    const s = sim.stats();
    // Per document at the simulator: the written documents whose calls were answered twice.
    const repeatedDocs = written.filter((id) => s.calls.answeredRepeatedDocs.includes(docHash(texts.get(id)!)));
    return { topic, answeredByA, stats: s, repeatedDocs };
  }

  it('kill -9 a worker after its LLM calls were answered, before its shard was durable: the new owner repeats no LLM call', async () => {
    const { topic, answeredByA, stats, repeatedDocs } = await killBeforeDurable('redis');
    expect((await redisKeys(`${topic}:llm-cache:*`)).length).toBeGreaterThanOrEqual(answeredByA);
    expect(repeatedDocs).toEqual([]);
    expect(stats.calls.answeredRepeated).toBe(0);
    expect(stats.calls.answered).toBe(answeredByA); // B answered everything from the shared cache
  });

  it('the same with each worker on its own SQLite state (the baseline): the new owner pays again', async () => {
    const { repeatedDocs, stats } = await killBeforeDurable('sqlite');
    expect(repeatedDocs.length).toBeGreaterThan(0);
    expect(stats.calls.answeredRepeated).toBeGreaterThan(0);
  });

  it('Redis killed mid-run and restarted: the run waits and finishes; every relevant document once, none lost', async () => {
    const own = await startRedis();
    try {
      const expected = await referenceDocIds();
      // Fast (0.005): after its first shard the run still has most of the corpus ahead with documents
      // in flight (two at a time) for seconds, longer than the outage; that it hit them is asserted below.
      const sim = await startSimulator({ timeScale: 0.005 });
      sims.push(sim);
      const dir = await tempDir('shared-outage');
      const out = join(dir, 'out');
      const cfg = await writePipeline(dir, {
        source: { type: 'files', paths: [CORPUS] },
        relevance: { threads: 0 },
        llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 2, documentRetryBaseMs: 1000, documentRetries: 4 },
        sink: { dir: out, maxRows: 2 },
        state: { backend: 'redis', url: own.url, keyPrefix: 'outage:', timeoutMs: 1000 },
      });
      const run = startCli(['run', cfg]);
      await waitFor('a first shard', async () => (await shardFiles(out)).length >= 1, 90_000);
      await own.kill();
      // Down for 1 s plus the restart itself, well within the documents' retries (4, from 1 s doubling).
      await new Promise((r) => setTimeout(r, 1000));
      await own.restart();
      const end = await run.done;
      expect(end.code, end.stderr).toBe(0);
      expect(end.stderr + end.stdout).toMatch(/state store \(Redis\) at 127\.0\.0\.1:\d+ unavailable/);
      expect(exactlyOnceProblems(await outputDocs(out), expected)).toEqual([]);
      const m = await readManifest(out);
      expect(m.funnel.balanced).toBe(true);
      // The outage hit documents in flight: they were tried again, not lost.
      const retried = (m.funnel.documents as { retried?: Record<string, number> }).retried ?? {};
      expect(retried.state_unavailable ?? 0).toBeGreaterThan(0);
    } finally {
      await own.stop();
    }
  });

  it('Redis down for good: the run stops uncommitted with a clear message; the next run (Redis back) finishes with nothing lost or duplicated', async () => {
    const own = await startRedis();
    try {
      const expected = await referenceDocIds();
      // Fast (0.005): after its first shard the run still has documents in flight for seconds, which
      // the outage stops; the second run then has the rest of the corpus to do.
      const sim = await startSimulator({ timeScale: 0.005 });
      sims.push(sim);
      const dir = await tempDir('shared-down');
      const out = join(dir, 'out');
      const cfg = await writePipeline(dir, {
        source: { type: 'files', paths: [CORPUS] },
        relevance: { threads: 0 },
        llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 2, documentRetryBaseMs: 200, documentRetries: 2 },
        sink: { dir: out, maxRows: 2 },
        state: { backend: 'redis', url: own.url, keyPrefix: 'down:', timeoutMs: 1000 },
      });
      const first = startCli(['run', cfg]);
      await waitFor('a first shard', async () => (await shardFiles(out)).length >= 1, 90_000);
      await own.kill();
      const stopped = await first.done;
      expect(stopped.code).toBe(2);
      expect(stopped.stderr + stopped.stdout).toMatch(/could not be processed after 3 tries \(it stays uncommitted for the next run\): state store \(Redis\) at 127\.0\.0\.1:\d+ unavailable/);
      await own.restart();
      const second = await runCli(['run', cfg]);
      expect(second.code, second.stderr).toBe(0);
      expect(exactlyOnceProblems(await outputDocs(out), expected)).toEqual([]);
    } finally {
      await own.stop();
    }
  });

  async function redisKeys(pattern: string): Promise<string[]> {
    const { RespClient } = await import('../../src/store/resp-client.js');
    const c = new RespClient(redis.url);
    try {
      return (await c.command(['KEYS', pattern])) as string[];
    } finally {
      await c.close();
    }
  }
});
