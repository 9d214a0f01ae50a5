import type { AdaptiveOptions } from '../src/llm/adaptive-controller.js';
import { PROBE_BASE_MS, PROBE_MAX_MS } from '../src/llm/circuit-breaker.js';
import { type Admission, BatchBarrier } from './batch-barrier.js';

/**
 * The ways of driving the cluster the benchmark compares. Each is the same pipeline, built by the
 * composition root as `gemflow run` builds it (bench/bench-pipeline.ts), with a different endpoint
 * set-up and, for the batch barrier, an admission policy for documents' LLM work. A strategy is plain
 * data, so it can be handed to a worker process as JSON.
 */
export type StrategyKind = 'gemflow' | 'fixed' | 'batch-barrier' | 'unbounded';

export interface StrategySpec {
  /** Name in the report: gemflow, fixed-capacity, fixed-best, fixed-<N> (sweep), batch-barrier, unbounded. */
  name: string;
  kind: StrategyKind;
  /** fixed: requests in flight over the whole cluster (split over the replicas and the workers). */
  totalInFlight?: number;
  /** batch-barrier: documents per batch. */
  batchDocs?: number;
  /** Whether the operator had to know the cluster's capacity to set it up. */
  toldCapacity: boolean;
  description: string;
}

/** With adaptation off, a replica's limit stays at initialConcurrency: this is "no limit" for the unbounded baseline. */
const NO_LIMIT = 100_000;

export const gemflowStrategy = (): StrategySpec => ({
  name: 'gemflow',
  kind: 'gemflow',
  toldCapacity: false,
  description: "adaptive per-replica concurrency from the servers' /metrics gauges (the default client of `gemflow run`), no barrier",
});

export const fixedStrategy = (name: string, totalInFlight: number, why: string): StrategySpec => ({
  name,
  kind: 'fixed',
  totalInFlight,
  toldCapacity: true,
  description: `${totalInFlight} requests in flight over the cluster (split evenly over the replicas and the workers), no adaptation: ${why}`,
});

export const barrierStrategy = (batchDocs: number, why: string): StrategySpec => ({
  name: 'batch-barrier',
  kind: 'batch-barrier',
  batchDocs,
  toldCapacity: true,
  description: `gather ${batchDocs} documents, run all their LLM work, wait for the slowest before the next batch (${why}); no per-replica limit`,
});

export const unboundedStrategy = (): StrategySpec => ({
  name: 'unbounded',
  kind: 'unbounded',
  toldCapacity: false,
  description: 'no limit on requests: every call of every document in flight (llm.maxDocsInFlight documents) goes to the servers at once, no adaptation',
});

/**
 * The adaptive controller's defaults are wall-clock periods meant for a real vLLM. The simulator runs
 * `timeScale` wall seconds per simulated second, so every period is multiplied by `timeScale` to give
 * the controller the same reaction time in simulated seconds as it has against a real server
 * (scrapes are floored at 25 ms, control ticks at 20 ms, to keep their own CPU cost down).
 */
export function scaledAdaptiveOptions(timeScale: number): AdaptiveOptions {
  return {
    intervalMs: Math.max(20, 500 * timeScale),
    scrapeIntervalMs: Math.max(25, 300 * timeScale),
    maxQueueWaitMs: 1000 * timeScale,
    // The wait between /health probes of an ejected replica (500 ms doubling to 2 s against a real
    // server): unscaled, its cap would be 100 simulated seconds at timeScale 0.02.
    // Health checks, their timeouts and hang detection stay in wall time (they guard against stalls
    // of the machine, which are wall time too).
    breaker: { probeBaseMs: Math.max(25, PROBE_BASE_MS * timeScale), probeMaxMs: Math.max(25, PROBE_MAX_MS * timeScale) },
  };
}

/** `total` split over `parts`: the first ones get one more when it does not divide (at least 1 each). */
export function split(total: number, parts: number, index: number): number {
  return Math.max(1, Math.floor(total / parts) + (index < total % parts ? 1 : 0));
}

/**
 * One worker's endpoint config entries and adaptive tuning. `worker` of `workers` share the cluster: a
 * fixed total is split over both (the operator, told the capacity, divides it by the workers too).
 */
export function clientSetup(
  s: StrategySpec,
  urls: string[],
  timeScale: number,
  worker = 0,
  workers = 1,
): { endpoints: Array<{ url: string; initialConcurrency?: number; maxConcurrency?: number }>; adaptive: false | AdaptiveOptions } {
  switch (s.kind) {
    case 'gemflow':
      return { endpoints: urls.map((url) => ({ url })), adaptive: scaledAdaptiveOptions(timeScale) };
    case 'fixed': {
      const mine = split(s.totalInFlight!, workers, worker);
      return { endpoints: urls.map((url, i) => ({ url, initialConcurrency: split(mine, urls.length, i), maxConcurrency: split(mine, urls.length, i) })), adaptive: false };
    }
    case 'batch-barrier':
    case 'unbounded':
      return { endpoints: urls.map((url) => ({ url, initialConcurrency: NO_LIMIT, maxConcurrency: NO_LIMIT })), adaptive: false };
  }
}

/** How documents enter their LLM work; undefined: at once (the runtime's own slots). */
export function admission(s: StrategySpec, timeScale: number): Admission | undefined {
  // A partial batch waits one simulated second for more documents.
  return s.kind === 'batch-barrier' ? new BatchBarrier({ batchSize: s.batchDocs!, lingerMs: 1000 * timeScale }).admit : undefined;
}
