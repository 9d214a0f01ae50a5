import { GemflowError, errorCode, errorMessage, isInfrastructureFailure } from '../errors.js';

export interface ErrorRateMonitorOptions {
  /**
   * The last failure attributed to the servers, when record() is not given the error itself (e.g.
   * `() => client.lastFailure`): its message goes into the stop message, so it names the cause.
   */
  lastCause?: () => unknown;
}

/**
 * Watches the outcome of the last `window` LLM stage calls (after the client's own retries). When more
 * than `maxRate` of them failed *because of the inference cluster* (infrastructure codes, see
 * isInfrastructureFailure: network, timeouts, 5xx/429 after retries, no healthy replica), the cluster
 * is unusable: `record` throws a fatal `llm_cluster_unusable` error so the run stops early, with a
 * message naming the codes and the underlying cause (e.g. "connection refused (ECONNREFUSED)",
 * "HTTP 503: ..."), instead of dead-lettering the whole corpus or crawling to zero.
 *
 * A call that failed for the document's own reasons (invalid output, too long a context) counts as
 * an answered call; a call its caller aborted is not counted at all.
 */
export class ErrorRateMonitor {
  readonly #outcomes: boolean[] = [];
  #failures = 0;
  #next = 0;
  readonly #lastCodes = new Map<string, number>();
  #lastCause: string | undefined;

  constructor(
    private readonly window: number,
    private readonly maxRate: number,
    private readonly opts: ErrorRateMonitorOptions = {},
  ) {}

  /** One call's outcome: its error code when it failed, and the error itself when the caller has it. */
  record(ok: boolean, code?: string, error?: unknown): void {
    const c = ok ? undefined : (code ?? errorCode(error));
    if (c === 'llm_aborted') return;
    if (c === 'llm_request_rejected') {
      // A server refused the request as written: every call would fail the same way. Stop now, with its words.
      const message = errorMessage(error ?? this.opts.lastCause?.() ?? 'a server rejected the request');
      throw new GemflowError('llm_request_rejected', `${message}; stopping the run`, {
        retriable: false,
        cause: error,
        detail: { ...((error as GemflowError | undefined)?.detail ?? {}) },
      });
    }
    const failed = c !== undefined && isInfrastructureFailure({ code: c });
    if (this.#outcomes.length < this.window) this.#outcomes.push(!failed);
    else {
      if (!this.#outcomes[this.#next]) this.#failures--;
      this.#outcomes[this.#next] = !failed;
      this.#next = (this.#next + 1) % this.window;
    }
    if (!failed) return;
    this.#failures++;
    this.#lastCodes.set(c!, (this.#lastCodes.get(c) ?? 0) + 1);
    const cause = error ?? this.opts.lastCause?.();
    if (cause !== undefined) this.#lastCause = errorMessage(cause);
    const min = Math.min(this.window, 20);
    if (this.#outcomes.length >= min && this.#failures / this.#outcomes.length > this.maxRate) {
      const codes = [...this.#lastCodes].map(([k, n]) => `${k}: ${n}`).join(', ');
      const because = this.#lastCause ? `; last cause: ${this.#lastCause}` : '';
      throw new GemflowError(
        'llm_cluster_unusable',
        `inference cluster unusable: ${this.#failures} of the last ${this.#outcomes.length} LLM calls failed (final codes after any retries: ${codes})${because}; stopping the run`,
        {
          retriable: false,
          detail: { failures: this.#failures, window: this.#outcomes.length, codes: Object.fromEntries(this.#lastCodes), lastCause: this.#lastCause },
        },
      );
    }
  }
}
