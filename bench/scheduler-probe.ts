/**
 * Scheduler probe: how much of a simulated vLLM cluster's decode capacity the inference client keeps
 * busy, adaptive controller vs a fixed semaphore. Not the full benchmark (that is bench/run.ts).
 *
 *   npx tsc -p . && node dist/bench/scheduler-probe.js [--replicas 1,4] [--seconds 20] [--warmup 8] [--fixed 64]
 *
 * For each replica count it starts a fresh simulator cluster (default capacity model: 256 running
 * sequences, 2,500 output tokens/s aggregate, 40 tokens/s per sequence) and drives it closed-loop
 * with far more concurrent calls than it can run (short prompts, ~24-token answers), so the client's
 * concurrency limits decide the load. After a warm-up, it reads each replica's /sim/stats twice and
 * reports generated tokens per simulated second over the window, as a fraction of capacity
 * (utilisation), plus the p99 server queue wait and the final limits. Strategies:
 *   adaptive  the default client (AdaptiveController, initial limit 16 per replica, at most
 *             `--max-concurrency` per replica: above the simulator's 256, only the controller stops a queue)
 *   fixed     adaptive off, `--fixed` requests in flight in total, split evenly over the replicas
 */
import { setMaxListeners } from 'node:events';
import { parseArgs } from 'node:util';
import { EndpointConfig } from '../src/config/schema.js';
import { HttpInferenceClient } from '../src/llm/client.js';
import { startSimulatorCluster, type SimulatorHandle, type SimStats } from '../src/simulator/index.js';

interface Row {
  strategy: string;
  replicas: number;
  utilisation: number;
  outputTokensPerSec: number;
  capacityTokensPerSec: number;
  p99QueueWaitSec: number;
  limits: number[];
  /** Server queue length per replica at the end of the window. */
  waiting: number[];
}

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '1,4' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '8' },
    fixed: { type: 'string', default: '64' },
    'max-concurrency': { type: 'string', default: '256' },
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(strategy: 'adaptive' | 'fixed', replicas: number): Promise<Row> {
  const sims = await startSimulatorCluster(replicas);
  const fixed = Number(values.fixed);
  const perReplica = Math.max(1, Math.floor(fixed / replicas));
  const client = new HttpInferenceClient({
    endpoints: sims.map((s) =>
      EndpointConfig.parse(
        strategy === 'fixed'
          ? { url: s.url, initialConcurrency: perReplica, maxConcurrency: perReplica }
          : { url: s.url, maxConcurrency: Number(values['max-concurrency']) },
      ),
    ),
    timeoutMs: 120_000,
    maxRetries: 4,
    adaptive: strategy === 'adaptive',
  });
  const stop = new AbortController();
  setMaxListeners(Infinity, stop.signal);
  const demand = replicas * 400; // well above what the cluster can run at once
  const loops = Array.from({ length: demand }, async (_, i) => {
    for (let n = 0; !stop.signal.aborted; n++) {
      await client
        .chat({ stage: 'probe', messages: [{ role: 'user', content: `probe ${i}/${n}: ${'lorem ipsum '.repeat(8)}` }], maxTokens: 64, temperature: 0, signal: stop.signal })
        .catch(() => {});
    }
  });
  await sleep(Number(values.warmup) * 1000);
  const before = await Promise.all(sims.map(stats));
  await sleep(Number(values.seconds) * 1000);
  const after = await Promise.all(sims.map(stats));
  const limits = client.endpoints().map((e) => e.limit);
  const waiting = after.map((a) => a.waiting);
  stop.abort();
  await Promise.all(loops);
  await client.close();
  await Promise.all(sims.map((s) => s.close()));

  let tokens = 0;
  let capacity = 0;
  after.forEach((a, i) => {
    const b = before[i]!;
    const simSec = a.simNowSec - b.simNowSec;
    tokens += (a.tokens.generated - b.tokens.generated) / simSec;
    capacity += a.capacity.maxOutputTokensPerSec;
  });
  return {
    strategy: strategy === 'fixed' ? `fixed ${fixed}` : 'adaptive',
    replicas,
    utilisation: tokens / capacity,
    outputTokensPerSec: tokens,
    capacityTokensPerSec: capacity,
    p99QueueWaitSec: Math.max(...after.map((a) => a.queueWaitSec.p99)),
    limits,
    waiting,
  };
}

async function stats(s: SimulatorHandle): Promise<SimStats> {
  return (await (await fetch(`${s.url}/sim/stats`)).json()) as SimStats;
}

const rows: Row[] = [];
for (const n of values.replicas.split(',').map(Number)) {
  for (const strategy of ['adaptive', 'fixed'] as const) rows.push(await measure(strategy, n));
}
console.log('| strategy | replicas | output tok/s | capacity tok/s | utilisation | p99 queue wait (s) | final limits | final server queues |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.strategy} | ${r.replicas} | ${r.outputTokensPerSec.toFixed(0)} | ${r.capacityTokensPerSec.toFixed(0)} | ${r.utilisation.toFixed(3)} | ${r.p99QueueWaitSec.toFixed(2)} | ${r.limits.join(', ')} | ${r.waiting.join(', ')} |`,
  );
}
