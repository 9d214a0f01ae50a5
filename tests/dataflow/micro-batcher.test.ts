import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/dataflow/micro-batcher.js';
import { Semaphore } from '../../src/dataflow/semaphore.js';

describe('MicroBatcher', () => {
  it('cuts full batches at once and partial ones after the linger, each item getting its own result', async () => {
    const batches: number[][] = [];
    const b = new MicroBatcher(async (xs: number[]) => (batches.push(xs), xs.map((x) => x * 2)), { batchSize: 3, lingerMs: 5, maxInFlight: 2 });
    const results = await Promise.all([1, 2, 3, 4].map((x) => b.submit(x)));
    expect(results).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('keeps at most maxInFlight batches running and rejects every item of a failed batch', async () => {
    let running = 0;
    let peak = 0;
    const b = new MicroBatcher(
      async (xs: number[]) => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (xs.includes(13)) throw new Error('bad batch');
        return xs;
      },
      { batchSize: 2, lingerMs: 1, maxInFlight: 2 },
    );
    const settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => b.submit(i)));
    expect(peak).toBe(2);
    expect(settled.filter((s) => s.status === 'rejected').length).toBe(2); // 12 and 13 share a batch
  });
});

describe('Semaphore', () => {
  it('hands permits out in FIFO order and honours abort while waiting', async () => {
    const s = new Semaphore(1);
    await s.acquire();
    const order: number[] = [];
    const a = s.acquire().then(() => order.push(1));
    const ctl = new AbortController();
    const b = s.acquire(ctl.signal).catch(() => order.push(-2));
    const c = s.acquire().then(() => order.push(3));
    ctl.abort(new Error('stop'));
    await b;
    s.release();
    await a;
    s.release();
    await c;
    expect(order).toEqual([-2, 1, 3]);
    expect(s.waiting).toBe(0);
  });
});
