import type { Envelope } from '../src/envelope.js';

/** How a strategy admits a document's LLM part (RunOptions.admission): run it now, or later. */
export type Admission = (doc: Envelope, run: () => Promise<void>) => Promise<void>;

interface Pending {
  run: () => Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * Baseline "batch barrier" (how distilabel-style pipelines drive an LLM): documents are gathered into
 * batches of `batchSize`; a batch's LLM work starts only when the previous batch has finished all of
 * its work, and every document of a batch goes on together when its slowest call is done.
 * A partial batch (the end of the input) goes out after `lingerMs` without a new document.
 */
export class BatchBarrier {
  readonly #batchSize: number;
  readonly #lingerMs: number;
  #gathering: Pending[] = [];
  #linger: NodeJS.Timeout | undefined;
  /** Resolves when the batch now running has finished (the barrier). */
  #previous: Promise<void> = Promise.resolve();

  constructor(opts: { batchSize: number; lingerMs: number }) {
    this.#batchSize = opts.batchSize;
    this.#lingerMs = opts.lingerMs;
  }

  readonly admit: Admission = (_doc, run) =>
    new Promise<void>((resolve, reject) => {
      this.#gathering.push({ run, resolve, reject });
      clearTimeout(this.#linger);
      if (this.#gathering.length >= this.#batchSize) this.#dispatch();
      else this.#linger = setTimeout(() => this.#dispatch(), this.#lingerMs);
    });

  #dispatch(): void {
    clearTimeout(this.#linger);
    const batch = this.#gathering;
    this.#gathering = [];
    if (batch.length === 0) return;
    this.#previous = this.#previous.then(async () => {
      const results = await Promise.allSettled(batch.map((p) => p.run()));
      results.forEach((r, i) => (r.status === 'fulfilled' ? batch[i]!.resolve() : batch[i]!.reject(r.reason)));
    });
  }
}
