import type { Tally } from '../dataflow/funnel.js';

/**
 * What every step reports under its id, counted by the runtime around each call: received items, and
 * for each exactly one of sent (it made items; `emitted` counts them), dropped{reason},
 * rejected{rule} or errors{code}; so received = sent + dropped + rejected + errors once no item is
 * inside the step. Plus the time spent in it.
 */
export class StageMetrics {
  received = 0;
  sent = 0;
  emitted = 0;
  readonly dropped: Tally = {};
  readonly rejected: Tally = {};
  readonly errors: Tally = {};
  /** Wall time spent in the stage, summed over items (ms), and a bounded reservoir for percentiles. */
  totalMs = 0;
  readonly #samples: number[] = [];
  #seen = 0;

  constructor(readonly id: string) {}

  drop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }
  reject(rule: string): void {
    this.rejected[rule] = (this.rejected[rule] ?? 0) + 1;
  }
  /** received = sent + dropped + rejected + errors. */
  balanced(): boolean {
    const sum = (t: Tally) => Object.values(t).reduce((a, b) => a + b, 0);
    return this.received === this.sent + sum(this.dropped) + sum(this.rejected) + sum(this.errors);
  }
  error(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }
  time(ms: number): void {
    this.totalMs += ms;
    this.#seen++;
    if (this.#samples.length < 2048) this.#samples.push(ms);
    else {
      const j = Math.floor(Math.random() * this.#seen);
      if (j < 2048) this.#samples[j] = ms;
    }
  }
  percentile(p: number): number {
    if (this.#samples.length === 0) return 0;
    const s = [...this.#samples].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  }
  toJSON() {
    return {
      received: this.received,
      sent: this.sent,
      emitted: this.emitted,
      dropped: this.dropped,
      rejected: this.rejected,
      errors: this.errors,
      balanced: this.balanced(),
      totalMs: Math.round(this.totalMs),
      p50Ms: +this.percentile(50).toFixed(2),
      p99Ms: +this.percentile(99).toFixed(2),
    };
  }
}

export class Metrics {
  readonly #stages = new Map<string, StageMetrics>();
  stage(id: string): StageMetrics {
    let m = this.#stages.get(id);
    if (!m) this.#stages.set(id, (m = new StageMetrics(id)));
    return m;
  }
  toJSON(): Record<string, ReturnType<StageMetrics['toJSON']>> {
    return Object.fromEntries([...this.#stages].map(([k, v]) => [k, v.toJSON()]));
  }
}
