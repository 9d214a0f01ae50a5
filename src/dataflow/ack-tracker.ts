import type { Origin } from '../envelope.js';

/**
 * Per-partition watermarks. Records of a partition arrive in ascending offset order; each is begun
 * when read and resolved once it is durable in output, dropped, rejected or dead-lettered. The
 * position to commit for a partition is the lowest offset still unresolved (or one past the last
 * offset seen when none is), so a commit never passes work in flight.
 */
export class AckTracker {
  readonly #parts = new Map<string, { queue: number[]; head: number; resolved: Set<number>; next: number; committed: number }>();

  begin(o: Origin): void {
    let p = this.#parts.get(o.partition);
    if (!p) {
      p = { queue: [], head: 0, resolved: new Set(), next: o.offset, committed: -1 };
      this.#parts.set(o.partition, p);
    }
    p.queue.push(o.offset);
  }

  resolve(o: Origin): void {
    const p = this.#parts.get(o.partition);
    if (!p) return; // partition revoked meanwhile
    p.resolved.add(o.offset);
    while (p.head < p.queue.length && p.resolved.has(p.queue[p.head]!)) {
      const off = p.queue[p.head++]!;
      p.resolved.delete(off);
      p.next = off + 1;
    }
    if (p.head > 1024 && p.head * 2 > p.queue.length) {
      p.queue = p.queue.slice(p.head);
      p.head = 0;
    }
  }

  /** Records begun but not yet resolved, over all partitions. */
  inFlight(): number {
    let n = 0;
    for (const p of this.#parts.values()) n += p.queue.length - p.head;
    return n;
  }

  /** Positions that moved since the last call to `markCommitted`. */
  positions(onlyChanged = false): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, p] of this.#parts) {
      const pos = p.head < p.queue.length ? p.queue[p.head]! : p.next;
      if (!onlyChanged || pos !== p.committed) out.set(k, pos);
    }
    return out;
  }

  markCommitted(positions: Map<string, number>): void {
    for (const [k, pos] of positions) {
      const p = this.#parts.get(k);
      if (p) p.committed = pos;
    }
  }

  /** Stop tracking partitions this process no longer owns. */
  forget(partitions: string[]): void {
    for (const k of partitions) this.#parts.delete(k);
  }
}
