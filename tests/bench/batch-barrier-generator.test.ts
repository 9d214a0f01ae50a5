import { describe, expect, it } from 'vitest';
import { BatchBarrierGenerator } from '../../bench/batch-barrier-generator.js';
import type { GenerateResult } from '../../src/dataflow/generate.js';
import type { Generator } from '../../src/dataflow/pipeline.js';
import type { Envelope } from '../../src/envelope.js';

const doc = (i: number) => ({ id: `d${i}`, text: `doc ${i}` }) as Envelope;

/** An inner generator whose documents finish after a delay that depends on the document. */
class Recording implements Generator {
  readonly events: string[] = [];
  async generate(d: Envelope): Promise<GenerateResult> {
    this.events.push(`start ${d.id}`);
    await new Promise((r) => setTimeout(r, d.id === 'd0' ? 30 : 5));
    this.events.push(`end ${d.id}`);
    return { domain: d.id, outcomes: [] };
  }
}

describe('BatchBarrierGenerator', () => {
  it('starts a batch only when the previous one has finished, and answers a batch together', async () => {
    const inner = new Recording();
    const g = new BatchBarrierGenerator(inner, { batchSize: 2, lingerMs: 10 });
    const signal = new AbortController().signal;
    const answered: string[] = [];
    const all = [0, 1, 2, 3, 4].map((i) => g.generate(doc(i), signal).then((r) => answered.push(r.domain)));
    await Promise.all(all);
    // d0 is the slow one of batch 1: d2 (batch 2) starts only after it ended.
    expect(inner.events.indexOf('start d2')).toBeGreaterThan(inner.events.indexOf('end d0'));
    expect(inner.events.indexOf('start d4')).toBeGreaterThan(inner.events.indexOf('end d3'));
    // d1 finished long before d0 but is answered with its batch.
    expect(answered.slice(0, 2).sort()).toEqual(['d0', 'd1']);
    // The partial last batch went out after the linger time.
    expect(answered.at(-1)).toBe('d4');
  });
});
