import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type LocalBroker } from '../../src/kafka/broker.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { uniqueName } from '../kafka/helpers.js';
import { readManifest, shardFiles, startCli, tempDir, writePipeline } from './harness.js';
import { exactlyOnceProblems, kafkaPipeline, outputDocs, produceWithCli, referenceDocIds, stopWhenCaughtUp, waitFor } from './kafka-harness.js';

/**
 * A broker restart under a running `gemflow run`. It uses a broker of its own (the run's shared
 * broker serves other test files in parallel).
 */
describe('gemflow run over Kafka across a broker restart', () => {
  let broker: LocalBroker | undefined;
  let sim: SimulatorHandle | undefined;
  afterAll(async () => {
    await sim?.close();
    await broker?.stop();
  });

  it('keeps running through a broker stop and start, and loses nothing', { timeout: 300_000 }, async () => {
    const T0 = Date.now(); const phase = (x: string) => console.error(`[phase ${((Date.now() - T0) / 1000).toFixed(1)} s] ${x}`);
    const [expected, started] = await Promise.all([referenceDocIds(), startBroker({ nodes: 1 })]);
    phase('broker up');
    broker = started;
    // Fast simulated LLM calls (0.01, as kafkaPipeline's default). The run is still mid-way when the
    // broker is back (asserted below): it is stopped right after the first shard, and the run writes
    // little or nothing while the broker is down (commits fail; the consumer restarts, abandoning what
    // it has in flight).
    sim = await startSimulator({ timeScale: 0.01 });
    const brokers = broker.bootstrap;
    const topic = uniqueName('e2e-restart');
    const groupId = uniqueName('e2e-restart-group');
    await produceWithCli(brokers, topic, 4);

    const dir = await tempDir('kafka-restart');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, kafkaPipeline({ brokers, topic, groupId, out, llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 2 }, sink: { maxRows: 2 } }));
    const run = startCli(['run', cfg, '--quiet']);
    phase('run started');
    void run.done.then((r) => phase(`run exited ${r.code}: ${r.stderr.split('\n').filter((l) => !l.includes('kafkajs')).slice(-30).join('\n')}`));
    let exited = false;
    void run.done.then(() => (exited = true));
    await waitFor('a first shard', async () => exited || (await shardFiles(out)).length >= 1);
    expect(exited).toBe(false);

    phase('first shard');
    await broker.restart();
    const writtenAtRestart = (await outputDocs(out)).origins.size;
    phase(`broker restarted, ${writtenAtRestart} of ${expected.size} documents written`); // stop (SIGTERM, wait) and start on the same port and data
    expect(writtenAtRestart).toBeLessThan(expected.size); // the run was mid-way when the broker went down

    const result = await stopWhenCaughtUp(run, brokers, groupId, topic, 100_000);
    expect(result.code, result.stderr).toBe(0);
    expect(exactlyOnceProblems(await outputDocs(out), expected)).toEqual([]);
    const m = await readManifest(out);
    // Balanced, also when the consumer restarted during the outage: documents in flight on its partitions
    // were then abandoned and read again (received twice), and written once.
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.received).toBeGreaterThanOrEqual(42);
  });
});
