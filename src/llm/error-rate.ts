import { GemflowError } from '../errors.js';

/**
 * Watches the outcome of the last `window` LLM stage calls (after the client's own retries). When more
 * than `maxRate` of them failed, the cluster is unusable: `record` throws a fatal
 * `llm_cluster_unusable` error so the run stops early with a clear message instead of dead-lettering
 * the whole corpus or crawling to zero.
 */
export class ErrorRateMonitor {
  readonly #outcomes: boolean[] = [];
  #failures = 0;
  #next = 0;
  readonly #lastCodes = new Map<string, number>();

  constructor(private readonly window: number, private readonly maxRate: number) {}

  record(ok: boolean, code?: string): void {
    if (this.#outcomes.length < this.window) this.#outcomes.push(ok);
    else {
      if (!this.#outcomes[this.#next]) this.#failures--;
      this.#outcomes[this.#next] = ok;
      this.#next = (this.#next + 1) % this.window;
    }
    if (!ok) {
      this.#failures++;
      if (code) this.#lastCodes.set(code, (this.#lastCodes.get(code) ?? 0) + 1);
    }
    const min = Math.min(this.window, 20);
    if (!ok && this.#outcomes.length >= min && this.#failures / this.#outcomes.length > this.maxRate) {
      const codes = [...this.#lastCodes].map(([c, n]) => `${c}: ${n}`).join(', ');
      throw new GemflowError(
        'llm_cluster_unusable',
        `inference cluster unusable: ${this.#failures} of the last ${this.#outcomes.length} LLM calls failed after retries (${codes}); stopping the run`,
        { retriable: false, detail: { failures: this.#failures, window: this.#outcomes.length, codes: Object.fromEntries(this.#lastCodes) } },
      );
    }
  }
}
