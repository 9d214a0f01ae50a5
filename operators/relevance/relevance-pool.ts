import { Piscina } from 'piscina';
import { GemflowError } from '../../src/errors.js';
import { resolveWorker } from '../../src/workers/resolve-worker.js';
import scoreBatch, { prepareScorer, type ScoreResult, type ScoreTask, type ScorerSpec } from './relevance.worker.js';
import type { RelevanceResult } from './score.js';

export interface RelevancePoolOptions {
  /** Worker threads; 0 scores inline on the calling thread (for tiny runs and tests). */
  threads: number;
  /**
   * What to score with: a trained model file (each thread loads it once) or the hand weights. Unset:
   * the hand weights, with their features in each result.
   */
  scorer?: ScorerSpec;
}

/** Young generation of each scoring thread, MB: V8's default on 64-bit (3 x 16 MB semi-spaces). */
const WORKER_YOUNG_GENERATION_MB = 48;

/**
 * Scores batches of texts on piscina worker threads. One `score()` call is one task on one thread:
 * to use every thread, keep up to `threads` batches in flight (the returned promises resolve
 * independently; each resolves with its results in input order).
 */
export class RelevancePool {
  readonly threads: number;
  readonly scorer: ScorerSpec | undefined;
  private pool: Piscina<string[] | ScoreTask, RelevanceResult[] | ScoreResult[]> | undefined;
  private started = false;

  constructor(options: RelevancePoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 0) {
      throw new GemflowError('invalid_option', `relevance threads must be an integer >= 0, got ${options.threads}`);
    }
    this.threads = options.threads;
    this.scorer = options.scorer;
  }

  /** Starts the worker threads and checks they load (one empty batch), so a broken build fails here. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // A model that cannot be used fails here, with its reason, before any thread starts.
    if (this.scorer) prepareScorer(this.scorer);
    if (this.threads === 0) return;
    this.pool = new Piscina({
      filename: resolveWorker(import.meta.url, './relevance.worker.js').href,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      // V8's default young generation (16 MB semi-spaces) for the scoring threads, whatever the process's
      // --max-semi-space-size (src/node-flags.ts): a batch's garbage dies young, and each thread would
      // otherwise grow its own young generation to the main thread's size.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    await this.score([]);
  }

  async score(texts: string[], signal?: AbortSignal): Promise<Array<ScoreResult & Partial<RelevanceResult>>> {
    if (!this.started) throw new GemflowError('relevance_pool_not_started', 'RelevancePool.score() called before start()');
    signal?.throwIfAborted();
    if (this.pool === undefined) {
      if (this.threads > 0) throw new GemflowError('relevance_pool_closed', 'RelevancePool.score() called after close()');
      return scoreBatch(this.task(texts));
    }
    try {
      return await this.pool.run(this.task(texts), { signal: signal ?? null });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new GemflowError('relevance_worker_failed', `relevance worker failed: ${(e as Error).message}`, { retriable: true, cause: e });
    }
  }

  private task(texts: string[]): string[] | ScoreTask {
    return this.scorer ? { texts, scorer: this.scorer } : texts;
  }

  /** Waits for batches in flight, then stops the threads. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }
}
