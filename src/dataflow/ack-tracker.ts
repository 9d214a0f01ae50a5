import type { Origin } from '../envelope.js';

/**
 * One partition's records between its commit position and the last one read, in compact form: the
 * offsets begun as runs of consecutive offsets (one run unless the source skipped offsets) and one bit
 * per record for "resolved". Memory is ~1 bit per record behind the head plus 3 numbers per gap,
 * not an entry per record: the head waits for the oldest document whose shard is not durable yet
 * (up to `sink.maxAgeMs`), and at a fast source every record read meanwhile sits behind it (a
 * Set of offsets held ~470,000 entries, ~20 MB, at 7,800 records/s and a 60 s shard age).
 */
class PartitionAcks {
  /** [firstOffset, endOffset (exclusive), ordinal of firstOffset] per run, ascending; runs before `run` are passed. */
  #runs: number[] = [];
  #run = 0;
  /** Ordinal (count of records begun before it) of the head: the oldest record not yet passed. */
  #head = 0;
  /** Ordinal of the next record to begin. */
  #end = 0;
  /** Resolved bits, bit i = ordinal #bitBase + i. */
  #bits = new Uint32Array(64);
  #bitBase = 0;
  /** One past the last offset the head passed: the position when nothing is in flight. */
  next: number;
  committed = -1;
  unresolved = 0;

  constructor(first: number) {
    this.next = first;
  }

  begin(offset: number): void {
    const r = this.#runs;
    const last = r.length - 3;
    if (last >= 0 && offset < r[last + 1]!) return; // read again (a refetch): already tracked or passed
    if (last < 0 && offset < this.next) return;
    if (last >= 0 && offset === r[last + 1]) {
      r[last + 1] = offset + 1;
      if (this.#run > last) this.#run = last; // the head had passed the run: it is back inside it
    } else r.push(offset, offset + 1, this.#end);
    const i = this.#end - this.#bitBase;
    if (i >> 5 >= this.#bits.length) this.#grow();
    this.#end++;
    this.unresolved++;
  }

  resolve(offset: number): void {
    const ord = this.#ordinal(offset);
    if (ord === undefined || ord < this.#head) return;
    const i = ord - this.#bitBase;
    const mask = 1 << (i & 31);
    if (this.#bits[i >> 5]! & mask) return;
    this.#bits[i >> 5]! |= mask;
    this.unresolved--;
    if (ord !== this.#head) return;
    while (this.#head < this.#end && this.#bits[(this.#head - this.#bitBase) >> 5]! & (1 << ((this.#head - this.#bitBase) & 31))) this.#head++;
    const r = this.#runs;
    while (this.#run < r.length && r[this.#run + 2]! + (r[this.#run + 1]! - r[this.#run]!) <= this.#head) {
      this.next = r[this.#run + 1]!;
      this.#run += 3;
    }
    if (this.#run < r.length) this.next = r[this.#run]! + (this.#head - r[this.#run + 2]!);
    this.#compact();
  }

  /** The lowest offset not yet resolved, or one past the last one passed. */
  position(): number {
    return this.next;
  }

  /** Ordinal of a begun offset (binary search over the runs not yet passed), undefined if not begun. */
  #ordinal(offset: number): number | undefined {
    const r = this.#runs;
    let lo = this.#run / 3;
    let hi = r.length / 3 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const k = mid * 3;
      if (offset < r[k]!) hi = mid - 1;
      else if (offset >= r[k + 1]!) lo = mid + 1;
      else return r[k + 2]! + (offset - r[k]!);
    }
    return undefined;
  }

  #grow(): void {
    const bits = new Uint32Array(this.#bits.length * 2);
    bits.set(this.#bits);
    this.#bits = bits;
  }

  /** Drops the bits and runs the head has passed, once they are most of what is held. */
  #compact(): void {
    const words = (this.#head - this.#bitBase) >> 5;
    if (words >= 32 && words * 2 >= (this.#end - this.#bitBase) >> 5) {
      this.#bits.copyWithin(0, words);
      this.#bits.fill(0, this.#bits.length - words);
      this.#bitBase += words * 32;
    }
    if (this.#run >= 3 * 64 && this.#run * 2 >= this.#runs.length) {
      this.#runs = this.#runs.slice(this.#run);
      this.#run = 0;
    }
  }
}

/**
 * Per-partition watermarks. Records of a partition arrive in ascending offset order; each is begun
 * when read and resolved once it is durable in output, dropped, rejected or dead-lettered. The
 * position to commit for a partition is the lowest offset still unresolved (or one past the last
 * offset seen when none is), so a commit never passes work in flight. A record read again at or below
 * an offset already begun (a refetch) is not tracked twice.
 */
export class AckTracker {
  readonly #parts = new Map<string, PartitionAcks>();

  begin(o: Origin): void {
    let p = this.#parts.get(o.partition);
    if (!p) {
      p = new PartitionAcks(o.offset);
      this.#parts.set(o.partition, p);
    }
    p.begin(o.offset);
  }

  resolve(o: Origin): void {
    this.#parts.get(o.partition)?.resolve(o.offset); // no entry: partition revoked meanwhile
  }

  /** Records begun but not yet resolved, over all partitions. */
  inFlight(): number {
    let n = 0;
    for (const p of this.#parts.values()) n += p.unresolved;
    return n;
  }

  /** Positions that moved since the last call to `markCommitted`. */
  positions(onlyChanged = false): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, p] of this.#parts) {
      const pos = p.position();
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
