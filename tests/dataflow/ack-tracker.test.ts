import { describe, expect, it } from 'vitest';
import { AckTracker } from '../../src/dataflow/ack-tracker.js';
import type { Origin } from '../../src/envelope.js';

const o = (partition: string, offset: number): Origin => ({ kind: 'file', partition, offset, file: partition, line: offset + 1 });

describe('AckTracker', () => {
  it('commits only up to the lowest unresolved offset of each partition', () => {
    const t = new AckTracker();
    for (const off of [5, 6, 7, 9]) t.begin(o('a', off)); // 8 was skipped by the source (e.g. a blank line)
    t.begin(o('b', 0));
    expect(t.positions()).toEqual(new Map([['a', 5], ['b', 0]]));
    t.resolve(o('a', 6));
    t.resolve(o('a', 9));
    expect(t.positions().get('a')).toBe(5); // 5 still in flight
    t.resolve(o('a', 5));
    expect(t.positions().get('a')).toBe(7);
    t.resolve(o('a', 7));
    expect(t.positions().get('a')).toBe(10); // past the skipped offset and the last one
    expect(t.inFlight()).toBe(1);
  });

  it('reports only moved positions after markCommitted, and forgets revoked partitions', () => {
    const t = new AckTracker();
    t.begin(o('a', 0));
    t.begin(o('b', 0));
    t.resolve(o('a', 0));
    t.markCommitted(t.positions());
    expect(t.positions(true).size).toBe(0);
    t.resolve(o('b', 0));
    expect(t.positions(true)).toEqual(new Map([['b', 1]]));
    t.forget(['b']);
    t.resolve(o('b', 0)); // late resolution of a revoked partition: ignored
    expect([...t.positions().keys()]).toEqual(['a']);
  });

  it('keeps its queue bounded over a long run', () => {
    const t = new AckTracker();
    for (let i = 0; i < 100_000; i++) {
      t.begin(o('a', i));
      t.resolve(o('a', i));
    }
    expect(t.positions().get('a')).toBe(100_000);
    expect(t.inFlight()).toBe(0);
  });

  it('holds the records behind a stuck head in compact form, with gaps, out-of-order resolution and refetches', () => {
    const t = new AckTracker();
    // 200,000 records with a gap every 1,000 offsets; the first stays in flight while the rest resolve.
    const offsets: number[] = [];
    for (let i = 0, off = 0; i < 200_000; i++, off += i % 1000 === 0 ? 3 : 1) offsets.push(off);
    for (const off of offsets) t.begin(o('a', off));
    for (let i = offsets.length - 1; i >= 1; i--) t.resolve(o('a', offsets[i]!));
    t.resolve(o('a', offsets[5]!)); // resolved twice: counted once
    t.begin(o('a', offsets[7]!)); // read again (a refetch): not tracked twice
    expect(t.inFlight()).toBe(1);
    expect(t.positions().get('a')).toBe(offsets[0]);
    t.resolve(o('a', offsets[0]!));
    expect(t.inFlight()).toBe(0);
    expect(t.positions().get('a')).toBe(offsets.at(-1)! + 1);
    // Later records, after the gap to the next offset, and interleaved resolution.
    const next = offsets.at(-1)! + 10;
    for (let i = 0; i < 5000; i++) t.begin(o('a', next + i));
    for (let i = 0; i < 5000; i += 2) t.resolve(o('a', next + i));
    expect(t.positions().get('a')).toBe(next + 1);
    expect(t.inFlight()).toBe(2500);
    for (let i = 1; i < 4000; i += 2) t.resolve(o('a', next + i));
    expect(t.positions().get('a')).toBe(next + 4001);
    t.resolve(o('a', next - 5)); // never begun (in the gap): ignored
    t.begin(o('a', next + 100)); // below the last begun: ignored
    expect(t.inFlight()).toBe(500);
  });
});
