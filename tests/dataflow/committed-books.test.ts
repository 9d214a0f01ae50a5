import { describe, expect, it } from 'vitest';
import { CommittedBooks } from '../../src/dataflow/committed-books.js';
import { Funnel } from '../../src/dataflow/funnel.js';
import type { Origin } from '../../src/envelope.js';

const at = (partition: string, offset: number): Origin => ({ kind: 'file', partition, offset, file: partition, line: offset + 1 });

describe('CommittedBooks', () => {
  it('counts a document on the committed books only once a commit covers its position', () => {
    const live = new Funnel();
    const books = new CommittedBooks(live);
    // a: offsets 0 (written, 2 trajectories), 1 (dropped), 2 (still in flight); b: offset 0 dead-lettered.
    for (const o of [at('a', 0), at('a', 1), at('a', 2), at('b', 0)]) books.note(o, 'received', 10);
    books.note(at('a', 0), 'trajectoryGenerated', 2);
    books.note(at('a', 0), 'written', 2);
    books.note(at('a', 1), 'dropped', 'irrelevant');
    books.note(at('b', 0), 'deadLettered', 'missing_text');

    // The live funnel has everything at once.
    expect(live.snapshot().documents).toMatchObject({ received: 4, written: 1, dropped: { irrelevant: 1 }, deadLettered: { missing_text: 1 }, inFlight: 1 });

    // Nothing committed yet.
    expect(books.snapshot().documents.received).toBe(0);

    // A preview is not applied until asked.
    const p = books.preview(new Map([['a', 2]]));
    expect(p.books.documents).toMatchObject({ received: 2, written: 1, dropped: { irrelevant: 1 }, inFlight: 0 });
    expect(p.books.trajectories).toMatchObject({ generated: 2, written: 2 });
    expect(p.books.balanced).toBe(true);
    expect(books.snapshot().documents.received).toBe(0);
    p.apply();
    expect(books.snapshot()).toEqual(p.books);

    // The same positions again change nothing; b's commit adds its dead letter.
    books.preview(new Map([['a', 2]])).apply();
    books.preview(new Map([['b', 1]])).apply();
    expect(books.snapshot().documents).toMatchObject({ received: 3, written: 1, deadLettered: { missing_text: 1 }, inFlight: 0 });

    // a@2 finishes, but a is revoked before it is committed: the new owner counts it.
    books.note(at('a', 2), 'written', 1);
    books.forget(['a']);
    books.preview(new Map([['a', 3]])).apply();
    expect(books.snapshot().documents.received).toBe(3);
    expect(live.snapshot().documents.written).toBe(2);
  });

  it('keeps an entry noted between a preview and its apply for the next commit, and holds no more than it must', () => {
    const books = new CommittedBooks(new Funnel());
    for (let i = 0; i < 10_000; i++) {
      books.note(at('a', i), 'received', 5);
      if (i % 2 === 0) books.note(at('a', i), 'dropped', 'irrelevant');
    }
    expect(books.pendingEntries).toBe(15_000);
    // 5,000 falls inside the log's second chunk of offsets: the first is booked whole, the second filtered.
    const p = books.preview(new Map([['a', 5000]]));
    // a@10 learns of a retry after the preview was taken (the commit is in progress): not in this commit.
    books.note(at('a', 10), 'retried', 'llm_unavailable');
    p.apply();
    expect(p.books.documents).toMatchObject({ received: 5000, dropped: { irrelevant: 2500 } });
    expect(p.books.documents.retried).toEqual({});
    expect(books.pendingEntries).toBe(7501);
    books.preview(new Map([['a', 10_000]])).apply();
    expect(books.snapshot().documents).toMatchObject({ received: 10_000, dropped: { irrelevant: 5000 }, retried: { llm_unavailable: 1 } });
    expect(books.pendingEntries).toBe(0);
  });

  it('books entries beyond the per-offset slots (repeats, trajectories, Kafka-sized offsets) exactly once', () => {
    const live = new Funnel();
    const books = new CommittedBooks(live);
    const base = 2 ** 40 + 4090; // a chunk boundary falls between base + 5 and base + 6
    for (let i = 0; i < 12; i++) {
      const o = at('p', base + i);
      books.note(o, 'received', 100 + i);
      books.note(o, 'trajectoryGenerated', 2);
      books.note(o, 'trajectoryRejected', 'schema');
      books.note(o, 'retried', 'llm_unavailable');
      books.note(o, 'retried', 'llm_unavailable');
      if (i % 3 === 0) books.note(o, 'written', 1);
      else if (i % 3 === 1) books.note(o, 'rejected', 'no_tool_calls');
      else books.note(o, 'deadLettered', 'llm_invalid_output');
    }
    // The same document received twice (its second entry goes to the side list): counted twice, as live.
    books.note(at('p', base), 'received', 7);
    books.preview(new Map([['p', base + 8]])).apply();
    expect(books.snapshot().documents).toMatchObject({ received: 9, bytes: 100 * 8 + 28 + 7, written: 3, rejected: { no_tool_calls: 3 }, deadLettered: { llm_invalid_output: 2 }, retried: { llm_unavailable: 16 } });
    expect(books.snapshot().trajectories).toMatchObject({ generated: 16, rejected: { schema: 8 } });
    books.preview(new Map([['p', base + 12]])).apply();
    const all = books.snapshot();
    expect({ ...all.documents, inFlight: 0 }).toEqual({ ...live.snapshot().documents, inFlight: 0 });
    expect(all.trajectories).toEqual(live.snapshot().trajectories);
    expect(books.pendingEntries).toBe(0);
  });

  it('a clone of the funnel is independent of it', () => {
    const f = new Funnel();
    f.received(1);
    f.dropped('x');
    const c = f.clone();
    c.dropped('x');
    c.received(1);
    expect(f.snapshot().documents).toMatchObject({ received: 1, dropped: { x: 1 } });
    expect(c.snapshot().documents).toMatchObject({ received: 2, dropped: { x: 2 } });
  });
});
