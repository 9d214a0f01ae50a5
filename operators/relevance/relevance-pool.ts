import { Piscina } from 'piscina';
import { GemflowError } from '../../src/errors.js';
import { resolveWorker } from '../../src/workers/resolve-worker.js';
import scoreBatch from './relevance.worker.js';
import type { RelevanceResult } from './score.js';

export interface RelevancePoolOptions {
  /** Worker threads; 0 scores inline on the calling thread (for tiny runs and tests). */
  threads: number;
}

/**
 * Scores batches of texts on piscina worker threads. One `score()` call is one task on one thread:
 * to use every thread, keep up to `threads` batches in flight (the returned promises resolve
 * independently; each resolves with its results in input order).
 */
export class RelevancePool {
  readonly threads: number;
  private pool: Piscina<string[], RelevanceResult[]> | undefined;
  private started = false;

  constructor(options: RelevancePoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 0) {
      throw new GemflowError('invalid_option', `relevance threads must be an integer >= 0, got ${options.threads}`);
    }
    this.threads = options.threads;
  }

  /** Starts the worker threads and checks they load (one empty batch), so a broken build fails here. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.threads === 0) return;
    this.pool = new Piscina({
      filename: resolveWorker(import.meta.url, './relevance.worker.js').href,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
    });
    await this.score([]);
  }

  async score(texts: string[], signal?: AbortSignal): Promise<RelevanceResult[]> {
    if (!this.started) throw new GemflowError('relevance_pool_not_started', 'RelevancePool.score() called before start()');
    signal?.throwIfAborted();
    if (this.pool === undefined) {
      if (this.threads > 0) throw new GemflowError('relevance_pool_closed', 'RelevancePool.score() called after close()');
      return scoreBatch(texts);
    }
    try {
      return await this.pool.run(texts, { signal: signal ?? null });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new GemflowError('relevance_worker_failed', `relevance worker failed: ${(e as Error).message}`, { retriable: true, cause: e });
    }
  }

  /** Waits for batches in flight, then stops the threads. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }
}
