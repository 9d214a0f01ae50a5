import type { Endpoint, RequestOutcome } from './endpoint.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Consecutive failed chat attempts (network errors, timeouts, 5xx) that eject the replica; default 5. */
  failureThreshold?: number;
  /** Consecutive failed /health checks that eject it; default 2. */
  healthFailureThreshold?: number;
  /** Period of /health checks while the replica is routable; default 1000 ms. */
  healthIntervalMs?: number;
  /** First wait before probing an ejected replica; doubles after every failed probe or trial; default 500 ms. */
  probeBaseMs?: number;
  /** Cap on that wait; default 10 s. */
  probeMaxMs?: number;
  /** Concurrency limit while half open (on trial); default 2. */
  halfOpenLimit?: number;
  /** Successful trial attempts that close the breaker again; default 3. */
  successThreshold?: number;
}

/** Error codes that count against a replica; 429 and 4xx mean it is alive (overload is the controller's business). */
const FAILURE_CODES = new Set(['llm_network', 'llm_timeout', 'llm_server_error', 'llm_unavailable']);

/**
 * One replica's circuit breaker.
 *
 * - closed: routable. `failureThreshold` consecutive failed attempts, or `healthFailureThreshold`
 *   consecutive failed /health checks (polled every `healthIntervalMs`), open the breaker.
 * - open: the endpoint is ejected (not routable; requests in flight there finish or fail and are
 *   retried elsewhere by the client). /health is probed after `probeBaseMs`, doubling (with jitter)
 *   after every failed probe up to `probeMaxMs`; a passing probe moves to half open.
 * - half_open: routable with `halfOpenLimit` slots. `successThreshold` successes close the breaker
 *   (the limit restarts at half the limit it had when it opened, for the controller to raise); any
 *   failure opens it again with a longer wait.
 */
export class CircuitBreaker {
  readonly #ep: Endpoint;
  readonly #probe: (signal: AbortSignal) => Promise<boolean>;
  readonly #onChange: (state: BreakerState, reason: string) => void;
  readonly #o: Required<CircuitBreakerOptions>;
  readonly #closing = new AbortController();
  #state: BreakerState = 'closed';
  #failures = 0;
  #healthFailures = 0;
  #successes = 0;
  /** Openings since the breaker was last closed: sets the probe backoff. */
  #opens = 0;
  #limitWhenOpened = 0;
  /** Bumped by every transition, so a health check that straddles one is discarded. */
  #epoch = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `probe` checks the replica's /health (true = healthy); `onChange` observes transitions. Call
   * start() to begin health checks and close() to stop them.
   */
  constructor(
    ep: Endpoint,
    probe: (signal: AbortSignal) => Promise<boolean>,
    opts: CircuitBreakerOptions = {},
    onChange: (state: BreakerState, reason: string) => void = () => {},
  ) {
    this.#ep = ep;
    this.#probe = probe;
    this.#onChange = onChange;
    this.#o = {
      failureThreshold: opts.failureThreshold ?? 5,
      healthFailureThreshold: opts.healthFailureThreshold ?? 2,
      healthIntervalMs: opts.healthIntervalMs ?? 1000,
      probeBaseMs: opts.probeBaseMs ?? 500,
      probeMaxMs: opts.probeMaxMs ?? 10_000,
      halfOpenLimit: opts.halfOpenLimit ?? 2,
      successThreshold: opts.successThreshold ?? 3,
    };
  }

  get state(): BreakerState {
    return this.#state;
  }

  start(): void {
    if (this.#timer === undefined && !this.#closing.signal.aborted) this.#schedule(this.#o.healthIntervalMs);
  }

  close(): void {
    this.#closing.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Feeds one chat attempt's outcome. */
  record(o: RequestOutcome): void {
    if (this.#state === 'open') return; // stragglers from before the ejection say nothing new
    if (o.ok) {
      this.#failures = 0;
      if (this.#state === 'half_open' && ++this.#successes >= this.#o.successThreshold) this.#close();
      return;
    }
    if (o.code === undefined || !FAILURE_CODES.has(o.code)) return;
    this.#failures++;
    if (this.#state === 'half_open') this.#open(`trial request failed (${o.code})`);
    else if (this.#failures >= this.#o.failureThreshold) this.#open(`${this.#failures} consecutive failures (last ${o.code})`);
  }

  #open(reason: string): void {
    if (this.#state === 'closed') this.#limitWhenOpened = this.#ep.limit;
    this.#state = 'open';
    this.#epoch++;
    this.#ep.ejected = true;
    this.#onChange('open', reason);
    this.#scheduleProbe();
  }

  /** The next probe of an ejected replica: after a wait that doubles with every opening or failed probe. */
  #scheduleProbe(): void {
    const ceiling = Math.min(this.#o.probeMaxMs, this.#o.probeBaseMs * 2 ** this.#opens++);
    this.#schedule(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #halfOpen(): void {
    this.#state = 'half_open';
    this.#epoch++;
    this.#successes = 0;
    this.#failures = 0;
    this.#healthFailures = 0;
    this.#ep.limit = this.#o.halfOpenLimit;
    this.#ep.ejected = false;
    this.#onChange('half_open', 'health probe passed');
    this.#schedule(this.#o.healthIntervalMs);
  }

  #close(): void {
    this.#state = 'closed';
    this.#epoch++;
    this.#opens = 0;
    this.#failures = 0;
    this.#ep.limit = Math.max(this.#o.halfOpenLimit, Math.floor(this.#limitWhenOpened / 2));
    this.#onChange('closed', `${this.#successes} trial requests succeeded`);
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#check(), ms);
    this.#timer.unref();
  }

  /** One /health check: a probe of an ejected replica, or the periodic check of a routable one. */
  async #check(): Promise<void> {
    this.#timer = undefined;
    const epoch = this.#epoch;
    const healthy = await this.#probe(this.#closing.signal).catch(() => false);
    if (this.#closing.signal.aborted || epoch !== this.#epoch) return;
    if (this.#state === 'open') {
      if (healthy) this.#halfOpen();
      else this.#scheduleProbe();
      return;
    }
    this.#healthFailures = healthy ? 0 : this.#healthFailures + 1;
    if (this.#healthFailures >= this.#o.healthFailureThreshold) this.#open(`${this.#healthFailures} failed health checks`);
    else this.#schedule(this.#o.healthIntervalMs);
  }
}
