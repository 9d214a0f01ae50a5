/**
 * Turns one strategy's raw measurements into its figures. Pure functions; all times in SIMULATED
 * seconds since the run started (wall-clock seconds / timeScale).
 *
 * Steady state is the part of the run where demand exceeds supply: from the completion of the
 * document at the 10th percentile of completion times (warm-up left out: the first documents run
 * their stages in lockstep, all extracting at once, and the controller is ramping) to the moment the
 * corpus ran out, i.e. the last document taking an llm.maxDocsInFlight slot (with several workers,
 * the earliest such moment of any worker), and no later than the 90th percentile of completions.
 * After the corpus runs out, every document still in flight finishes and none replaces it: the calls
 * offered fall below what the cluster runs, whoever schedules them, so that drain measures the corpus,
 * not the scheduler.
 */

/** One sample of the cluster and of the processes, summed over replicas. */
export interface Sample {
  simSec: number;
  wallMs: number;
  generatedTokens: number;
  running: number;
  waiting: number;
  /** Replica-seconds the KV cache held a queue back while batch slots were free (summed over replicas, cumulative). */
  kvBlockedSec?: number;
  /** Per replica: [running, waiting, KV-cache usage]. */
  perReplica?: Array<[number, number, number]>;
  /** Cumulative queue-time histogram over all replicas: [upper bound s, count], ascending. */
  queueBuckets: Array<[number, number]>;
  /** Cumulative time-to-first-token histogram over all replicas, the same way. */
  ttftBuckets: Array<[number, number]>;
  /** CPU time of the engine (every worker process), ms. */
  engineCpuMs: number;
  simCpuMs: number | undefined;
  machineBusyMs: number | undefined;
  machineTotalMs: number | undefined;
  /** Of the machine's time, what the hypervisor gave to other guests (/proc/stat steal; absent in older reports). */
  machineStealMs?: number | undefined;
}

export interface DocSpan {
  startSec: number;
  endSec: number;
  /** Which worker process (0 when there is one). */
  worker: number;
}

/** A document whose LLM part had started when its run was stopped at the window's end. */
export interface UnfinishedDoc {
  startSec: number;
  worker: number;
}

/** Cluster output capacity over simulated time: [from sec, tokens/s] steps, ascending (see scenarios.ts). */
export type CapacityTimeline = Array<[number, number]>;

/** Output tokens the cluster could have generated between two times. */
export function capacityBetween(c: CapacityTimeline, from: number, to: number): number {
  let total = 0;
  c.forEach(([at, rate], i) => {
    const end = c[i + 1]?.[0] ?? Infinity;
    const a = Math.max(from, at);
    const b = Math.min(to, end);
    if (b > a) total += (b - a) * rate;
  });
  return total;
}

export interface SteadyFigures {
  startSec: number;
  endSec: number;
  docs: number;
  docsPerSec: number;
  outputTokensPerSec: number;
  utilisation: number;
  latencyP50Sec: number;
  latencyP99Sec: number;
  /** Average cluster capacity over the window, output tokens/s (the capacity utilisation is measured against). */
  capacityTokensPerSec: number;
  /** Output tokens in the window / the nominal capacity's (when a second, nominal, capacity is given; else the same as utilisation). */
  nominalUtilisation: number;
  /** p99 server queue wait within the window, as the upper bound of its histogram bucket (vLLM's buckets). */
  queueWaitP99UpperBoundSec: number;
  /** p99 time to first token within the window, the same way. */
  ttftP99UpperBoundSec: number;
  /** Documents completed in the window per worker (one entry per worker). */
  docsPerWorker: number[];
  /** Share of requests completed in the window that waited at most 2 s in the server queue. */
  queueWaitWithin2sShare: number;
  cpu: CpuFigures;
}

export interface CpuFigures {
  /** Cores used on average (CPU ms / wall ms) by the engine process (all its threads). */
  engineCores: number;
  simulatorCores: number | undefined;
  /** Busy share of all the machine's cores (includes other users of the machine). */
  machineBusyShare: number | undefined;
  /** Share of all the machine's core time taken by the hypervisor for other guests (steal; inside busy). */
  machineStealShare?: number | undefined;
}

/** Nearest-rank percentile; 0 for no values. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** Linear interpolation of a sampled counter at `sec` (clamped to the sampled range). */
export function counterAt(samples: readonly Sample[], sec: number, value: (s: Sample) => number): number {
  if (samples.length === 0) return 0;
  if (sec <= samples[0]!.simSec) return value(samples[0]!);
  for (let i = 1; i < samples.length; i++) {
    const b = samples[i]!;
    if (sec <= b.simSec) {
      const a = samples[i - 1]!;
      const f = b.simSec === a.simSec ? 1 : (sec - a.simSec) / (b.simSec - a.simSec);
      return value(a) + f * (value(b) - value(a));
    }
  }
  return value(samples.at(-1)!);
}

/** The last sample at or before `sec` and the first at or after it (for histograms, which do not interpolate). */
function sampleBefore(samples: readonly Sample[], sec: number): Sample {
  let best = samples[0]!;
  for (const s of samples) if (s.simSec <= sec) best = s;
  return best;
}
function sampleAfter(samples: readonly Sample[], sec: number): Sample {
  return samples.find((s) => s.simSec >= sec) ?? samples.at(-1)!;
}

export function cpuBetween(a: Sample, b: Sample): CpuFigures {
  const wall = Math.max(1, b.wallMs - a.wallMs);
  const machineTotal = b.machineTotalMs !== undefined && a.machineTotalMs !== undefined ? b.machineTotalMs - a.machineTotalMs : undefined;
  return {
    engineCores: (b.engineCpuMs - a.engineCpuMs) / wall,
    simulatorCores: b.simCpuMs !== undefined && a.simCpuMs !== undefined ? (b.simCpuMs - a.simCpuMs) / wall : undefined,
    machineBusyShare: machineTotal ? (b.machineBusyMs! - a.machineBusyMs!) / machineTotal : undefined,
    machineStealShare: machineTotal && a.machineStealMs !== undefined && b.machineStealMs !== undefined ? (b.machineStealMs - a.machineStealMs) / machineTotal : undefined,
  };
}

/** Observations of a cumulative histogram between two samples: count and the p99's bucket bound and the share within 2 s. */
export function queueWaitBetween(a: Sample, b: Sample, which: 'queueBuckets' | 'ttftBuckets' = 'queueBuckets'): { count: number; p99UpperBoundSec: number; within2sShare: number } {
  const delta = b[which].map(([le, n], i) => [le, n - (a[which][i]?.[1] ?? 0)] as [number, number]);
  const count = delta.at(-1)?.[1] ?? 0;
  if (count === 0) return { count, p99UpperBoundSec: 0, within2sShare: 1 };
  const p99 = delta.find(([, n]) => n >= 0.99 * count)?.[0] ?? Infinity;
  const within2 = delta.filter(([le]) => le <= 2).at(-1)?.[1] ?? 0;
  return { count, p99UpperBoundSec: p99, within2sShare: within2 / count };
}

/**
 * The steady-state figures of one run; undefined when fewer than 10 documents completed. Utilisation
 * is against the capacity the cluster had over the window (`capacity`: a constant or a timeline).
 */
export function steadyState(
  docs: readonly DocSpan[],
  samples: readonly Sample[],
  capacity: number | CapacityTimeline,
  nominal: number | CapacityTimeline = capacity,
  unfinished: readonly UnfinishedDoc[] = [],
): SteadyFigures | undefined {
  const asTimeline = (c: number | CapacityTimeline): CapacityTimeline => (typeof c === 'number' ? [[0, c]] : c);
  const timeline = asTimeline(capacity);
  if (docs.length < 10 || samples.length < 2) return undefined;
  // A document cut off when the run stopped at the window's end ends after every finished one: the
  // percentiles count it, so the window is the one the whole run would have had.
  const ends = [...docs.map((d) => d.endSec), ...unfinished.map(() => Infinity)].sort((a, b) => a - b);
  const startSec = ends[Math.floor(0.1 * ends.length)]!;
  if (!Number.isFinite(startSec)) return undefined;
  const started = [...docs, ...unfinished];
  const workerIds = [...new Set(started.map((d) => d.worker))];
  const corpusOut = Math.min(...workerIds.map((w) => Math.max(...started.filter((d) => d.worker === w).map((d) => d.startSec))));
  const endSec = Math.max(startSec, Math.min(ends[Math.ceil(0.9 * ends.length) - 1]!, corpusOut));
  const inWindow = docs.filter((d) => d.endSec > startSec && d.endSec <= endSec);
  const span = Math.max(1e-9, endSec - startSec);
  const tokens = counterAt(samples, endSec, (s) => s.generatedTokens) - counterAt(samples, startSec, (s) => s.generatedTokens);
  const a = sampleBefore(samples, startSec);
  const b = sampleAfter(samples, endSec);
  const q = queueWaitBetween(a, b);
  const ttft = queueWaitBetween(a, b, 'ttftBuckets');
  const latencies = inWindow.map((d) => d.endSec - d.startSec);
  const capacityTokens = capacityBetween(timeline, startSec, endSec);
  const workers = Math.max(...docs.map((d) => d.worker)) + 1;
  return {
    startSec,
    endSec,
    docs: inWindow.length,
    docsPerSec: inWindow.length / span,
    outputTokensPerSec: tokens / span,
    utilisation: tokens / Math.max(1e-9, capacityTokens),
    nominalUtilisation: tokens / Math.max(1e-9, capacityBetween(asTimeline(nominal), startSec, endSec)),
    capacityTokensPerSec: capacityTokens / span,
    latencyP50Sec: percentile(latencies, 0.5),
    latencyP99Sec: percentile(latencies, 0.99),
    queueWaitP99UpperBoundSec: q.p99UpperBoundSec,
    queueWaitWithin2sShare: q.within2sShare,
    ttftP99UpperBoundSec: ttft.p99UpperBoundSec,
    docsPerWorker: Array.from({ length: workers }, (_, w) => inWindow.filter((d) => d.worker === w).length),
    cpu: cpuBetween(a, b),
  };
}

/** Utilisation over time: output tokens per simulated second / capacity then, in buckets of `bucketSec`. */
export function utilisationSeries(samples: readonly Sample[], capacity: CapacityTimeline, bucketSec: number): Array<[number, number]> {
  if (samples.length < 2) return [];
  const out: Array<[number, number]> = [];
  const first = samples[0]!.simSec;
  const last = samples.at(-1)!.simSec;
  for (let t = first; t < last; t += bucketSec) {
    const end = Math.min(last, t + bucketSec);
    const tokens = counterAt(samples, end, (s) => s.generatedTokens) - counterAt(samples, t, (s) => s.generatedTokens);
    out.push([end, tokens / Math.max(1e-9, capacityBetween(capacity, t, end))]);
  }
  return out;
}
