import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { uniqueName } from '../kafka/helpers.js';
import { readManifest, shardFiles, startCli, tempDir, writePipeline } from './harness.js';
import {
  assignedMembers,
  corpusTexts,
  docHash,
  exactlyOnceProblems,
  kafkaPipeline,
  outputDocs,
  produceWithCli,
  referenceDocIds,
  stopWhenCaughtUp,
  waitFor,
} from './kafka-harness.js';

const brokers = inject('kafkaBrokers');

/**
 * kill -9 during Kafka runs. An external simulator (shared by every process of a test), answering two
 * documents at a time (llm.maxDocsInFlight 2), keeps the run going long enough to be killed, and counts
 * the calls it answered more than once.
 */
describe('gemflow run over Kafka, killed with SIGKILL', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  /** `timeScale`: the simulator's speed, slow enough for the test's kill to land mid-run. */
  async function setup(name: string, timeScale: number) {
    const sim = await startSimulator({ timeScale });
    sims.push(sim);
    const topic = uniqueName(`e2e-${name}`);
    const groupId = uniqueName(`e2e-${name}-group`);
    await produceWithCli(brokers, topic, 4);
    const dir = await tempDir(`kafka-${name}`);
    const out = join(dir, 'out');
    // maxDocsInFlight 2 and 2-row shards: the run writes shard after shard, so a kill lands mid-run.
    const cfg = await writePipeline(dir, kafkaPipeline({ brokers, topic, groupId, out, llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 2 }, sink: { maxRows: 2 } }));
    return { sim, topic, groupId, out, cfg };
  }

  /** Documents that are in the output now, by id. */
  async function writtenNow(out: string): Promise<Set<string>> {
    return new Set((await outputDocs(out)).origins.keys());
  }

  /**
   * Documents written before the kill whose calls the simulator answered again after it: work the
   * output and the cache should have saved. `repeatedAtKill` are repeats that happened earlier, while
   * both members briefly worked on a partition during the rebalance, before the document was written.
   */
  async function repeatedCallsForWritten(sim: SimulatorHandle, writtenBefore: Set<string>, repeatedAtKill = new Set<string>()): Promise<string[]> {
    const texts = await corpusTexts();
    const repeated = new Set(sim.stats().calls.answeredRepeatedDocs.filter((d) => !repeatedAtKill.has(d)));
    return [...writtenBefore].filter((id) => repeated.has(docHash(texts.get(id)!)));
  }

  it('kill -9 the only process at a random point, restart: every relevant document once, no repeated call for written ones', async () => {
    // 0.005: the kill comes within a poll (250 ms) of the killAt-th (at most 4th) of ~12 shards, with
    // seconds of work still ahead.
    const [expected, { sim, topic, groupId, out, cfg }] = await Promise.all([referenceDocIds(), setup('kill1', 0.005)]);

    const killAt = 1 + Math.floor(Math.random() * 4); // shards durable before the kill
    const first = startCli(['run', cfg, '--quiet']);
    let exited = false;
    void first.done.then(() => (exited = true));
    await waitFor(`${killAt} shards`, async () => exited || (await shardFiles(out)).length >= killAt);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal, `killed after ${killAt} shards: ${killed.stderr}`).toBe('SIGKILL');
    const writtenBefore = await writtenNow(out);
    expect(writtenBefore.size).toBeGreaterThan(0);
    expect(writtenBefore.size).toBeLessThan(expected.size);

    const second = await stopWhenCaughtUp(startCli(['run', cfg, '--quiet']), brokers, groupId, topic, 80_000);
    expect(second.code, second.stderr).toBe(0);
    expect(exactlyOnceProblems(await outputDocs(out), expected), `killed after ${killAt} shards`).toEqual([]);
    expect((await readManifest(out)).funnel.balanced).toBe(true);
    expect(await repeatedCallsForWritten(sim, writtenBefore)).toEqual([]);
  });

  it('two processes in one group split the partitions; kill -9 one, the other takes over: every relevant document once', async () => {
    // 0.02: A keeps writing while B joins and the group rebalances (seconds of Kafka, not of the
    // simulator), and must still have partitions with work left when it is killed.
    const [expected, { sim, topic, groupId, out, cfg }] = await Promise.all([referenceDocIds(), setup('group2', 0.02)]);

    // A starts alone and owns all four partitions; B joins mid-run, which revokes two of A's partitions.
    const a = startCli(['run', cfg, '--quiet']);
    await waitFor('a first shard from A', async () => (await shardFiles(out)).length >= 1);
    const b = startCli(['run', cfg, '--quiet']);
    await waitFor('both members to hold partitions', async () => (await assignedMembers(brokers, groupId)) === 2);
    const shardsAtSplit = (await shardFiles(out)).length;
    await waitFor('more shards after the split', async () => (await shardFiles(out)).length >= shardsAtSplit + 2);

    a.child.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    const repeatedAtKill = new Set(sim.stats().calls.answeredRepeatedDocs);
    const writtenBefore = await writtenNow(out);
    expect(writtenBefore.size).toBeLessThan(expected.size);

    // B gets A's partitions once A's session expires, replays them from A's commits and finishes.
    const rest = await stopWhenCaughtUp(b, brokers, groupId, topic, 85_000);
    expect(rest.code, rest.stderr).toBe(0);
    expect(exactlyOnceProblems(await outputDocs(out), expected)).toEqual([]);
    expect(await repeatedCallsForWritten(sim, writtenBefore, repeatedAtKill)).toEqual([]);
  });
});
