import { describe, expect, it } from 'vitest';
import { Funnel, formatFunnel } from '../../src/dataflow/funnel.js';

describe('Funnel', () => {
  it('balances only when every received document has left one way', () => {
    const f = new Funnel();
    for (let i = 0; i < 6; i++) f.received(100);
    f.written(2);
    f.dropped('irrelevant');
    f.rejected('unknown_tool');
    f.deadLettered('invalid_json');
    f.trajectoryGenerated(3);
    f.trajectoryRejected('unknown_tool');
    expect(f.snapshot().balanced).toBe(false); // 2 documents still in flight
    expect(f.snapshot().documents.inFlight).toBe(2);
    f.abandoned(1);
    f.dropped('duplicate');
    const s = f.snapshot();
    expect(s.balanced).toBe(true);
    expect(s.documents.dropped).toEqual({ irrelevant: 1, duplicate: 1 });
    expect(formatFunnel(s)).toContain('books balance');
    expect(formatFunnel(s)).toContain('abandoned 1');
  });

  it('does not balance when trajectories are unaccounted for', () => {
    const f = new Funnel();
    f.received(1);
    f.written(1);
    f.trajectoryGenerated(2); // one written, one vanished
    expect(f.snapshot().balanced).toBe(false);
    expect(formatFunnel(f.snapshot())).toContain('DO NOT BALANCE');
  });
});
