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
});
