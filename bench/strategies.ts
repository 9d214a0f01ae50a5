import { EndpointConfig } from '../src/config/schema.js';

import type { AdaptiveOptions } from '../src/llm/adaptive-controller.js';
import type { HttpInferenceClientOptions } from '../src/llm/client.js';
import { type Admission, BatchBarrier } from './batch-barrier.js';

/**
 * The three ways of driving the cluster that the benchmark compares. Each is the same pipeline with a
 * different inference client set-up and, for the batch barrier, an admission policy for documents' LLM work.
 */
export const STRATEGY_NAMES = ['gemflow', 'batch-barrier', 'fixed-semaphore'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export interface Strategy {
  name: StrategyName;
  description: string;
  clientOptions(urls: string[]): Pick<HttpInferenceClientOptions, 'endpoints' | 'adaptive'>;
  /** How documents enter their LLM work; undefined: at once (the runtime's own slots). */
  admission(): Admission | undefined;
}

export const BARRIER_BATCH_DOCS = 50;
export const FIXED_IN_FLIGHT = 64;
/** The schema's default per-endpoint ceiling: the barrier baseline is limited by its batches only. */
const UNLIMITED = 256;

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
  };
}

export function strategy(name: StrategyName, timeScale: number): Strategy {
  const endpoints = (urls: string[], limit?: number) =>
    urls.map((url) => EndpointConfig.parse(limit === undefined ? { url } : { url, initialConcurrency: limit, maxConcurrency: limit }));
  switch (name) {
    case 'gemflow':
      return {
        name,
        description: 'adaptive per-replica concurrency from /metrics gauges (default client), no barrier',
        clientOptions: (urls) => ({ endpoints: endpoints(urls), adaptive: scaledAdaptiveOptions(timeScale) }),
        admission: () => undefined,
      };
    case 'batch-barrier':
      return {
        name,
        description: `gather ${BARRIER_BATCH_DOCS} documents, run all their LLM work, wait for the slowest before the next batch`,
        clientOptions: (urls) => ({ endpoints: endpoints(urls, UNLIMITED), adaptive: false }),
        // A partial batch waits one simulated second for more documents.
        admission: () => new BatchBarrier({ batchSize: BARRIER_BATCH_DOCS, lingerMs: 1000 * timeScale }).admit,
      };
    case 'fixed-semaphore':
      return {
        name,
        description: `${FIXED_IN_FLIGHT} requests in flight in total (split evenly over the replicas), no adaptation`,
        clientOptions: (urls) => ({ endpoints: endpoints(urls, Math.max(1, Math.floor(FIXED_IN_FLIGHT / urls.length))), adaptive: false }),
        admission: () => undefined,
      };
  }
}
