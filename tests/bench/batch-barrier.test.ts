import { describe, expect, it } from 'vitest';
import { BatchBarrier } from '../../bench/batch-barrier.js';
import type { Envelope } from '../../src/envelope.js';

const doc = (i: number) => ({ id: `d${i}`, text: `doc ${i}` }) as Envelope;

describe('BatchBarrier', () => {
  it('starts a batch only when the previous one has finished, and lets a batch go on together', async () => {
    const events: string[] = [];
    const work = (d: Envelope) => async () => {
      events.push(`start ${d.id}`);
      await new Promise((r) => setTimeout(r, d.id === 'd0' ? 30 : 5));
      events.push(`end ${d.id}`);
    };
    const b = new BatchBarrier({ batchSize: 2, lingerMs: 10 });
    const answered: string[] = [];
    const all = [0, 1, 2, 3, 4].map((i) => b.admit(doc(i), work(doc(i))).then(() => answered.push(`d${i}`)));
    await Promise.all(all);
    // d0 is the slow one of batch 1: d2 (batch 2) starts only after it ended.
    expect(events.indexOf('start d2')).toBeGreaterThan(events.indexOf('end d0'));
    expect(events.indexOf('start d4')).toBeGreaterThan(events.indexOf('end d3'));
    // d1 finished long before d0 but goes on with its batch.
    expect(answered.slice(0, 2).sort()).toEqual(['d0', 'd1']);
    // The partial last batch went out after the linger time.
    expect(answered.at(-1)).toBe('d4');
  });
});
