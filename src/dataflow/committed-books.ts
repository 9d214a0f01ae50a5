import type { Origin } from '../envelope.js';
import { Funnel, type FunnelSnapshot } from './funnel.js';

/** A funnel entry: the Funnel method it calls. Its one argument goes beside it (BookArg). */
export type BookOp =
  | 'received'
  | 'written'
  | 'dropped'
  | 'rejected'
  | 'deadLettered'
  | 'retried'
  | 'trajectoryGenerated'
  | 'trajectoryRejected'
  | 'trajectoryDropped'
  | 'trajectoryFailed';
/** bytes (received), trajectories (written, trajectoryGenerated), or a reason, rule or code. */
export type BookArg = number | string;

const OPS: readonly BookOp[] = ['received', 'written', 'dropped', 'rejected', 'deadLettered', 'retried', 'trajectoryGenerated', 'trajectoryRejected', 'trajectoryDropped', 'trajectoryFailed'];
const OP_CODE = new Map(OPS.map((op, i) => [op, i]));

/** Books one entry on `f`. */
export function applyBookOp(f: Funnel, op: BookOp, arg: BookArg): void {
  switch (op) {
    case 'received':
      return f.received(arg as number);
    case 'written':
      return f.written(arg as number);
    case 'trajectoryGenerated':
      return f.trajectoryGenerated(arg as number);
    default:
      return f[op](arg as string);
  }
}

/** Offsets per chunk of a partition's log: a chunk wholly below a commit position is booked and freed at once. */
const CHUNK_OFFSETS = 4096;
/** The ops a document leaves by, once: one slot per document holds it. */
const TERMINAL = new Set<BookOp>(['written', 'dropped', 'rejected', 'deadLettered']);

/**
 * The (op, argument) pairs documents leave by (`dropped` + `irrelevant`, `written` + 3, ...): few
 * distinct ones in a run, so a slot holds an index into this table. Shared by every log of a process;
 * bounded (past MAX_TERMINALS distinct pairs the side list takes the rest).
 */
const terminals: Array<[BookOp, BookArg]> = [];
const terminalIndex = new Map<string, number>();
const MAX_TERMINALS = 60_000;

function terminalCode(op: BookOp, arg: BookArg): number {
  const key = `${op}\u0000${typeof arg}\u0000${arg}`;
  let i = terminalIndex.get(key);
  if (i === undefined) {
    if (terminals.length >= MAX_TERMINALS) return 0;
    terminals.push([op, arg]);
    terminalIndex.set(key, (i = terminals.length));
  }
  return i;
}

/**
 * The entries of CHUNK_OFFSETS consecutive offsets. The two entries nearly every document has sit in
 * per-offset slots (7 bytes an offset): its `received` bytes and how it left (a code into `terminals`);
 * anything else (a retry, its trajectories' entries, a second entry of a kind) goes to a side list.
 */
class Chunk {
  readonly bytes = new Uint32Array(CHUNK_OFFSETS);
  /** 1: received noted. */
  readonly received = new Uint8Array(CHUNK_OFFSETS);
  /** 0: none; else 1 + index into `terminals`. */
  readonly terminal = new Uint16Array(CHUNK_OFFSETS);
  readonly sideOffsets: number[] = [];
  readonly sideOps: number[] = [];
  readonly sideArgs: BookArg[] = [];
  /** Entries held (slots and side list). */
  size = 0;

  constructor(readonly start: number) {}

  push(offset: number, op: BookOp, arg: BookArg): void {
    const i = offset - this.start;
    this.size++;
    if (op === 'received' && this.received[i] === 0 && typeof arg === 'number' && arg >= 0 && arg <= 0xffff_ffff) {
      this.received[i] = 1;
      this.bytes[i] = arg;
      return;
    }
    if (TERMINAL.has(op) && this.terminal[i] === 0) {
      const t = terminalCode(op, arg);
      if (t !== 0) {
        this.terminal[i] = t;
        return;
      }
    }
    this.sideOffsets.push(offset);
    this.sideOps.push(OP_CODE.get(op)!);
    this.sideArgs.push(arg);
  }

  /** Books on `f` the entries of offsets below `below`; returns the side list's length it saw. */
  applyBelow(f: Funnel, below: number): number {
    const end = Math.min(CHUNK_OFFSETS, below - this.start);
    for (let i = 0; i < end; i++) {
      if (this.received[i] === 1) f.received(this.bytes[i]!);
      const t = this.terminal[i]!;
      if (t !== 0) applyBookOp(f, terminals[t - 1]![0], terminals[t - 1]![1]);
    }
    const n = this.sideOffsets.length;
    for (let j = 0; j < n; j++) if (this.sideOffsets[j]! < below) applyBookOp(f, OPS[this.sideOps[j]!]!, this.sideArgs[j]!);
    return n;
  }

  /**
   * Removes what applyBelow(below) booked: the slots below `below` (a document is resolved before its
   * position can be committed, so its slots were final then) and the first `n` side entries below it
   * (later ones stay for the next commit).
   */
  dropBelow(below: number, n: number): void {
    const end = Math.min(CHUNK_OFFSETS, below - this.start);
    for (let i = 0; i < end; i++) {
      if (this.received[i] === 1) {
        this.received[i] = 0;
        this.size--;
      }
      if (this.terminal[i] !== 0) {
        this.terminal[i] = 0;
        this.size--;
      }
    }
    const { sideOffsets: offsets, sideOps: ops, sideArgs: args } = this;
    let w = 0;
    for (let j = 0; j < offsets.length; j++) {
      if (j < n && offsets[j]! < below) continue;
      if (w !== j) {
        offsets[w] = offsets[j]!;
        ops[w] = ops[j]!;
        args[w] = args[j]!;
      }
      w++;
    }
    this.size -= offsets.length - w;
    offsets.length = ops.length = args.length = w;
  }
}

/**
 * The entries of one partition not yet committed, in chunks of CHUNK_OFFSETS offsets: no closure and
 * no reference to a document, ~7 bytes an offset for the usual two entries. A commit books and frees
 * the chunks it covers whole and filters only the chunk its position falls in.
 */
class PartitionLog {
  /** Chunks holding at least one entry (an emptied chunk is deleted). */
  readonly chunks = new Map<number, Chunk>();

  push(offset: number, op: BookOp, arg: BookArg): void {
    const k = Math.floor(offset / CHUNK_OFFSETS);
    let c = this.chunks.get(k);
    if (!c) this.chunks.set(k, (c = new Chunk(k * CHUNK_OFFSETS)));
    c.push(offset, op, arg);
  }

  /** Entries held. */
  get size(): number {
    let n = 0;
    for (const c of this.chunks.values()) n += c.size;
    return n;
  }

  /** Books on `f` the entries below offset `below`; returns what `dropBelow` needs to remove exactly them. */
  applyBelow(f: Funnel, below: number): Array<[number, Chunk, number]> {
    const taken: Array<[number, Chunk, number]> = [];
    for (const [k, c] of this.chunks) if (c.start < below) taken.push([k, c, c.applyBelow(f, below)]);
    return taken;
  }

  /** Removes the entries `applyBelow` booked; entries noted since stay. */
  dropBelow(below: number, taken: Array<[number, Chunk, number]>): void {
    for (const [k, c, n] of taken) {
      if (this.chunks.get(k) !== c) continue;
      c.dropBelow(below, n);
      if (c.size === 0) this.chunks.delete(k);
    }
  }
}

/**
 * The books of the documents whose source position is committed: what a run has done for good, even
 * if it is killed the next moment. The live funnel counts a document as it goes; a run killed before
 * its position is committed has its document read again (and counted) by the next run, so a record of
 * the killed run may count only what was committed. Each entry of the live funnel is booked here
 * under its document's origin and held until a commit covers that position (`commit`); entries of
 * documents never committed (abandoned, a revoked partition) are never moved. Held: the entries of the
 * documents read and not yet committed, as data (PartitionLog): a commit position can wait a whole
 * shard age (`sink.maxAgeMs`) behind the reads, i.e. hundreds of thousands of documents when most are
 * dropped early, so an entry must not keep its document alive.
 */
export class CommittedBooks {
  #committed = new Funnel();
  /** partition -> its entries not yet committed. */
  readonly #pending = new Map<string, PartitionLog>();

  constructor(private readonly live: Funnel) {}

  /** Books `op(arg)` on the live funnel now, and on the committed books once `o`'s position is committed. */
  note(o: Origin, op: BookOp, arg: BookArg): void {
    applyBookOp(this.live, op, arg);
    let log = this.#pending.get(o.partition);
    if (!log) this.#pending.set(o.partition, (log = new PartitionLog()));
    log.push(o.offset, op, arg);
  }

  /**
   * The committed books as they will be once `positions` (partition -> first offset not committed)
   * are: a preview to store with the commit, and `apply` to make it so once the commit succeeded.
   * Entries noted after the preview stay pending (the next commit books them).
   */
  preview(positions: ReadonlyMap<string, number>): { books: FunnelSnapshot; apply(): void } {
    const next = this.#committed.clone();
    const moved: Array<[PartitionLog, number, Array<[number, Chunk, number]>]> = [];
    for (const [partition, below] of positions) {
      const log = this.#pending.get(partition);
      if (log) moved.push([log, below, log.applyBelow(next, below)]);
    }
    return {
      books: next.snapshot(),
      apply: () => {
        this.#committed = next;
        for (const [log, below, taken] of moved) log.dropBelow(below, taken);
        for (const [partition, log] of this.#pending) if (log.chunks.size === 0) this.#pending.delete(partition);
      },
    };
  }

  /** The committed books. */
  snapshot(): FunnelSnapshot {
    return this.#committed.snapshot();
  }

  /** Entries held for documents not yet committed (all partitions). */
  get pendingEntries(): number {
    let n = 0;
    for (const log of this.#pending.values()) n += log.size;
    return n;
  }

  /** Partitions this process no longer owns: their uncommitted documents are another run's to count. */
  forget(partitions: Iterable<string>): void {
    for (const p of partitions) this.#pending.delete(p);
  }
}
