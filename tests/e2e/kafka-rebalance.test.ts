import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { uniqueName } from '../kafka/helpers.js';
import { CORPUS, readManifest, startCli, tempDir, writePipeline } from './harness.js';
import { assignedMembers, exactlyOnceProblems, kafkaPipeline, outputDocs, produceWithCli, referenceDocIds, stopWhenCaughtUp, waitFor } from './kafka-harness.js';

const brokers = inject('kafkaBrokers');

/**
 * A partition's former owner must never make a shard visible after the new owner has listed the
 * partition's shards (its done-set): the new owner replays those documents and would write them again.
 * The race is forced: worker A hears of the partition it lost 8 s after the new assignment
 * (GEMFLOW_TEST_REVOKE_DELAY_MS, as when its event loop is busy), while B, which got them, already lists
 * their shards and replays them; meanwhile A's shards of those partitions keep closing (1 s, 2 rows).
 * Without the publish fence (closed from kafkajs' rebalancing signal to the applied assignment) A
 * publishes some of them after B's listing and B writes those documents again.
 */
describe('gemflow run over Kafka: a rebalance during a shard publish', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('writes every document exactly once: the old owner publishes nothing of a moved partition after the rebalance', async () => {
    const sim = await startSimulator({ timeScale: 0.05 });
    sims.push(sim);
    const topic = uniqueName('e2e-rebalance-publish');
    const groupId = uniqueName('e2e-rebalance-publish-group');
    const dir = await tempDir('kafka-rebalance-publish');
    // Without the corpus's planted copies: each worker has its own dedupe state (as pods with an
    // emptyDir), so a planted pair split across them would be written twice whatever the rebalance does.
    const corpus = join(dir, 'corpus.jsonl');
    const lines = (await readFile(CORPUS, 'utf8')).split('\n').filter((l) => l && !/"id": *"[^"]*-(copy|mirror)"/.test(l));
    await writeFile(corpus, lines.join('\n') + '\n');
    await produceWithCli(brokers, topic, 2, corpus);
    const out = join(dir, 'out');
    const pipeline = (name: string) =>
      writePipeline(dir, kafkaPipeline({ brokers, topic, groupId, out, llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 16 }, sink: { maxRows: 2 }, extra: { stateDir: join(dir, `state-${name}`) } }), `${name}.yaml`);
    const a = startCli(['run', await pipeline('a'), '--quiet'], { GEMFLOW_TEST_REVOKE_DELAY_MS: '8000' });
    // B joins once A has documents of both partitions in LLM work (16 at a time, from both partitions).
    await waitFor('worker A to start LLM work', () => sim.stats().requests.total > 0, 120_000, 50);
    const b = startCli(['run', await pipeline('b'), '--quiet']);
    await waitFor('both workers to hold partitions', async () => (await assignedMembers(brokers, groupId)) === 2, 60_000);
    const endB = stopWhenCaughtUp(b, brokers, groupId, topic, 180_000);
    const [ra, rb] = await Promise.all([stopWhenCaughtUp(a, brokers, groupId, topic, 180_000), endB]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);

    // Read back by DuckDB: every relevant document once, from one record, no trajectory twice.
    expect(exactlyOnceProblems(await outputDocs(out), await referenceDocIds())).toEqual([]);
    // The race happened: A had rows of the moved partitions in shards it would have published in the
    // window; it deleted them unpublished (their documents abandoned, written by B). The books balance.
    const { funnel } = await readManifest(out);
    expect((funnel.trajectories as { dropped?: Record<string, number> }).dropped?.['partition_revoked']).toBeGreaterThan(0);
    expect(funnel.balanced).toBe(true);
  }, 300_000);
});
