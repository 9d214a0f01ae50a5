import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { GemflowError } from '../src/errors.js';
import { maxOutputTokensPerSec, saturatedOutputTokensPerSec, type KvAllocation, type RuntimeCapacity } from '../src/simulator/capacity-model.js';
import { DEFAULT_SIMULATOR_OPTIONS } from '../src/simulator/options.js';
import { steadyState, type DocSpan, type Sample, type UnfinishedDoc } from './analyse.js';
import { capacityTimeline, type FiredEvent, type Scenario } from './scenarios.js';
import { machineCpuMs, procCpuMs, nodeArgs, SimProcess, type ReplicaGauges, type SimCapacity } from './sim-process.js';
import { split, type StrategySpec } from './strategies.js';
import type { StrategyResult, WorkerResult } from './strategy-result.js';

export interface StrategyRunOptions {
  scenario: Scenario;
  strategy: StrategySpec;
  /** One corpus file per worker. */
  corpusFiles: string[];
  workDir: string;
  replicas: number;
  timeScale: number;
  maxDocsInFlight: number;
  model: SimCapacity;
  cpuReplay: boolean;
  /** Stop the workers once the measured window is over (worker-run.ts --stop-at-window-end); not with cpuReplay, whose replay needs every answer. */
  stopAtWindowEnd?: boolean;
  /** LLM answers the run needs without repairs (the scenario's events are triggered at shares of it). */
  expectedAnswers: number;
  /**
   * Deliverable output rate per replica state, shared by the runs of one scenario (the same corpus, so
   * the same requests): the first run's request sizes fill it, so every strategy of a scenario is
   * measured against the same capacity.
   */
  deliverableMemo?: Map<string, number>;
}

/** Answers so far: requests that decoded to the end, the count of the summed queue-time histogram. */
export const answersOf = (s: Sample): number => s.queueBuckets.at(-1)?.[1] ?? 0;

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const epochMs = () => performance.timeOrigin + performance.now();

function sumBuckets(gs: ReplicaGauges[], which: 'queueBuckets' | 'ttftBuckets'): Array<[number, number]> {
  const first = gs.find((g) => g[which].length > 0);
  if (!first) return [];
  return first[which].map(([le], i) => [le, gs.reduce((n, g) => n + (g[which][i]?.[1] ?? 0), 0)]);
}

/**
 * One replica's deliverable output rate in a given state for this run's requests: the capacity model
 * replayed with its queue never empty (saturatedOutputTokensPerSec) on their prompt and completion
 * sizes in the order each replica finished them (replica after replica), memoised per state in
 * `memo`. The order matters: documents pass through the stages in waves, so the large requests
 * (ground, refine: 6-7k tokens of KV each) arrive together, and while they do fewer than the
 * saturating batch fit in the KV cache. (Shuffled, the same requests fill decode: the well-mixed
 * workload is not KV-bound; in the order the pipeline offers them it is, at times, for any scheduler
 * that does not reorder calls by size.)
 */
function deliverableRate(jobs: Array<[number, number]>, memo: Map<string, number>, kvAllocation: KvAllocation = 'reserve'): (r: RuntimeCapacity) => number {
  const list = jobs.map(([promptTokens, completionTokens]) => ({ promptTokens, completionTokens }));
  return (r) => {
    const p = { maxRunningSeqs: r.maxRunningSeqs, prefillTokensPerSec: r.prefillTokensPerSec, decodeTokensPerSec: r.decodeTokensPerSec, maxDecodeTokensPerSecPerSeq: r.maxDecodeTokensPerSecPerSeq, kvCacheTokens: r.kvCacheTokens, tickMs: DEFAULT_SIMULATOR_OPTIONS.tickMs, kvAllocation };
    const key = JSON.stringify(p);
    if (!memo.has(key)) memo.set(key, Math.min(maxOutputTokensPerSec(r), saturatedOutputTokensPerSec(p, list, 4000, 0.1)));
    return memo.get(key)!;
  };
}

/** Starts a worker process and resolves once it has built its pipeline and said it is ready. */
async function startWorker(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs('worker'), here('./worker-run.js'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit').then(([code]) => {
    throw new GemflowError('bench_failed', `a worker exited with code ${code} before it was ready`);
  });
  const ready = (async () => {
    for await (const line of lines) if (line.includes('"ready"')) return;
    throw new GemflowError('bench_failed', 'a worker closed stdout before it was ready');
  })();
  await Promise.race([ready, exited]);
  exited.catch(() => {});
  return child;
}

/**
 * One strategy in one scenario: a fresh simulator cluster (a process per replica) set up as the scenario
 * says, the scenario's workers (each its own process, see worker-run.ts) started together, the
 * cluster sampled about every simulated second from this process, each of the scenario's events
 * applied at the first sample that shows its share of the expected answers in (progress, not a fixed
 * time, so it falls inside the measured window on a slow machine too; the simulated time at which the
 * replica had taken it is recorded and the capacity timeline built from those times); then every
 * worker's results and the simulators' exact figures, analysed.
 */
export async function runStrategy(o: StrategyRunOptions): Promise<StrategyResult> {
  const { scenario, strategy, timeScale } = o;
  const sim = await SimProcess.start(o.replicas, timeScale, o.model);
  const workers: ChildProcess[] = [];
  try {
    for (const c of scenario.initial) await sim.configure(c.replica, c.config);
    const n = o.corpusFiles.length;
    const results = o.corpusFiles.map((_, w) => join(o.workDir, `worker-${w}.json`));
    await mkdir(o.workDir, { recursive: true });
    const started = await Promise.all(
      o.corpusFiles.map((corpus, w) =>
        startWorker([
          '--strategy', JSON.stringify(strategy),
          '--corpus', corpus,
          '--work-dir', join(o.workDir, `w${w}`),
          '--result', results[w]!,
          '--urls', sim.urls.join(','),
          '--time-scale', String(timeScale),
          // Several workers share the documents in flight as they share the corpus: the same offered load.
          '--max-docs-in-flight', String(split(o.maxDocsInFlight, n, w)),
          '--worker', String(w),
          '--workers', String(n),
          ...(scenario.mixedWorkflows ? ['--mixed'] : []),
          ...(o.cpuReplay && w === 0 ? ['--cpu-replay'] : []),
          ...(o.stopAtWindowEnd && !o.cpuReplay ? ['--stop-at-window-end'] : []),
        ]),
      ),
    );
    workers.push(...started);
    const exits = workers.map((c) => once(c, 'exit') as Promise<[number | null]>);

    const t0 = epochMs();
    const toSim = (ms: number) => (ms - t0) / 1000 / timeScale;
    for (const c of workers) c.stdin!.end('go\n');
    const pending = [...scenario.events].sort((a, b) => a.atShare - b.atShare);
    const fired: FiredEvent[] = [];
    const fireDue = async (answers: number) => {
      while (pending.length > 0 && answers >= pending[0]!.atShare * o.expectedAnswers) {
        const e = pending.shift()!;
        await sim.configure(e.replica, e.config);
        fired.push({ ...e, atSec: toSim(epochMs()), answers });
      }
    };

    const engineCpu = new Map<number, number>();
    const samples: Sample[] = [];
    const sample = async () => {
      const [gs, simCpuMs, machine, ...cpus] = await Promise.all([sim.gauges(), sim.cpuMs(), machineCpuMs(), ...workers.map((c) => procCpuMs(c.pid))]);
      cpus.forEach((ms, i) => ms !== undefined && engineCpu.set(i, ms));
      const now = epochMs();
      samples.push({
        simSec: toSim(now),
        wallMs: now - t0,
        generatedTokens: gs.reduce((a, g) => a + g.generatedTokens, 0),
        running: gs.reduce((a, g) => a + g.running, 0),
        waiting: gs.reduce((a, g) => a + g.waiting, 0),
        kvBlockedSec: gs.reduce((a, g) => a + g.kvBlockedSec, 0),
        perReplica: gs.map((g) => [g.running, g.waiting, Math.round(1000 * g.kvCacheUsage) / 1000]),
        queueBuckets: sumBuckets(gs, 'queueBuckets'),
        ttftBuckets: sumBuckets(gs, 'ttftBuckets'),
        engineCpuMs: [...engineCpu.values()].reduce((a, b) => a + b, 0),
        simCpuMs,
        machineBusyMs: machine?.busy,
        machineTotalMs: machine?.total,
        machineStealMs: machine?.steal,
      });
    };
    // About one sample per simulated second, but not more often than every 50 ms of wall time.
    const sampleMs = Math.max(50, 1000 * timeScale);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample();
        await fireDue(answersOf(samples.at(-1)!));
        await new Promise((r) => setTimeout(r, sampleMs));
      }
    })();
    sampler.catch(() => {}); // a failed sample or event stops the sampling; it is thrown below, once the workers are done
    const codes = await Promise.all(exits);
    sampling = false;
    await sampler;
    await sample();
    const wallMs = epochMs() - t0;
    const bad = codes.findIndex(([code]) => code !== 0);
    if (bad >= 0) throw new GemflowError('bench_failed', `${scenario.name}/${strategy.name}: worker ${bad} exited with code ${codes[bad]![0]}`);
    const simStats = await sim.stats();

    const ws = await Promise.all(results.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as WorkerResult));
    const docs: DocSpan[] = ws.flatMap((w, worker) => w.docs.map((d) => ({ startSec: toSim(d.startMs), endSec: toSim(d.endMs), worker })));
    const unfinished: UnfinishedDoc[] = ws.flatMap((w, worker) => (w.unfinished ?? []).map((ms) => ({ startSec: toSim(ms), worker })));
    const capacity = capacityTimeline(scenario, o.model, o.replicas, fired);
    const deliverable = capacityTimeline(scenario, o.model, o.replicas, fired, deliverableRate(simStats.flatMap((x) => x.jobs), o.deliverableMemo ?? new Map(), o.model.kvAllocation));
    const sumOf = (pick: (w: WorkerResult) => Record<string, number>) =>
      ws.reduce<Record<string, number>>((acc, w) => {
        for (const [k, v] of Object.entries(pick(w))) acc[k] = (acc[k] ?? 0) + v;
        return acc;
      }, {});
    return {
      scenario: scenario.name,
      strategy: strategy.name,
      kind: strategy.kind,
      toldCapacity: strategy.toldCapacity,
      description: strategy.description,
      replicas: o.replicas,
      workers: n,
      timeScale,
      capacity,
      deliverable,
      expectedAnswers: o.expectedAnswers,
      events: fired,
      wallMs,
      simSec: wallMs / 1000 / timeScale,
      totals: {
        received: ws.reduce((a, w) => a + w.funnel.documents.received, 0),
        written: ws.reduce((a, w) => a + w.funnel.documents.written, 0),
        trajectories: ws.reduce((a, w) => a + w.funnel.trajectories.written, 0),
        balanced: ws.every((w) => w.funnel.balanced),
        deadLettered: sumOf((w) => w.funnel.documents.deadLettered),
        dropped: sumOf((w) => w.funnel.documents.dropped),
        abandoned: ws.reduce((a, w) => a + w.funnel.documents.abandoned, 0),
      },
      fatal: ws.flatMap((w) => (w.fatal ? [w.fatal] : [])),
      docs,
      unfinished,
      samples,
      steady: steadyState(docs, samples, deliverable, capacity, unfinished),
      server: {
        requests: simStats.reduce((a, x) => a + x.requests.total, 0),
        byStatus: simStats.reduce<Record<string, number>>((acc, x) => {
          for (const [k, v] of Object.entries(x.requests.byStatus)) acc[k] = (acc[k] ?? 0) + v;
          return acc;
        }, {}),
        generatedTokens: simStats.reduce((a, x) => a + x.tokens.generated, 0),
        promptTokens: simStats.reduce((a, x) => a + x.tokens.prompt, 0),
        queueWaitP99Sec: Math.max(...simStats.map((x) => x.queueWaitSec.p99)),
        queueWaitP50Sec: Math.max(...simStats.map((x) => x.queueWaitSec.p50)),
        ttftP99Sec: Math.max(...simStats.map((x) => x.ttftSec.p99)),
        invalidAnswers: simStats.reduce((a, x) => a + x.invalidAnswers, 0),
        abortedGenerations: simStats.reduce((a, x) => a + x.abortedGenerations, 0),
        abandonedWaiting: simStats.reduce((a, x) => a + (x.abandonedWaiting ?? 0), 0),
        decodedTokens: simStats.reduce((a, x) => a + x.decodedTokens, 0),
        kvBlockedSec: simStats.reduce((a, x) => a + x.kvBlockedSec, 0),
        faults: simStats.reduce((a, x) => a + Object.values(x.requests.byFault).reduce((p, q) => p + (q ?? 0), 0), 0),
      },
      peakRssBytes: Math.max(...ws.map((w) => w.peakRssBytes)),
      eventLoopDelayP99Ms: Math.max(...ws.map((w) => w.eventLoopDelayP99Ms)),
      stages: ws.map((w) => w.stages),
      cpuReplay: ws[0]?.cpuReplay,
      requeued: ws.reduce((a, w) => a + (w.requeued ?? 0), 0),
      limits: ws.flatMap((w, worker) => (w.limits ?? []).map(([ms, replica, limit, rule, inFlight]) => [toSim(ms), worker, replica, limit, rule, inFlight] as [number, number, number, number, string, number?])),
    };
  } finally {
    for (const c of workers) if (c.exitCode === null) c.kill('SIGTERM');
    await sim.close();
  }
}
