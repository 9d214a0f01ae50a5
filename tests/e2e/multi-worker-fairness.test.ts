import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCorpus } from '../../bench/corpus.js';
import { parseMetrics } from '../../bench/sim-process.js';
import { ROOT, startCli, tempDir, writePipeline } from './harness.js';

/**
 * Issue 12, "many clients, one cluster": four `gemflow run` processes share two simulated replicas
 * (one simulator process), each worker steering its own per-replica limits from the replicas' gauges,
 * which count every worker's requests. The control law must make them share the cluster fairly, and
 * together keep each replica's queue bounded, neither over-shedding (each subtracting the whole
 * backlog) nor piling up work.
 */

const WORKERS = 4;
const SLOTS = 32; // per replica: vLLM --max-num-seqs
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const exit = once(c, 'exit');
    c.kill('SIGKILL');
    await exit;
  }
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * LLM calls completed so far by the worker whose /metrics is on `port` (0 until it answers): calls
 * made, less those in flight or waiting for a slot.
 */
async function completed(port: number): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const total = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    return total('gemflow_llm_calls_total') - total('gemflow_llm_requests_in_flight') - total('gemflow_llm_requests_waiting');
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fails with the worker's own last words when one has exited before the test stopped it. */
async function allAlive(runs: Array<ReturnType<typeof startCli>>): Promise<void> {
  for (const [w, r] of runs.entries()) {
    if (r.child.exitCode === null && r.child.signalCode === null) continue;
    const { code, signal, stderr } = await r.done;
    expect.fail(`worker ${w} exited early (code ${code}, signal ${signal}): ${stderr.slice(-2000)}`);
  }
}

describe('four gemflow workers sharing two replicas', () => {
  it("keep every replica's queue bounded and get shares of the completed calls within 25% of each other", async () => {
    const sim = spawn(
      process.execPath,
      [join(ROOT, 'dist/src/simulator/main.js'), '--port', '0', '--replicas', '2', '--max-running-seqs', String(SLOTS), '--time-scale', '0.05', '--tick-ms', '50'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(sim);
    let urls: string[] = [];
    for await (const line of createInterface({ input: sim.stdout! })) {
      urls = (JSON.parse(line) as { urls: string[] }).urls;
      break;
    }
    expect(urls).toHaveLength(2);

    const dir = await tempDir('fair');
    const corpus = join(dir, 'corpus.jsonl');
    await writeCorpus(corpus, 3000);
    const ports: number[] = [];
    const runs: Array<ReturnType<typeof startCli>> = [];
    for (let w = 0; w < WORKERS; w++) {
      const port = await freePort();
      ports.push(port);
      const cfg = await writePipeline(dir, {
        source: { type: 'files', paths: [corpus] },
        relevance: { threads: 0 },
        // Demand well above a fair share (64 slots / 4 workers): the workers compete for the replicas.
        llm: { endpoints: urls.map((url) => ({ url })), cache: { enabled: false }, maxDocsInFlight: 48 },
        sink: { dir: join(dir, `out-${w}`) },
        server: { port, drainGraceMs: 1000 },
      }, `worker-${w}.yaml`);
      const run = startCli(['run', cfg, '--quiet']);
      children.push(run.child);
      runs.push(run);
    }

    const replicaGauges = () => Promise.all(urls.map(async (u) => parseMetrics(await (await fetch(`${u}/metrics`)).text())));
    const snapshot = () => Promise.all(ports.map(completed));
    // Every worker is at work, and the cluster has settled a while under all four.
    let counts = await snapshot();
    while (Math.min(...counts) < 20) {
      await allAlive(runs);
      await sleep(200);
      counts = await snapshot();
    }
    const settled = counts.reduce((a, b) => a + b, 0) + 400;
    while (counts.reduce((a, b) => a + b, 0) < settled) {
      await sleep(200);
      counts = await snapshot();
    }

    // The measured window: 1,200 more calls in all.
    const before = counts;
    const waiting: number[][] = [[], []];
    const running: number[] = [];
    const end = before.reduce((a, b) => a + b, 0) + 1200;
    while (counts.reduce((a, b) => a + b, 0) < end) {
      await allAlive(runs);
      const gs = await replicaGauges();
      gs.forEach((g, i) => waiting[i]!.push(g.waiting));
      running.push(gs.reduce((n, g) => n + g.running, 0));
      await sleep(100);
      counts = await snapshot();
    }
    for (const r of runs) r.child.kill('SIGTERM');
    await Promise.all(runs.map((r) => r.done));

    const shares = counts.map((c, i) => c - before[i]!);
    // Each worker's share within 25% of every other's.
    expect(Math.min(...shares) / Math.max(...shares), `calls per worker in the window: ${shares.join(', ')}`).toBeGreaterThanOrEqual(0.75);
    // No replica's queue grows without bound: its peaks (all four workers growing into the same room
    // at once) stay within two batches, and its second half is no longer than its first (no trend).
    for (const w of waiting) {
      expect(Math.max(...w), `waiting samples: ${w.join(',')}`).toBeLessThanOrEqual(2 * SLOTS);
      const half = Math.floor(w.length / 2);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      expect(mean(w.slice(half))).toBeLessThanOrEqual(mean(w.slice(0, half)) + SLOTS / 4);
    }
    // Nor is the cluster starved by over-shedding: it runs most of its batch slots on average.
    const meanRunning = running.reduce((a, b) => a + b, 0) / running.length;
    expect(meanRunning, `running samples: ${running.join(',')}`).toBeGreaterThanOrEqual(0.75 * 2 * SLOTS);
  }, 600_000);
});
