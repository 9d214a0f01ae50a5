import type { Tally } from '../dataflow/funnel.js';

/** What every operator reports under its id: received / sent / dropped{reason} / errors{code} / time. */
export class StageMetrics {
  received = 0;
  sent = 0;
  readonly dropped: Tally = {};
  readonly errors: Tally = {};
  /** Wall time spent in the stage, summed over items (ms), and a bounded reservoir for percentiles. */
  totalMs = 0;
  readonly #samples: number[] = [];
  #seen = 0;

  constructor(readonly id: string) {}

  drop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
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
      dropped: this.dropped,
      errors: this.errors,
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
