import { performance } from 'node:perf_hooks';

/** How often the sampler expects to run. */
const SAMPLE_MS = 50;
/** Lag beyond the expected period that counts as a stall (scheduling noise below it is ignored). */
const MIN_LAG_MS = 20;
/** Stalls older than this are forgotten (longer than any request timeout in practice). */
const KEEP_MS = 15 * 60_000;
const MAX_STALLS = 20_000;

/**
 * Measures when gemflow's own event loop could not run: a timer-lag sampler (every 50 ms, unref'd)
 * records each period that ended more than 20 ms late as a stall interval (the loop was busy with
 * other work, or the process got no CPU). Timeouts measured with {@link stallAwareTimeout} exclude
 * this time, so a probe or request is never failed because *we* were too busy to read its answer:
 * only the server's own slowness counts against it.
 */
export class LoopStallSampler {
  readonly #stalls: { from: number; to: number }[] = [];
  #last = performance.now();
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
    this.#timer.unref();
  }

  /** Milliseconds within [from, to] (performance.now() times) during which the loop was stalled, including a stall still in progress. */
  stalledMs(from: number, to: number = performance.now()): number {
    let total = 0;
    const add = (a: number, b: number) => {
      const lo = Math.max(a, from);
      const hi = Math.min(b, to);
      if (hi > lo) total += hi - lo;
    };
    for (let i = this.#stalls.length - 1; i >= 0; i--) {
      const s = this.#stalls[i]!;
      if (s.to <= from) break;
      add(s.from, s.to);
    }
    // The sampler has not run since #last: if it is overdue, the loop is (or just was) stalled, and a
    // timer that fires first after the stall must already see it.
    const now = performance.now();
    if (now - this.#last - SAMPLE_MS > MIN_LAG_MS) add(this.#last + SAMPLE_MS, now);
    return total;
  }

  /** Stops sampling (for tests; the shared sampler runs for the life of the process, unref'd). */
  close(): void {
    clearInterval(this.#timer);
  }

  #sample(): void {
    const now = performance.now();
    const lag = now - this.#last - SAMPLE_MS;
    if (lag > MIN_LAG_MS) this.#stalls.push({ from: now - lag, to: now });
    this.#last = now;
    while (this.#stalls.length > MAX_STALLS || (this.#stalls.length > 0 && this.#stalls[0]!.to < now - KEEP_MS)) this.#stalls.shift();
  }
}

let shared: LoopStallSampler | undefined;

/** The process-wide sampler (started on first use). */
export function loopStall(): LoopStallSampler {
  return (shared ??= new LoopStallSampler());
}

export interface StallAwareTimeout {
  cancel(): void;
}

/**
 * Calls `onTimeout` once `ms` of wall time have passed *that were not event-loop stalls* (see
 * {@link LoopStallSampler}); a stall pushes the deadline out by its length. As a safety net, it fires
 * anyway after 10 x `ms` of wall time. `onTimeout` gets the wall time elapsed and the part of it stalled.
 */
export function stallAwareTimeout(ms: number, onTimeout: (t: { elapsedMs: number; stalledMs: number }) => void): StallAwareTimeout {
  const sampler = loopStall();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const arm = (wait: number) => {
    timer = setTimeout(fire, Math.max(1, wait));
  };
  const fire = () => {
    const now = performance.now();
    const elapsedMs = now - started;
    const stalledMs = sampler.stalledMs(started, now);
    const effective = elapsedMs - stalledMs;
    if (effective >= ms - 1 || elapsedMs >= 10 * ms) {
      timer = undefined;
      onTimeout({ elapsedMs, stalledMs });
    } else {
      arm(ms - effective);
    }
  };
  arm(ms);
  return {
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
