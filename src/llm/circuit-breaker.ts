import { performance } from 'node:perf_hooks';
import type { Endpoint, RequestOutcome } from './endpoint.js';
import { loopStall } from './loop-stall.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Chat attempts (in dispatch order) over which the failure rate is judged; default 20. */
  window?: number;
  /** Outcomes the window needs before it can eject; default 10. */
  minCalls?: number;
  /** Fraction of the server's failures in the window that ejects the replica; default 0.5. */
  maxFailureRate?: number;
  /** Consecutive failed /health checks that eject it; default 3. */
  healthFailureThreshold?: number;
  /** Period of /health checks while the replica is routable; default 2000 ms. */
  healthIntervalMs?: number;
  /** Timeout of one /health check (stalls of gemflow's own event loop excluded); default 5000 ms. */
  healthTimeoutMs?: number;
  /** A replica with requests in flight and no answer for max(hangMinMs, hangLatencyFactor x mean latency) is suspected hanging; default 10 s. */
  hangMinMs?: number;
  /** Default 10. */
  hangLatencyFactor?: number;
  /** First wait before probing an ejected replica; doubles after every failed probe or trial; default 500 ms. */
  probeBaseMs?: number;
  /**
   * Cap on that wait; default 2 s (PROBE_MAX_MS). A replica back from an outage gets no work until a
   * probe finds it: up to this long, at a GPU's full rate. One /health GET every 2 s is no load on a
   * server that is down or restarting; with a 10 s cap a returned replica sat idle 1-8 simulated s
   * in the benchmark's lost-replica runs.
   */
  probeMaxMs?: number;
  /** Consecutive successful trial requests (1 output token each) that close the breaker again; default 3. */
  successThreshold?: number;
}

/** Defaults of CircuitBreakerOptions.probeBaseMs / probeMaxMs. */
export const PROBE_BASE_MS = 500;
export const PROBE_MAX_MS = 2_000;

/**
 * One trial request to the replica: a chat completion of one output token, sent the way real calls
 * are (same path, credentials, model and structured-output dialect), under `timeoutMs`. Resolves with
 * its outcome (never rejects).
 */
export type TrialRequest = (signal: AbortSignal, timeoutMs: number) => Promise<RequestOutcome>;

/** A /health check's verdict: healthy, failed (with why), or inconclusive (gemflow's own loop stalled). */
export type ProbeResult = { healthy: true } | { healthy: false; reason: string } | { healthy: undefined; reason: string };

const STALE_SOCKET_ERRNOS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** Error codes that count against a replica; 429 and 4xx mean it is alive (overload is the controller's business). */
const FAILURE_CODES = new Set(['llm_network', 'llm_timeout', 'llm_server_error', 'llm_unavailable', 'llm_bad_response']);

/**
 * Whether an attempt's outcome is the server's success (true), the server's failure (false), or says
 * nothing about the server (undefined): 429, other 4xx (including a too-long context), and a timeout
 * during which gemflow's own event loop was stalled for a good part of the wait.
 */
export function attribute(o: RequestOutcome): boolean | undefined {
  if (o.ok) return true;
  if (o.code === undefined || !FAILURE_CODES.has(o.code)) return undefined;
  if (o.code === 'llm_timeout' && (o.stalledMs ?? 0) > Math.max(500, 0.2 * o.latencyMs)) return undefined;
  // A connection reset at once is a kept-alive connection the server had already closed (both sides
  // race at its keep-alive timeout, and under load the client's idle timer runs late): retried, and
  // not the server's failure. A server that really drops connections fails its health checks.
  if (o.code === 'llm_network' && STALE_SOCKET_ERRNOS.has(o.errno ?? '') && o.latencyMs < 1000) return undefined;
  return false;
}

function describe(o: RequestOutcome): string {
  return `${o.code}${o.message ? `: ${o.message}` : ''}`;
}

/**
 * One replica's circuit breaker.
 *
 * - closed: routable. Ejected (opened) when
 *   - the failure rate over the last `window` attempts reaches `maxFailureRate` with at least
 *     `minCalls` outcomes. Attempts are judged in the order they were sent: an outcome enters the
 *     window only once every attempt sent before it has its outcome, so a burst of failures that come
 *     back in a millisecond cannot eject a replica before its (slower) successes could return;
 *   - `healthFailureThreshold` consecutive /health checks fail (every `healthIntervalMs`); a check
 *     that timed out while gemflow's own event loop was stalled is inconclusive, not a failure;
 *   - it is hanging: requests in flight and no answer for max(`hangMinMs`, `hangLatencyFactor` x its
 *     mean latency); then /health is checked at once, and a failed check ejects it.
 *   On ejection every request in flight there is cancelled (the client reroutes it).
 * - open: not routable. /health is probed after `probeBaseMs`, doubling (with jitter) after every
 *   failed probe up to `probeMaxMs`; a passing probe moves to half open.
 * - half_open: still not routable: trial requests, one after another, each a chat completion of
 *   one output token sent the way real calls are, so each is judged in one time to first token (a
 *   real call would hold its slot for its whole generation, a minute on a busy GPU).
 *   `successThreshold` successes in a row close the breaker (the limit restarts at half the limit it
 *   had when it opened, for the controller to raise from the replica's gauges); a trial that fails
 *   with the server's failure opens it again with a longer wait; one that says nothing about the
 *   server (a 429, gemflow's own stall) is repeated after `probeBaseMs`.
 */
export class CircuitBreaker {
  readonly #ep: Endpoint;
  readonly #probe: (signal: AbortSignal, timeoutMs: number) => Promise<ProbeResult>;
  readonly #trial: TrialRequest;
  readonly #onChange: (state: BreakerState, reason: string) => void;
  readonly #o: Required<CircuitBreakerOptions>;
  readonly #closing = new AbortController();
  #state: BreakerState = 'closed';
  /** Outcomes (true = ok, false = server failure) in dispatch order, the last `window` of them. */
  #ring: boolean[] = [];
  #ringFailures = 0;
  /** Outcomes that came back before some earlier-sent attempt: wait for it. */
  #early = new Map<number, boolean | undefined>();
  /** Next sequence number to move into the ring; outcomes of attempts sent before it are ignored. */
  #next = 0;
  #lastFailure: string | undefined;
  #healthFailures = 0;
  #successes = 0;
  /** Openings since the breaker was last closed: sets the probe backoff. */
  #opens = 0;
  #limitWhenOpened = 0;
  /** Bumped by every transition, so a health check that straddles one is discarded. */
  #epoch = 0;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;
  #started = false;
  /** Why the replica looks hanging (set while it does). */
  #suspect: string | undefined;

  /**
   * `probe` checks the replica's /health; `trial` sends it one trial request; `onChange` observes
   * transitions. Call start() to begin health checks and close() to stop them.
   */
  constructor(
    ep: Endpoint,
    probe: (signal: AbortSignal, timeoutMs: number) => Promise<ProbeResult>,
    trial: TrialRequest,
    opts: CircuitBreakerOptions = {},
    onChange: (state: BreakerState, reason: string) => void = () => {},
  ) {
    this.#ep = ep;
    this.#probe = probe;
    this.#trial = trial;
    this.#onChange = onChange;
    this.#o = {
      window: opts.window ?? 20,
      minCalls: opts.minCalls ?? 10,
      maxFailureRate: opts.maxFailureRate ?? 0.5,
      healthFailureThreshold: opts.healthFailureThreshold ?? 3,
      healthIntervalMs: opts.healthIntervalMs ?? 2000,
      healthTimeoutMs: opts.healthTimeoutMs ?? 5000,
      hangMinMs: opts.hangMinMs ?? 10_000,
      hangLatencyFactor: opts.hangLatencyFactor ?? 10,
      probeBaseMs: opts.probeBaseMs ?? PROBE_BASE_MS,
      probeMaxMs: opts.probeMaxMs ?? PROBE_MAX_MS,
      successThreshold: opts.successThreshold ?? 3,
    };
    this.#next = ep.nextSeq;
  }

  get state(): BreakerState {
    return this.#state;
  }

  start(): void {
    if (this.#started || this.#closing.signal.aborted) return;
    this.#started = true;
    this.#schedule(this.#o.healthIntervalMs);
  }

  close(): void {
    this.#closing.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Feeds one chat attempt's outcome (after Endpoint.end(seq)). */
  record(o: RequestOutcome): void {
    if (this.#state !== 'closed') return; // stragglers from before the ejection say nothing new
    if (o.seq !== undefined && o.seq < this.#next) return; // sent before the last transition
    const verdict = attribute(o);
    if (verdict === false) this.#lastFailure = describe(o);
    if (o.seq === undefined) {
      if (verdict !== undefined) this.#push(verdict);
    } else {
      this.#early.set(o.seq, verdict);
      // Move every outcome whose earlier-sent attempts all have theirs into the window, in order.
      const horizon = this.#ep.horizon;
      for (; this.#next < horizon; this.#next++) {
        const v = this.#early.get(this.#next);
        this.#early.delete(this.#next);
        if (v !== undefined) this.#push(v);
      }
    }
    const n = this.#ring.length;
    if (n >= this.#o.minCalls && this.#ringFailures / n >= this.#o.maxFailureRate) {
      this.#open(`${this.#ringFailures} of the last ${n} requests failed (last: ${this.#lastFailure})`);
    }
  }

  /**
   * Hang detection (the adaptive controller calls this every tick): a replica with requests in flight
   * and no answer for far longer than its usual latency is checked at once; a failed check ejects it.
   */
  watch(): void {
    const ep = this.#ep;
    if (this.#state !== 'closed' || ep.inFlight <= 0) {
      this.#suspect = undefined;
      return;
    }
    const now = performance.now();
    const silentMs = now - ep.lastProgressAt - loopStall().stalledMs(ep.lastProgressAt, now);
    const limitMs = Math.max(this.#o.hangMinMs, this.#o.hangLatencyFactor * (ep.latencyEwmaMs ?? 0));
    if (silentMs < limitMs) {
      this.#suspect = undefined;
      return;
    }
    if (this.#suspect !== undefined) return;
    this.#suspect = `no answer for ${Math.round(silentMs)} ms with ${ep.inFlight} requests in flight`;
    if (!this.#checking && this.#started && !this.#closing.signal.aborted) {
      clearTimeout(this.#timer);
      void this.#check();
    }
  }

  #push(ok: boolean): void {
    this.#ring.push(ok);
    if (!ok) this.#ringFailures++;
    if (this.#ring.length > this.#o.window && !this.#ring.shift()) this.#ringFailures--;
  }

  /** Forgets the outcomes so far: the next window starts with the attempts sent from now on. */
  #resetWindow(): void {
    this.#ring = [];
    this.#ringFailures = 0;
    this.#early.clear();
    this.#next = this.#ep.nextSeq;
    this.#suspect = undefined;
  }

  #open(reason: string): void {
    if (this.#state === 'closed') this.#limitWhenOpened = this.#ep.limit;
    this.#state = 'open';
    this.#epoch++;
    this.#resetWindow();
    this.#ep.ejectReason = reason;
    this.#ep.ejected = true;
    this.#onChange('open', reason);
    this.#ep.abortInFlight(reason);
    this.#scheduleProbe();
  }

  /** The next probe of an ejected replica: after a wait that doubles with every opening or failed probe. */
  #scheduleProbe(): void {
    const ceiling = Math.min(this.#o.probeMaxMs, this.#o.probeBaseMs * 2 ** this.#opens++);
    this.#schedule(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** /health passed: trial requests, one after another, until the replica has earned its way back (or not). */
  #halfOpen(): void {
    this.#state = 'half_open';
    this.#epoch++;
    this.#successes = 0;
    this.#healthFailures = 0;
    this.#onChange('half_open', 'health probe passed');
    void this.#runTrials(this.#epoch);
  }

  async #runTrials(epoch: number): Promise<void> {
    while (this.#successes < this.#o.successThreshold) {
      const o = await this.#trial(this.#closing.signal, this.#o.healthTimeoutMs);
      if (this.#closing.signal.aborted || epoch !== this.#epoch) return;
      const verdict = attribute(o);
      if (verdict === false) return this.#open(`trial request failed (${describe(o)})`);
      if (verdict === true) this.#successes++;
      // Says nothing about the server (a 429, gemflow's own stall): the same trial again, a little later.
      else await new Promise((r) => setTimeout(r, this.#o.probeBaseMs).unref());
      if (this.#closing.signal.aborted || epoch !== this.#epoch) return;
    }
    this.#close();
  }

  #close(): void {
    this.#state = 'closed';
    this.#epoch++;
    this.#resetWindow();
    this.#opens = 0;
    this.#ep.limit = Math.floor(this.#limitWhenOpened / 2);
    this.#ep.ejectReason = undefined;
    this.#ep.ejected = false;
    this.#onChange('closed', `${this.#successes} trial requests succeeded`);
    this.#schedule(this.#o.healthIntervalMs);
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    if (this.#closing.signal.aborted) return;
    this.#timer = setTimeout(() => void this.#check(), ms);
    this.#timer.unref();
  }

  /** One /health check: a probe of an ejected replica, or the periodic check of a routable one. */
  async #check(): Promise<void> {
    this.#timer = undefined;
    if (this.#checking) return;
    this.#checking = true;
    const epoch = this.#epoch;
    let result: ProbeResult;
    try {
      result = await this.#probe(this.#closing.signal, this.#o.healthTimeoutMs).catch((e: unknown) => ({ healthy: false as const, reason: String(e) }));
    } finally {
      this.#checking = false;
    }
    if (this.#closing.signal.aborted) return;
    if (epoch !== this.#epoch) {
      // A transition happened meanwhile and scheduled its own check, unless it was this one's job.
      if (this.#timer === undefined) this.#schedule(this.#o.healthIntervalMs);
      return;
    }
    if (this.#state === 'open') {
      if (result.healthy === true) this.#halfOpen();
      else this.#scheduleProbe();
      return;
    }
    if (this.#state === 'half_open') return; // the trials decide
    if (result.healthy === true) this.#healthFailures = 0;
    else if (result.healthy === false) {
      this.#healthFailures++;
      if (this.#suspect !== undefined) return this.#open(`hanging: ${this.#suspect}, and /health failed (${result.reason})`);
      if (this.#healthFailures >= this.#o.healthFailureThreshold) return this.#open(`${this.#healthFailures} failed health checks (last: ${result.reason})`);
    }
    this.#schedule(this.#o.healthIntervalMs);
  }
}
