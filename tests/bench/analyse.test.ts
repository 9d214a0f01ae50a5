import { describe, expect, it } from 'vitest';
import { capacityBetween, queueWaitBetween, steadyState, type Sample } from '../../bench/analyse.js';
import { capacityTimeline, EVENT_SHARES, scenarios, type FiredEvent } from '../../bench/scenarios.js';
import { REPLICA_MODEL } from '../../bench/sim-process.js';

const sample = (simSec: number, generatedTokens: number, queueBuckets: Array<[number, number]>): Sample => ({
  simSec,
  wallMs: simSec * 10,
  generatedTokens,
  running: 0,
  waiting: 0,
  queueBuckets,
  ttftBuckets: queueBuckets,
  engineCpuMs: simSec,
  simCpuMs: simSec / 2,
  machineBusyMs: simSec,
  machineTotalMs: simSec * 20,
});

describe('steady-state figures', () => {
  it('takes the middle 80% of completions and the tokens generated meanwhile', () => {
    // 100 tokens/s for 100 s; documents complete every second from t=1, each 5 s long.
    const samples = Array.from({ length: 101 }, (_, t) => sample(t, 100 * t, [[2, t], [Infinity, t]]));
    const docs = Array.from({ length: 100 }, (_, i) => ({ startSec: i + 1 - 5, endSec: i + 1, worker: i % 2 }));
    const s = steadyState(docs, samples, 200)!;
    expect(s.startSec).toBe(11);
    expect(s.endSec).toBe(90);
    expect(s.docs).toBe(79);
    expect(s.utilisation).toBeCloseTo(0.5);
    expect(s.latencyP99Sec).toBe(5);
    expect(s.cpu.engineCores).toBeCloseTo(0.1);
    expect(s.queueWaitWithin2sShare).toBe(1);
    expect(s.docsPerWorker).toEqual([39, 40]);
  });

  it('places the window of a run stopped at its end as the whole run would have had it', () => {
    // Documents complete every second from t=1, each 20 s long, the last starting at 80. The whole run:
    const samples = Array.from({ length: 101 }, (_, t) => sample(t, 100 * t, [[Infinity, 0]]));
    const docs = Array.from({ length: 100 }, (_, i) => ({ startSec: Math.min(i + 1 - 20, 80), endSec: i + 1, worker: 0 }));
    const whole = steadyState(docs, samples, 200)!;
    // The same run stopped at 85: the 15 documents still in flight have a start and no end.
    const done = docs.filter((d) => d.endSec <= 85);
    const unfinished = docs.filter((d) => d.endSec > 85).map((d) => ({ startSec: d.startSec, worker: d.worker }));
    const cut = steadyState(done, samples.filter((x) => x.simSec <= 86), 200, 200, unfinished)!;
    expect([cut.startSec, cut.endSec, cut.docs, cut.latencyP99Sec]).toEqual([whole.startSec, whole.endSec, whole.docs, whole.latencyP99Sec]);
    expect(cut.endSec).toBe(80);
    expect(cut.utilisation).toBeCloseTo(whole.utilisation);
    // Counted as documents only (not as ends), the percentiles would move the start earlier.
    expect(steadyState(done, samples, 200)!.startSec).toBeLessThan(whole.startSec);
  });

  it('ends the window when the corpus ran out (the last document taking a slot), the earliest of any worker', () => {
    // 100 tokens/s; documents complete every second from t=1, each 20 s long: worker 0's last one took its slot at 60, worker 1's at 70.
    const samples = Array.from({ length: 101 }, (_, t) => sample(t, 100 * t, [[Infinity, 0]]));
    const docs = Array.from({ length: 100 }, (_, i) => ({ startSec: Math.min(i + 1 - 20, i % 2 === 0 ? 60 : 70), endSec: i + 1, worker: i % 2 }));
    const s = steadyState(docs, samples, 200, 400)!;
    expect(s.startSec).toBe(11);
    expect(s.endSec).toBe(60);
    expect(s.utilisation).toBeCloseTo(0.5);
    expect(s.nominalUtilisation).toBeCloseTo(0.25);
  });

  it('measures utilisation against the capacity the cluster had over the window', () => {
    // 100 tokens/s throughout; capacity 200 tokens/s until t=50, then 100 (a replica lost).
    const samples = Array.from({ length: 101 }, (_, t) => sample(t, 100 * t, [[Infinity, 0]]));
    const docs = Array.from({ length: 100 }, (_, i) => ({ startSec: i, endSec: i + 1, worker: 0 }));
    const timeline: Array<[number, number]> = [[0, 200], [50, 100]];
    expect(capacityBetween(timeline, 40, 60)).toBe(10 * 200 + 10 * 100);
    const s = steadyState(docs, samples, timeline)!;
    // window 11..90: 79 s x 100 tokens over 39 s x 200 + 40 s x 100
    expect(s.utilisation).toBeCloseTo(7900 / (39 * 200 + 40 * 100));
    expect(s.capacityTokensPerSec).toBeCloseTo((39 * 200 + 40 * 100) / 79);
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

describe('scenario capacity', () => {
  const m = REPLICA_MODEL; // 2500 tok/s per replica
  const byName = Object.fromEntries(scenarios(m, 4).map((s) => [s.name, s]));

  // The events as a run recorded them: at the simulated times they happened, whatever their share.
  const firedAt = (name: string, ...times: number[]): FiredEvent[] => byName[name]!.events.map((e, i) => ({ ...e, atSec: times[i]!, answers: 0 }));

  it('follows the scenario and the times its events actually happened: a slow replica, a lost one, a cut one', () => {
    expect(capacityTimeline(byName['homogeneous']!, m, 4, [])).toEqual([[0, 10_000]]);
    expect(capacityTimeline(byName['heterogeneous']!, m, 4, [])[0]![1]).toBeCloseTo(7500 + 2500 / 3);
    expect(byName['lost-replica']!.events.map((e) => e.atShare)).toEqual([EVENT_SHARES.at, EVENT_SHARES.back]);
    expect(capacityTimeline(byName['lost-replica']!, m, 4, firedAt('lost-replica', 137.5, 301))).toEqual([[0, 10_000], [137.5, 7500], [301, 10_000]]);
    // Only the events that happened count: a run that never reached the second share stays down.
    expect(capacityTimeline(byName['lost-replica']!, m, 4, firedAt('lost-replica', 90).slice(0, 1))).toEqual([[0, 10_000], [90, 7500]]);
    // max sequences 256 -> 32: min(2500, 32 x 40) = 1280 tok/s on that replica
    expect(capacityTimeline(byName['capacity-change']!, m, 4, firedAt('capacity-change', 212))).toEqual([[0, 10_000], [212, 7500 + 1280]]);
    expect(capacityTimeline(byName['gateway-faults']!, m, 4, [])).toEqual([[0, 10_000]]);
  });
});
