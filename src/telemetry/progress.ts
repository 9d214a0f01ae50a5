import type { ProgressSnapshot } from '../dataflow/pipeline.js';

/**
 * Progress output: a live line redrawn in place on a TTY, periodic plain log lines otherwise.
 * `tokens()` gives the completion tokens so far (for tokens/s).
 */
export class ProgressReporter {
  #lastPlain = 0;
  #live = false;
  /** The latest snapshot not yet written as a plain line (printed by finish(), so the log ends on the final state). */
  #unprinted: ProgressSnapshot | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly opts: { plainIntervalMs: number; tokens: () => number },
  ) {}

  line(p: ProgressSnapshot): string {
    const s = p.elapsedMs / 1000;
    const d = p.funnel.documents;
    const done = d.received - d.inFlight;
    const rate = s > 0 ? done / s : 0;
    const tokRate = s > 0 ? this.opts.tokens() / s : 0;
    let eta = '';
    if (p.progress && p.progress.total > 0 && p.progress.done > 0 && d.received > 0) {
      // Read fraction x the fraction of what was read that has left the pipeline: a corpus read to the
      // end with its documents still waiting on the LLM is not done.
      const frac = Math.min(1, p.progress.done / p.progress.total) * (done / d.received);
      const remaining = frac > 0 ? (s / frac) * (1 - frac) : 0;
      eta = ` ${(frac * 100).toFixed(0)}% eta ${fmtDuration(remaining)}`;
    }
    const dropped = Object.values(d.dropped).reduce((a, b) => a + b, 0);
    const rejected = Object.values(d.rejected).reduce((a, b) => a + b, 0);
    const dead = Object.values(d.deadLettered).reduce((a, b) => a + b, 0);
    return (
      `${fmtDuration(s)} docs ${d.received} (${rate.toFixed(1)}/s) written ${d.written} dropped ${dropped} ` +
      `rejected ${rejected} dead ${dead} in-flight ${d.inFlight} (llm ${p.llmInFlight}) ` +
      `traj ${p.funnel.trajectories.written} tok/s ${tokRate.toFixed(0)}${eta}`
    );
  }

  update(p: ProgressSnapshot): void {
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${this.line(p).slice(0, (this.out.columns ?? 160) - 1)}`);
      this.#live = true;
    } else if (p.elapsedMs - this.#lastPlain >= this.opts.plainIntervalMs) {
      this.#lastPlain = p.elapsedMs;
      this.#unprinted = undefined;
      this.out.write(`${new Date().toISOString()} progress ${this.line(p)}\n`);
    } else this.#unprinted = p;
  }

  /** End the live line so following output starts on a fresh line. */
  finish(): void {
    if (this.#live) this.out.write('\n');
    this.#live = false;
    if (this.#unprinted) this.out.write(`${new Date().toISOString()} progress ${this.line(this.#unprinted)}\n`);
    this.#unprinted = undefined;
  }
}

export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}
