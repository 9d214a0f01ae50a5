/**
 * The run's funnel. Every document that enters leaves in exactly one way: written (at least one
 * trajectory durable in a shard), dropped{reason}, rejected{rule} (all its trajectories failed
 * validation), dead-lettered{code}, or, when a run is stopped before it finished, abandoned (not
 * committed, so the next run replays it). `balanced()` checks the books.
 */
export type Tally = Record<string, number>;

export interface FunnelSnapshot {
  documents: {
    received: number;
    written: number;
    dropped: Tally;
    rejected: Tally;
    deadLettered: Tally;
    abandoned: number;
    inFlight: number;
    bytes: number;
    /** Whole-document retries after infrastructure failures, by code (not a way of leaving: no part of the books). */
    retried: Tally;
  };
  trajectories: {
    generated: number;
    written: number;
    rejected: Tally;
    dropped: Tally;
    failed: Tally;
  };
  balanced: boolean;
}

const add = (t: Tally, k: string, n = 1) => {
  t[k] = (t[k] ?? 0) + n;
};
const sum = (t: Tally) => Object.values(t).reduce((a, b) => a + b, 0);

export class Funnel {
  readonly docs = { received: 0, written: 0, dropped: {} as Tally, rejected: {} as Tally, deadLettered: {} as Tally, abandoned: 0, bytes: 0, retried: {} as Tally };
  readonly trajectories = { generated: 0, written: 0, rejected: {} as Tally, dropped: {} as Tally, failed: {} as Tally };

  received(bytes: number): void {
    this.docs.received++;
    this.docs.bytes += bytes;
  }
  written(trajectories: number): void {
    this.docs.written++;
    this.trajectories.written += trajectories;
  }
  dropped(reason: string): void {
    add(this.docs.dropped, reason);
  }
  rejected(rule: string): void {
    add(this.docs.rejected, rule);
  }
  deadLettered(code: string): void {
    add(this.docs.deadLettered, code);
  }
  retried(code: string): void {
    add(this.docs.retried, code);
  }
  abandoned(n: number): void {
    this.docs.abandoned += n;
  }
  trajectoryGenerated(n = 1): void {
    this.trajectories.generated += n;
  }
  trajectoryRejected(rule: string): void {
    add(this.trajectories.rejected, rule);
  }
  trajectoryDropped(reason: string): void {
    add(this.trajectories.dropped, reason);
  }
  trajectoryFailed(code: string): void {
    add(this.trajectories.failed, code);
  }

  /** An independent copy. */
  clone(): Funnel {
    const f = new Funnel();
    const d = this.docs;
    const t = this.trajectories;
    Object.assign(f.docs, { ...d, dropped: { ...d.dropped }, rejected: { ...d.rejected }, deadLettered: { ...d.deadLettered }, retried: { ...d.retried } });
    Object.assign(f.trajectories, { ...t, rejected: { ...t.rejected }, dropped: { ...t.dropped }, failed: { ...t.failed } });
    return f;
  }

  /** Documents that have left (any way). */
  resolved(): number {
    const d = this.docs;
    return d.written + sum(d.dropped) + sum(d.rejected) + sum(d.deadLettered) + d.abandoned;
  }

  snapshot(): FunnelSnapshot {
    const d = this.docs;
    const inFlight = d.received - this.resolved();
    const t = this.trajectories;
    // Trajectories: every generated one is written, rejected or dropped; failed ones were never generated.
    const trajOk = t.generated === t.written + sum(t.rejected) + sum(t.dropped);
    return {
      documents: { ...d, dropped: { ...d.dropped }, rejected: { ...d.rejected }, deadLettered: { ...d.deadLettered }, retried: { ...d.retried }, inFlight },
      trajectories: { ...t, rejected: { ...t.rejected }, dropped: { ...t.dropped }, failed: { ...t.failed } },
      balanced: inFlight === 0 && trajOk,
    };
  }
}

export function formatTally(t: Tally): string {
  const e = Object.entries(t).sort((a, b) => b[1] - a[1]);
  return e.length === 0 ? '0' : `${sum(t)} (${e.map(([k, v]) => `${k}: ${v}`).join(', ')})`;
}

export function formatFunnel(s: FunnelSnapshot): string {
  const d = s.documents;
  const t = s.trajectories;
  const lines = [
    `documents   received ${d.received} (${(d.bytes / 1e6).toFixed(1)} MB)`,
    `            written ${d.written}`,
    `            dropped ${formatTally(d.dropped)}`,
    `            rejected ${formatTally(d.rejected)}`,
    `            dead-lettered ${formatTally(d.deadLettered)}`,
  ];
  if (d.abandoned) lines.push(`            abandoned ${d.abandoned} (not committed; replayed by the next run)`);
  if (Object.keys(d.retried ?? {}).length) lines.push(`            retried after infrastructure failures ${formatTally(d.retried)}`);
  if (d.inFlight) lines.push(`            in flight ${d.inFlight}`);
  lines.push(
    `trajectories generated ${t.generated}, written ${t.written}, rejected ${formatTally(t.rejected)}, dropped ${formatTally(t.dropped)}, failed ${formatTally(t.failed)}`,
    `books ${s.balanced ? 'balance' : 'DO NOT BALANCE'}: received ${d.received} = written ${d.written} + dropped + rejected + dead-lettered${d.abandoned ? ' + abandoned' : ''}${d.inFlight ? ` (+${d.inFlight} in flight)` : ''}`,
  );
  return lines.join('\n');
}
