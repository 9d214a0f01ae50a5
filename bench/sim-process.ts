import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { GemflowError } from '../src/errors.js';
import { NODE_FLAGS } from '../src/node-flags.js';
import type { SimStats, SimulatorRuntimeConfig } from '../src/simulator/index.js';
import type { KvAllocation } from '../src/simulator/capacity-model.js';
import { DEFAULT_SIMULATOR_OPTIONS } from '../src/simulator/options.js';

/**
 * The simulator cluster in its own Node processes (`dist/src/simulator/main.js`, one per replica), so
 * its capacity model's timers do not share an event loop with the engine under test. Read through HTTP: `/metrics`
 * (cheap; sampled during the run) and `/sim/stats` (exact queue-wait percentiles; read once at the end).
 */

export interface SimCapacity {
  maxRunningSeqs: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  maxDecodeTokensPerSecPerSeq: number;
  kvCacheTokens: number;
  /** The simulator's KV allocation model (default reserve; see src/simulator/options.ts). */
  kvAllocation?: KvAllocation;
}

/** One replica's counters and gauges from /metrics. */
export interface ReplicaGauges {
  generatedTokens: number;
  running: number;
  waiting: number;
  /** Cumulative vllm:request_queue_time_seconds buckets: upper bound (s) -> count; +Inf as Infinity. */
  queueBuckets: Array<[number, number]>;
  /** Cumulative vllm:time_to_first_token_seconds buckets, the same way. */
  ttftBuckets: Array<[number, number]>;
  /** Simulated seconds its KV cache held its queue back while batch slots were free (sim:kv_blocked_seconds_total). */
  kvBlockedSec: number;
  /** vllm:kv_cache_usage_perc. */
  kvCacheUsage: number;
}

/** One H100 80GB serving a 32B model in bf16 with vLLM: the simulator's defaults (assumptions, not measurements). */
export const REPLICA_MODEL: SimCapacity = {
  maxRunningSeqs: DEFAULT_SIMULATOR_OPTIONS.maxRunningSeqs,
  prefillTokensPerSec: DEFAULT_SIMULATOR_OPTIONS.prefillTokensPerSec,
  decodeTokensPerSec: DEFAULT_SIMULATOR_OPTIONS.decodeTokensPerSec,
  maxDecodeTokensPerSecPerSeq: DEFAULT_SIMULATOR_OPTIONS.maxDecodeTokensPerSecPerSeq,
  kvCacheTokens: DEFAULT_SIMULATOR_OPTIONS.kvCacheTokens,
};

export class SimProcess {
  /** Each replica's last gauges read: a replica that is down (connections reset) keeps its last ones. */
  private readonly last: ReplicaGauges[];

  private constructor(
    readonly children: ChildProcess[],
    readonly urls: string[],
  ) {
    this.last = urls.map(() => ({ generatedTokens: 0, running: 0, waiting: 0, queueBuckets: [], ttftBuckets: [], kvBlockedSec: 0, kvCacheUsage: 0 }));
  }

  /**
   * Starts `replicas` replicas on free ports, each in its own process (as deployed, every vLLM replica
   * is its own server with its own front end: one process for all of them put every replica's HTTP
   * parsing and answer generation on one core, and in the bursts of a run's stage waves that process
   * sat 95-99% busy for 1-2 s wall, 50-100 simulated seconds at timeScale 0.02, with hundreds of
   * requests sent but not yet seen by any replica's gauges); resolves once all listen.
   */
  static async start(replicas: number, timeScale: number, capacity: SimCapacity, signal?: AbortSignal): Promise<SimProcess> {
    const started = await Promise.allSettled(Array.from({ length: replicas }, (_, i) => SimProcess.#spawn(i, timeScale, capacity, signal)));
    const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((c) => SimProcess.#stop(c.child)));
      throw failed.reason;
    }
    return new SimProcess(
      ok.map((c) => c.child),
      ok.flatMap((c) => c.urls),
    );
  }

  /** One replica, numbered `replica` (its fault rolls and ids), in its own process. */
  static async #spawn(replica: number, timeScale: number, capacity: SimCapacity, signal?: AbortSignal): Promise<{ child: ChildProcess; urls: string[] }> {
    const main = fileURLToPath(new URL('../src/simulator/main.js', import.meta.url));
    const args = [
      main,
      '--port', '0',
      '--replicas', '1',
      '--first-replica', String(replica),
      '--time-scale', String(timeScale),
      '--max-running-seqs', String(capacity.maxRunningSeqs),
      '--prefill-tokens-per-sec', String(capacity.prefillTokensPerSec),
      '--decode-tokens-per-sec', String(capacity.decodeTokensPerSec),
      '--max-decode-tokens-per-sec-per-seq', String(capacity.maxDecodeTokensPerSecPerSeq),
      '--kv-cache-tokens', String(capacity.kvCacheTokens),
      '--kv-allocation', capacity.kvAllocation ?? 'reserve',
    ];
    const child = spawn(process.execPath, [...nodeArgs('sim'), ...args], { stdio: ['ignore', 'pipe', 'inherit'], signal });
    const lines = createInterface({ input: child.stdout! });
    const exited = once(child, 'exit').then(([code]) => {
      throw new GemflowError('bench_simulator_failed', `simulator exited with code ${code} before listening`);
    });
    const first = (async () => {
      for await (const line of lines) return JSON.parse(line) as { urls: string[] };
      throw new GemflowError('bench_simulator_failed', 'simulator closed stdout before listening');
    })();
    const { urls } = await Promise.race([first, exited]);
    exited.catch(() => {}); // exits at close(), after it listened
    return { child, urls };
  }

  static async #stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    await exit;
  }

  async gauges(): Promise<ReplicaGauges[]> {
    return Promise.all(
      this.urls.map(async (u, i) => {
        try {
          this.last[i] = parseMetrics(await (await fetch(`${u}/metrics`)).text());
        } catch {
          // down: nothing runs or completes there, so its counters stand still
          this.last[i] = { ...this.last[i]!, running: 0, waiting: 0, kvCacheUsage: 0 };
        }
        return this.last[i]!;
      }),
    );
  }

  /** Applies a runtime change to one replica (POST /_sim/config). */
  async configure(replica: number, config: SimulatorRuntimeConfig): Promise<void> {
    const post = () => fetch(`${this.urls[replica]}/_sim/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    // A pooled connection the replica reset while it was down fails once; a fresh one gets through.
    const res = await post().catch(() => post());
    if (res.status !== 200) throw new GemflowError('bench_simulator_failed', `POST /_sim/config to replica ${replica}: ${res.status} ${await res.text()}`);
  }

  async stats(): Promise<SimStats[]> {
    return Promise.all(this.urls.map(async (u) => (await (await fetch(`${u}/sim/stats`)).json()) as SimStats));
  }

  /** CPU time (user + system) the simulator processes have used, ms; undefined where /proc is missing. */
  async cpuMs(): Promise<number | undefined> {
    const each = await Promise.all(this.children.map((c) => procCpuMs(c.pid)));
    return each.some((ms) => ms === undefined) ? undefined : each.reduce((a: number, b) => a + b!, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => SimProcess.#stop(c)));
  }
}

/** Reads the gauges the benchmark needs from a vLLM-style Prometheus exposition. */
export function parseMetrics(text: string): ReplicaGauges {
  const g: ReplicaGauges = { generatedTokens: 0, running: 0, waiting: 0, queueBuckets: [], ttftBuckets: [], kvBlockedSec: 0, kvCacheUsage: 0 };
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('vllm:generation_tokens_total')) g.generatedTokens = value;
    else if (line.startsWith('vllm:num_requests_running')) g.running = value;
    else if (line.startsWith('vllm:num_requests_waiting')) g.waiting = value;
    else if (line.startsWith('sim:kv_blocked_seconds_total')) g.kvBlockedSec = value;
    else if (line.startsWith('vllm:kv_cache_usage_perc')) g.kvCacheUsage = value;
    else if (line.startsWith('vllm:request_queue_time_seconds_bucket') || line.startsWith('vllm:time_to_first_token_seconds_bucket')) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      const into = line.startsWith('vllm:request') ? g.queueBuckets : g.ttftBuckets;
      if (le !== undefined) into.push([le === '+Inf' ? Infinity : Number(le), value]);
    }
  }
  return g;
}

/**
 * Node flags of a benchmark process (`kind`: sim, worker or a script): gemflow's own (src/node-flags.ts,
 * as the image runs it), and a CPU profile written into $GEMFLOW_BENCH_CPU_PROF when that is set
 * (NODE_OPTIONS may not carry --cpu-prof): how the rig's CPU per simulated second was split between the
 * test double and the engine.
 */
export function nodeArgs(kind: string): string[] {
  const dir = process.env.GEMFLOW_BENCH_CPU_PROF;
  return [...NODE_FLAGS, ...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}/${kind}`] : [])];
}

/** Linux: utime + stime of a process from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 10 ms). */
export async function procCpuMs(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Linux: busy and total CPU time of the whole machine (all cores) from /proc/stat, ms. */
export async function machineCpuMs(): Promise<{ busy: number; total: number; steal: number } | undefined> {
  try {
    const first = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const ticks = first.trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = ticks[3]! + (ticks[4] ?? 0);
    const total = ticks.reduce((a, b) => a + b, 0);
    // steal: time the hypervisor ran something else on our virtual CPUs (inside busy).
    return { busy: (total - idle) * 10, total: total * 10, steal: (ticks[7] ?? 0) * 10 };
  } catch {
    return undefined;
  }
}

/**
 * For a benchmark script run by hand (`node dist/bench/<script>.js`): when this process lacks gemflow's
 * Node flags (src/node-flags.ts; V8 takes them only at start), runs the same script again with them,
 * passing its output through, and returns true (the caller returns; the exit code is the child's).
 */
export async function rerunWithNodeFlags(): Promise<boolean> {
  const options = (process.env.NODE_OPTIONS ?? '').split(/\s+/);
  const missing = NODE_FLAGS.filter((f) => !process.execArgv.includes(f) && !options.includes(f));
  if (missing.length === 0) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...missing, process.argv[1]!, ...process.argv.slice(2)], { stdio: 'inherit' });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  process.exitCode = code ?? (signal ? 1 : 0);
  return true;
}
