import { GemflowError } from '../errors.js';

/** The capacity parameters (see the model description in options.ts). */
export interface CapacityParams {
  maxRunningSeqs: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  maxDecodeTokensPerSecPerSeq: number;
  kvCacheTokens: number;
  tickMs: number;
  timeScale: number;
  /**
   * How running requests hold KV cache (see options.ts): 'reserve' (default) their whole prompt +
   * completion from admission, nothing preempted; 'incremental' their prompt + the tokens decoded so
   * far, as vLLM allocates blocks, the newest running request preempted when the cache runs out.
   */
  kvAllocation?: KvAllocation;
}

export const KV_ALLOCATIONS = ['reserve', 'incremental'] as const;
export type KvAllocation = (typeof KV_ALLOCATIONS)[number];

export function isKvAllocation(v: unknown): v is KvAllocation {
  return (KV_ALLOCATIONS as readonly unknown[]).includes(v);
}

export interface CapacityJob {
  promptTokens: number;
  completionTokens: number;
}

/** The capacity parameters that can change while the model runs (`CapacityModel.reconfigure`). */
export type RuntimeCapacity = Pick<CapacityParams, 'maxRunningSeqs' | 'prefillTokensPerSec' | 'decodeTokensPerSec' | 'maxDecodeTokensPerSecPerSeq' | 'kvCacheTokens'>;

/** Output tokens per simulated second at full batch: the lesser of the aggregate and the per-sequence caps. */
export function maxOutputTokensPerSec(p: Pick<CapacityParams, 'maxRunningSeqs' | 'decodeTokensPerSec' | 'maxDecodeTokensPerSecPerSeq'>): number {
  return Math.min(p.decodeTokensPerSec, p.maxRunningSeqs * p.maxDecodeTokensPerSecPerSeq);
}

/**
 * The smallest number of decoding sequences at which a replica reaches its output capacity: the
 * aggregate decode rate / the per-sequence cap, rounded up (at most maxRunningSeqs). Fewer leave decode
 * capacity unused; more only queue or share the same rate. (Prefill takes a request ~0.1-0.3 s against
 * ~50 s of decoding at the defaults, so the slots prefilling at any moment are a rounding error.)
 */
export function saturatingConcurrency(p: Pick<CapacityParams, 'maxRunningSeqs' | 'decodeTokensPerSec' | 'maxDecodeTokensPerSecPerSeq'>): number {
  return Math.min(p.maxRunningSeqs, Math.ceil(p.decodeTokensPerSec / p.maxDecodeTokensPerSecPerSeq));
}

/** What a finished job reports; times are simulated seconds. */
export interface JobOutcome {
  queueSec: number;
  /** Arrival to last token. */
  latencySec: number;
  /** Arrival to the end of prefill (when a streaming server sends the first token). */
  firstTokenSec: number;
}

export interface CapacitySnapshot {
  running: number;
  waiting: number;
  /**
   * KV-cache tokens reserved by running requests (prompt + completion each) / kvCacheTokens, in [0, 1]:
   * the same figure admission checks, so a usage near 1 means the head of the queue does not fit.
   */
  kvCacheUsage: number;
  /** Simulated seconds during which at least one request was running. */
  busySec: number;
  /** Output tokens decoded so far, counted as they are decoded (vLLM's generation_tokens_total counts per step too), aborted requests' included. */
  decodedTokens: number;
  /**
   * Simulated seconds during which requests waited although batch slots were free: the head of the
   * queue did not fit in the KV cache (the time the KV cache, not the batch, limited admission).
   */
  kvBlockedSec: number;
  /** Simulated seconds since the model started. */
  simNowSec: number;
  /** Running requests preempted for KV space ('incremental' allocation only; vllm:num_preemptions). */
  preemptions: number;
}

interface Entry {
  job: CapacityJob;
  arrivedSec: number;
  admittedSec: number;
  prefillLeft: number;
  firstTokenSec: number;
  decoded: number;
  /** KV tokens it holds while running ('incremental': prompt + decoded so far; 'reserve': prompt + completion). */
  held: number;
  /** When it (last) entered the queue: its arrival, or its preemption. */
  queuedSec: number;
  /** Times it was preempted. */
  preemptions: number;
  resolve(o: JobOutcome): void;
  reject(e: unknown): void;
  detach(): void;
}

/** Shortest real interval between ticks: finer steps would only burn the (shared) CPU. */
const MIN_REAL_TICK_MS = 5;
/** Most scheduler steps run per real tick; a late timer makes the steps longer, not more. */
const MAX_STEPS_PER_TICK = 8;

/**
 * Continuous-batching capacity model: a FIFO queue in front of at most `maxRunningSeqs` running
 * requests that prefill, then decode, at shared rates. `submit` resolves when the request's last
 * completion token is decoded. The tick timer runs only while there is work, so an idle or closed
 * model holds no timers.
 *
 * KV cache: a request reserves its whole KV space (prompt + completion tokens) when admitted and
 * holds it until it finishes, so nothing is ever preempted. vLLM instead allocates blocks as a
 * sequence grows and preempts when they run out; whole-request reservation is the simpler model of
 * the same limit (how many requests fit at once). The usage gauge reports the reservations, i.e. what
 * admission decides on, as vLLM's `kv_cache_usage_perc` reports allocated blocks / total: a client
 * reading it sees the cache full exactly when requests queue for KV space. (Reporting only the tokens
 * held so far would show ~0.8 while admission is blocked, hiding the limit from any controller.)
 * With `kvAllocation: 'incremental'` it allocates as vLLM does instead (options.ts): prompt on
 * admission, each decoded token as it comes, the newest running request preempted when they run out.
 */
export class CapacityModel {
  private readonly queue: Entry[] = [];
  private readonly running: Entry[] = [];
  private readonly decoding: Entry[] = [];
  private readonly prefilling: Entry[] = [];
  /** KV tokens the running requests hold (their Entry.held summed): the usage gauge and admission read it. */
  private heldTokens = 0;
  private simNowSec = 0;
  private busySec = 0;
  private decodedTokens = 0;
  private kvBlockedSec = 0;
  private preemptions = 0;
  private lastRealMs = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /**
   * Told the simulated seconds a request had waited in the queue when its client went away before it
   * was admitted (the simulator counts that wait in its queue-time figures: a client that moves a
   * queued request elsewhere does not make its wait disappear).
   */
  onAbandonedWaiting: (queuedSec: number) => void = () => {};

  private readonly p: CapacityParams;

  constructor(params: CapacityParams) {
    this.p = { ...params };
  }

  /** Output tokens per simulated second at full batch: the lesser of the aggregate and the per-sequence caps. */
  get maxOutputTokensPerSec(): number {
    return maxOutputTokensPerSec(this.p);
  }

  get params(): Readonly<CapacityParams> {
    return this.p;
  }

  /**
   * Changes capacity parameters while running (a replica restarted with other flags, or a GPU shared
   * with another job). Nothing running is preempted: with fewer slots or less KV cache than in use,
   * admission waits until enough running requests finish.
   */
  reconfigure(change: Partial<RuntimeCapacity>): void {
    Object.assign(this.p, change);
    this.admit();
  }

  /** Rejects every queued and running job with `error` (a replica that died); the model stays usable. */
  dropAll(error: Error): void {
    for (const e of [...this.queue, ...this.running]) {
      e.detach();
      e.reject(error);
    }
    this.queue.length = 0;
    this.running.length = 0;
    this.heldTokens = 0;
    this.stopTimer();
  }

  /** True when the job could be admitted on an empty server (else it would wait forever). */
  fits(job: CapacityJob): boolean {
    return job.promptTokens + job.completionTokens <= this.p.kvCacheTokens;
  }

  submit(job: CapacityJob, signal?: AbortSignal): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new GemflowError('simulator_closed', 'the simulator is shut down'));
    if (!this.fits(job)) {
      return Promise.reject(new GemflowError('context_too_long', `request needs ${job.promptTokens + job.completionTokens} KV-cache tokens; capacity is ${this.p.kvCacheTokens}`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.syncIdleClock();
    return new Promise<JobOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.queue.includes(entry)) this.onAbandonedWaiting(this.simNowSec - entry.queuedSec);
        this.remove(entry);
        reject(signal?.reason);
      };
      const entry: Entry = {
        job,
        arrivedSec: this.simNowSec,
        admittedSec: 0,
        prefillLeft: job.promptTokens,
        firstTokenSec: 0,
        decoded: 0,
        held: 0,
        queuedSec: this.simNowSec,
        preemptions: 0,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.admit();
      this.ensureTimer();
    });
  }

  snapshot(): CapacitySnapshot {
    return {
      running: this.running.length,
      waiting: this.queue.length,
      kvCacheUsage: Math.min(1, this.heldTokens / this.p.kvCacheTokens),
      busySec: this.busySec,
      decodedTokens: this.decodedTokens,
      kvBlockedSec: this.kvBlockedSec,
      preemptions: this.preemptions,
      simNowSec: this.simNowSec,
    };
  }

  /** Rejects every queued and running job and stops the timer. */
  close(): void {
    this.closed = true;
    this.dropAll(new GemflowError('simulator_closed', 'the simulator is shut down'));
  }

  /** The KV tokens a queued request needs to be admitted: its whole reservation, or (incremental) its prompt and any output it had before a preemption. */
  private need(e: Entry): number {
    return this.p.kvAllocation === 'incremental' ? e.job.promptTokens + e.decoded : e.job.promptTokens + e.job.completionTokens;
  }

  private admit(): void {
    while (this.queue.length > 0 && this.running.length < this.p.maxRunningSeqs) {
      const head = this.queue[0]!;
      const need = this.need(head);
      if (this.heldTokens + need > this.p.kvCacheTokens) break;
      this.queue.shift();
      if (head.preemptions === 0) head.admittedSec = this.simNowSec; // the first admission: queue time
      head.held = need;
      this.heldTokens += need;
      this.running.push(head);
    }
  }

  /**
   * vLLM, out of KV blocks for the running requests' next tokens, preempts the newest running request
   * (recompute: its blocks freed, back to the front of the queue; readmitted, it prefills its prompt
   * and the output so far again), until the rest fit.
   */
  private preemptForKv(decoding: Entry[]): void {
    while (this.heldTokens > this.p.kvCacheTokens && this.running.length > 1) {
      const victim = this.running.pop()!;
      this.heldTokens -= victim.held;
      victim.held = 0;
      victim.prefillLeft = victim.job.promptTokens + victim.decoded;
      victim.queuedSec = this.simNowSec;
      this.queue.unshift(victim);
      this.preemptions++;
      victim.preemptions++;
      const d = decoding.indexOf(victim);
      if (d >= 0) decoding.splice(d, 1);
    }
  }

  private remove(e: Entry): void {
    e.detach();
    const q = this.queue.indexOf(e);
    if (q >= 0) this.queue.splice(q, 1);
    const r = this.running.indexOf(e);
    if (r >= 0) {
      this.running.splice(r, 1);
      this.heldTokens -= e.held;
      this.admit();
    }
    if (this.queue.length === 0 && this.running.length === 0) this.stopTimer();
  }

  /** While idle, simulated time follows the wall clock without running steps. */
  private syncIdleClock(): void {
    if (this.timer !== undefined) return;
    const now = performance.now();
    this.simNowSec += (now - this.lastRealMs) / 1000 / this.p.timeScale;
    this.lastRealMs = now;
  }

  private ensureTimer(): void {
    if (this.timer !== undefined) return;
    this.lastRealMs = performance.now();
    this.timer = setInterval(() => this.tick(), Math.max(MIN_REAL_TICK_MS, this.p.tickMs * this.p.timeScale));
  }

  private stopTimer(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.lastRealMs = performance.now();
  }

  private tick(): void {
    const now = performance.now();
    const elapsedSec = (now - this.lastRealMs) / 1000 / this.p.timeScale;
    this.lastRealMs = now;
    const steps = Math.min(MAX_STEPS_PER_TICK, Math.max(1, Math.round(elapsedSec / (this.p.tickMs / 1000))));
    for (let i = 0; i < steps && this.running.length + this.queue.length > 0; i++) this.step(elapsedSec / steps);
    if (this.queue.length === 0 && this.running.length === 0) this.stopTimer();
  }

  /** See saturatedOutputTokensPerSec: keeps the queue non-empty with `jobs` and steps the model. */
  replaySaturated(jobs: readonly CapacityJob[], simSec: number, dtSec: number): number {
    let next = 0;
    const refill = () => {
      while (this.queue.length < 2) {
        const job = jobs[next++ % jobs.length]!;
        this.queue.push({ job, arrivedSec: this.simNowSec, admittedSec: 0, prefillLeft: job.promptTokens, firstTokenSec: 0, decoded: 0, held: 0, queuedSec: this.simNowSec, preemptions: 0, resolve: () => {}, reject: () => {}, detach: () => {} });
      }
    };
    const warmUpSec = Math.min(simSec / 4, 200);
    let from = 0;
    for (let t = 0; t < simSec; t += dtSec) {
      if (from === 0 && t >= warmUpSec) from = this.decodedTokens;
      refill();
      this.step(dtSec);
    }
    return (this.decodedTokens - from) / (simSec - warmUpSec);
  }

  /** Advances the model by `dt` simulated seconds. */
  private step(dt: number): void {
    this.admit();
    if (this.running.length > 0) this.busySec += dt;
    if (this.queue.length > 0 && this.running.length < this.p.maxRunningSeqs) this.kvBlockedSec += dt;

    // Taken before prefill runs: a request whose prefill completes in this step decodes from the next.
    // (Two arrays reused from step to step: a step runs every few milliseconds while there is work.)
    const decoding = this.decoding;
    const prefilling = this.prefilling;
    decoding.length = 0;
    prefilling.length = 0;
    for (const e of this.running) (e.prefillLeft > 0 ? prefilling : decoding).push(e);
    // Prefill first come, first served, as vLLM's scheduler spends each step's token budget: the running
    // requests in the order they were admitted, each taking what it still needs (chunked prefill), so
    // a burst of admissions starts decoding one by one instead of all at once after the whole burst's
    // prefill. (Shared equally, a burst of 30 prompts of ~3,000 tokens on an empty replica went ~9
    // simulated seconds without a token; in order, the first decodes after its own ~0.3 s.)
    // A prefill that completes inside the step gets the time within it at which its tokens were spent,
    // so the first-token time does not depend on how long a step is (steps lengthen when the event
    // loop runs late).
    const prefillRate = this.p.prefillTokensPerSec;
    let prefillBudget = prefillRate * dt;
    const incremental = this.p.kvAllocation === 'incremental';
    let spent = 0;
    for (const e of prefilling) {
      if (prefillBudget <= 0) break;
      const t = Math.min(e.prefillLeft, prefillBudget);
      e.prefillLeft -= t;
      prefillBudget -= t;
      spent += t;
      if (e.prefillLeft <= 1e-9) e.firstTokenSec = this.simNowSec + spent / prefillRate - e.arrivedSec;
    }
    shareBudget(
      decoding,
      this.p.decodeTokensPerSec * dt,
      this.p.maxDecodeTokensPerSecPerSeq * dt,
      (e) => e.job.completionTokens - e.decoded,
      (e, t) => {
        e.decoded += t;
        this.decodedTokens += t;
        if (incremental) {
          e.held += t;
          this.heldTokens += t;
        }
      },
    );
    if (incremental) this.preemptForKv(decoding);

    this.simNowSec += dt;
    for (const e of decoding) {
      if (e.decoded < e.job.completionTokens - 1e-9) continue;
      this.running.splice(this.running.indexOf(e), 1);
      this.heldTokens -= e.held;
      e.detach();
      e.resolve({ queueSec: e.admittedSec - e.arrivedSec, latencySec: this.simNowSec - e.arrivedSec, firstTokenSec: e.firstTokenSec });
    }
    if (this.running.length === 0) this.heldTokens = 0; // no rounding residue of fractional tokens held
    this.admit();
  }
}

/**
 * What the model delivers to a client that never lets it idle: output tokens per simulated second of
 * one replica with `params`, its queue never empty, fed `jobs` in order (cycled), after a warm-up of
 * one pass of the batch. The same step code as a live replica, in simulated time without timers. This
 * is the replica's capacity for a given workload: decode at `maxOutputTokensPerSec` needs
 * `saturatingConcurrency` sequences decoding at once, and whether their KV reservations fit (and
 * how well first-come-first-served admission packs them) depends on the requests' sizes.
 */
export function saturatedOutputTokensPerSec(params: Omit<CapacityParams, 'timeScale'>, jobs: readonly CapacityJob[], simSec = 2000, dtSec = 0.05): number {
  const fits = jobs.filter((j) => j.promptTokens + j.completionTokens <= params.kvCacheTokens && j.completionTokens > 0);
  if (fits.length === 0) return 0;
  const m = new CapacityModel({ ...params, timeScale: 1 });
  return m.replaySaturated(fits, simSec, dtSec);
}

/**
 * Water-filling: splits `budget` equally among `items`, each taking at most `cap` and at most what
 * it still needs; what one cannot use goes to the others.
 */
function shareBudget<T>(items: T[], budget: number, cap: number, need: (x: T) => number, take: (x: T, tokens: number) => void): void {
  if (items.length === 0) return;
  // The common case: every item can use an equal share (the same result as below, without sorting).
  const even = Math.min(cap, budget / items.length);
  let fits = true;
  for (const x of items) {
    if (need(x) < even) {
      fits = false;
      break;
    }
  }
  if (fits) {
    for (const x of items) take(x, even);
    return;
  }
  const sorted = items.map((x) => ({ x, need: need(x) })).sort((a, b) => a.need - b.need);
  let left = budget;
  sorted.forEach(({ x, need: n }, i) => {
    const t = Math.min(n, cap, left / (sorted.length - i));
    take(x, t);
    left -= t;
  });
}
