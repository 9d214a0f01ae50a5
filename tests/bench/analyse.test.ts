import { describe, expect, it } from 'vitest';
import { queueWaitBetween, steadyState, type Sample } from '../../bench/analyse.js';

const sample = (simSec: number, generatedTokens: number, queueBuckets: Array<[number, number]>): Sample => ({
  simSec,
  wallMs: simSec * 10,
  generatedTokens,
  running: 0,
  waiting: 0,
  queueBuckets,
  engineCpuMs: simSec,
  simCpuMs: simSec / 2,
  machineBusyMs: simSec,
  machineTotalMs: simSec * 20,
  rssBytes: 0,
});

describe('steady-state figures', () => {
  it('takes the middle 80% of completions and the tokens generated meanwhile', () => {
    // 100 tokens/s for 100 s; documents complete every second from t=1, each 5 s long.
    const samples = Array.from({ length: 101 }, (_, t) => sample(t, 100 * t, [[2, t], [Infinity, t]]));
    const docs = Array.from({ length: 100 }, (_, i) => ({ startSec: i + 1 - 5, endSec: i + 1 }));
    const s = steadyState(docs, samples, 200)!;
    expect(s.startSec).toBe(11);
    expect(s.endSec).toBe(90);
    expect(s.docs).toBe(79);
    expect(s.utilisation).toBeCloseTo(0.5);
    expect(s.latencyP99Sec).toBe(5);
    expect(s.cpu.engineCores).toBeCloseTo(0.1);
    expect(s.queueWaitWithin2sShare).toBe(1);
  });

  it('reads the p99 queue wait as the bucket that holds it', () => {
    const a = sample(0, 0, [[1, 10], [2, 10], [5, 10], [Infinity, 10]]);
    const b = sample(10, 0, [[1, 90], [2, 100], [5, 110], [Infinity, 110]]);
    const q = queueWaitBetween(a, b);
    expect(q.count).toBe(100);
    expect(q.p99UpperBoundSec).toBe(5);
    expect(q.within2sShare).toBe(0.9);
  });
});
