import { afterEach, describe, expect, it } from 'vitest';
import { requeueCount, type AdaptiveEvent } from '../../src/llm/adaptive-controller.js';
import { eventually, Harness, request } from './adaptive/harness.js';

const h = new Harness();
afterEach(() => h.cleanup());

const o = { maxQueueWaitMs: 1000 };

describe('requeueCount: what a replica whose queue is too long gives back', () => {
  it('gives nothing back without a queue, with a queue that drains within twice the target wait, or before anything completed', () => {
    expect(requeueCount({ inFlight: 40, completionsPerSec: 2, gauges: { running: 40, waiting: 0 } }, o).requests).toBe(0);
    // 4 waiting at 2 completions/s: the newest starts in ~2 s, within 2 x 1 s.
    expect(requeueCount({ inFlight: 44, completionsPerSec: 2, gauges: { running: 40, waiting: 4 } }, o).requests).toBe(0);
    expect(requeueCount({ inFlight: 44, completionsPerSec: 0, gauges: { running: 40, waiting: 30 } }, o).requests).toBe(0);
    expect(requeueCount({ inFlight: 44, completionsPerSec: 2, gauges: undefined }, o).requests).toBe(0);
  });

  it('alone on the replica, gives back all but what starts within the target wait', () => {
    // 32 running, 2 waiting, 0.64 completions/s (a cut replica): the newest waits ~3 s; none starts within 1 s.
    expect(requeueCount({ inFlight: 34, completionsPerSec: 0.64, gauges: { running: 32, waiting: 2 } }, o).requests).toBe(2);
    // 90 running, 60 waiting, 1.8/s: one starts within 1 s, the other 59 go back.
    expect(requeueCount({ inFlight: 150, completionsPerSec: 1.8, gauges: { running: 90, waiting: 60 } }, o).requests).toBe(59);
    // The same gauges read 5 s ago: 9 of the 60 have started since; 50 go back.
    expect(requeueCount({ inFlight: 150, completionsPerSec: 1.8, gauges: { running: 90, waiting: 60 }, sinceScrapeMs: 5000 }, o).requests).toBe(50);
    // 2 waiting at 0.64/s, read 1.5 s ago: about one left, starting within 2 s: none.
    expect(requeueCount({ inFlight: 34, completionsPerSec: 0.64, gauges: { running: 32, waiting: 2 }, sinceScrapeMs: 1500 }, o).requests).toBe(0);
  });

  it('with other clients, gives back its share of the excess (N clients give it back once between them)', () => {
    // A quarter of what the server holds is ours: the server completes 4 x ours.
    const x = { inFlight: 30, completionsPerSec: 0.45, gauges: { running: 90, waiting: 30 } };
    // rate 1.8/s: 30 / 1.8 = 16.7 s > 2 s; 30 - 1 = 29 in excess, ours a quarter: 7.
    expect(requeueCount(x, o).requests).toBe(7);
  });
});

describe('Endpoint.requeueNewest on a real simulator', () => {
  it('takes the newest requests back from a replica whose queue holds them, sends them again on another replica, and the simulator counts their wait', async () => {
    // Replica A runs 2 at a time, slowly; B is free. Every call goes to A first (B's limit is 1 and ties go to A).
    const a = await h.sim({ maxRunningSeqs: 2, maxDecodeTokensPerSecPerSeq: 20 });
    const b = await h.sim();
    const c = h.client([a, b], { adaptive: false, endpoint: { initialConcurrency: 8, maxConcurrency: 8 } });
    await c.start();
    const [epA, epB] = c.endpoints();
    epB!.limit = 1;
    // One by one, so that the server's arrival order is the order they were sent in.
    const calls = [];
    for (let i = 0; i < 8; i++) {
      calls.push(c.chat(request(`r${i}`)));
      await eventually(`call ${i} arrived at A`, () => a.stats().requests.total === i + 1);
    }
    await eventually('eight at A, six of them in its queue', () => epA!.inFlight === 8 && a.stats().waiting === 6);
    epB!.limit = 8;
    // None was sent within the last 0 ms: none is taken.
    expect(epA!.requeueNewest(4, 0, 'test')).toBe(0);
    expect(epA!.requeueNewest(4, 60_000, 'test')).toBe(4);
    const results = await Promise.all(calls);
    expect(results).toHaveLength(8);
    const usage = c.usage().probe!;
    expect(usage.requeued).toBe(4);
    expect(usage.errors).toEqual({}); // sent again, not failed
    // The four went to B (a requeued call avoids the replica that held it while another is routable).
    expect(b.stats().requests.byStatus['200']).toBe(4);
    expect(a.stats().requests.byStatus['200']).toBe(4);
    const sa = a.stats();
    expect(sa.abandonedWaiting).toBe(4);
    expect(sa.abortedGenerations).toBe(4); // none was running: no generation was cut off
    // Their waits are counted with the completed requests' (4 completed + 4 abandoned).
    expect(sa.queueWaitSec.count).toBe(8);
    expect(epA!.inFlight + epB!.inFlight).toBe(0);
  });
});

describe('the adaptive controller takes back what a cut replica queues', () => {
  for (const requeue of [true, false]) {
    it(`${requeue ? 'takes' : 'with requeue: false, never takes'} requests back from a replica whose max sequences were cut under a queue`, async () => {
      // Two replicas; A's batch is cut from 16 to 2 under load (as in the benchmark's capacity-change
      // scenario), leaving requests queued there that the limit cannot recall.
      const a = await h.sim({ maxRunningSeqs: 16, maxDecodeTokensPerSecPerSeq: 20 });
      const b = await h.sim({ maxRunningSeqs: 16, maxDecodeTokensPerSecPerSeq: 20 });
      const events: AdaptiveEvent[] = [];
      const c = h.client([a, b], { endpoint: { initialConcurrency: 16 }, adaptiveOptions: { intervalMs: 100, scrapeIntervalMs: 50, requeue, onEvent: (e) => events.push(e) } });
      await c.start();
      const load = h.load(c, 32);
      await eventually('both replicas busy', () => a.stats().running >= 8 && b.stats().running >= 8);
      a.configure({ maxRunningSeqs: 2 });
      await eventually('calls completed after the cut', () => load.results.length >= 120, 60_000);
      await load.stop();
      expect(load.errors).toEqual([]);
      const taken = events.filter((e) => e.kind === 'requeue').reduce((n, e) => n + e.limit, 0);
      if (requeue) {
        expect(taken).toBeGreaterThan(0);
        expect(c.usage().probe!.requeued).toBe(taken);
        // Each left A's queue before it was admitted, and its wait there is in A's figures.
        expect(a.stats().abandonedWaiting).toBeGreaterThan(0);
      } else {
        expect(taken).toBe(0);
        expect(c.usage().probe!.requeued).toBe(0);
        expect(a.stats().abandonedWaiting).toBe(0);
      }
    }, 90_000);
  }
});
