import type { Envelope } from '../src/envelope.js';
import type { GenerateResult } from '../src/dataflow/generate.js';
import type { Generator } from '../src/dataflow/pipeline.js';

interface Pending {
  doc: Envelope;
  signal: AbortSignal;
  resolve(r: GenerateResult): void;
  reject(e: unknown): void;
}

/**
 * Baseline "batch barrier" (how distilabel-style pipelines drive an LLM): documents are gathered into
 * batches of `batchSize`; a batch's LLM work starts only when the previous batch has finished all of
 * its work, and every document of a batch is answered together when its slowest call is done.
 * A partial batch (the end of the input) goes out after `lingerMs` without a new document.
 */
export class BatchBarrierGenerator implements Generator {
  readonly #inner: Generator;
  readonly #batchSize: number;
  readonly #lingerMs: number;
  #gathering: Pending[] = [];
  #linger: NodeJS.Timeout | undefined;
  /** Resolves when the batch now running has finished (the barrier). */
  #previous: Promise<void> = Promise.resolve();

  constructor(inner: Generator, opts: { batchSize: number; lingerMs: number }) {
    this.#inner = inner;
    this.#batchSize = opts.batchSize;
    this.#lingerMs = opts.lingerMs;
  }

  generate(doc: Envelope, signal: AbortSignal): Promise<GenerateResult> {
    return new Promise((resolve, reject) => {
      this.#gathering.push({ doc, signal, resolve, reject });
      clearTimeout(this.#linger);
      if (this.#gathering.length >= this.#batchSize) this.#dispatch();
      else this.#linger = setTimeout(() => this.#dispatch(), this.#lingerMs);
    });
  }

  #dispatch(): void {
    clearTimeout(this.#linger);
    const batch = this.#gathering;
    this.#gathering = [];
    if (batch.length === 0) return;
    this.#previous = this.#previous.then(async () => {
      const results = await Promise.allSettled(batch.map((p) => this.#inner.generate(p.doc, p.signal)));
      results.forEach((r, i) => (r.status === 'fulfilled' ? batch[i]!.resolve(r.value) : batch[i]!.reject(r.reason)));
    });
  }
}
