import type { Origin } from '../envelope.js';
import { Funnel, type FunnelSnapshot } from './funnel.js';

type Entry = (f: Funnel) => void;

/**
 * The books of the documents whose source position is committed: what a run has done for good, even
 * if it is killed the next moment. The live funnel counts a document as it goes; a run killed before
 * its position is committed has its document read again (and counted) by the next run, so a record of
 * the killed run may count only what was committed. Each entry of the live funnel is booked here
 * under its document's origin and held until a commit covers that position (`commit`); entries of
 * documents never committed (abandoned, a revoked partition) are never moved. Held: the documents
 * read and not yet committed (bounded by the read-ahead and the documents in flight).
 */
export class CommittedBooks {
  #committed = new Funnel();
  /** partition -> offset -> the document's funnel entries not yet committed. */
  readonly #pending = new Map<string, Map<number, Entry[]>>();

  constructor(private readonly live: Funnel) {}

  /** Books `entry` on the live funnel now, and on the committed books once `o`'s position is committed. */
  note(o: Origin, entry: Entry): void {
    entry(this.live);
    let part = this.#pending.get(o.partition);
    if (!part) this.#pending.set(o.partition, (part = new Map()));
    const list = part.get(o.offset);
    if (list) list.push(entry);
    else part.set(o.offset, [entry]);
  }

  /**
   * The committed books as they will be once `positions` (partition -> first offset not committed)
   * are: a preview to store with the commit, and `apply` to make it so once the commit succeeded.
   */
  preview(positions: ReadonlyMap<string, number>): { books: FunnelSnapshot; apply(): void } {
    const next = this.#committed.clone();
    const moved: Array<[Map<number, Entry[]>, number]> = [];
    for (const [partition, below] of positions) {
      const part = this.#pending.get(partition);
      if (!part) continue;
      for (const [offset, entries] of part) {
        if (offset >= below) continue;
        for (const e of entries) e(next);
        moved.push([part, offset]);
      }
    }
    return {
      books: next.snapshot(),
      apply: () => {
        this.#committed = next;
        for (const [part, offset] of moved) part.delete(offset);
        for (const [partition, part] of this.#pending) if (part.size === 0) this.#pending.delete(partition);
      },
    };
  }

  /** The committed books. */
  snapshot(): FunnelSnapshot {
    return this.#committed.snapshot();
  }

  /** Partitions this process no longer owns: their uncommitted documents are another run's to count. */
  forget(partitions: Iterable<string>): void {
    for (const p of partitions) this.#pending.delete(p);
  }
}
