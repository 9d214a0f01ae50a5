import { describe, expect, it } from 'vitest';
import { calibrateTimeScale } from '../../bench/calibrate.js';
import type { StrategyResult } from '../../bench/strategy-result.js';

const probe = (engineCores: number, simulatorCores: number | undefined): StrategyResult =>
  ({ steady: { cpu: { engineCores, simulatorCores, machineBusyShare: undefined } } }) as unknown as StrategyResult;

describe('calibrateTimeScale', () => {
  it('picks the smallest scale (steps of 0.001, not below the floor) at which the rig uses at most the cores allowed', () => {
    // The machine the figures were first taken on: 0.41 + 0.61 cores at 0.02 = 20.4 ms of CPU per simulated
    // second; probed at 0.08 that is a quarter of the cores.
    const ref = calibrateTimeScale(probe(0.1025, 0.1525), 0.08, 1, 0.02);
    expect(ref.cpuMsPerSimSec).toBeCloseTo(20.4, 6);
    expect(ref.timeScale).toBe(0.021); // 0.0204 rounded up
    expect(calibrateTimeScale(probe(0.1025, 0.1525), 0.08, 1.1, 0.02).timeScale).toBe(0.02);
    // A machine 2.1x slower needs 2.1x the wall time per simulated second.
    expect(calibrateTimeScale(probe(0.2153, 0.3203), 0.08, 1, 0.02).timeScale).toBe(0.043); // 42.8 ms per simulated second
    // A fast machine is not run faster than the default.
    expect(calibrateTimeScale(probe(0.01, 0.01), 0.08, 1, 0.02).timeScale).toBe(0.02);
    // An exact step stays that step.
    expect(calibrateTimeScale(probe(0.25, 0.25), 0.08, 1, 0.02).timeScale).toBe(0.04);
  });

  it('keeps the steal seen during the probe', () => {
    const p = { steady: { cpu: { engineCores: 0.25, simulatorCores: 0.25, machineBusyShare: 0.6, machineStealShare: 0.3 } } } as unknown as StrategyResult;
    const c = calibrateTimeScale(p, 0.08, 2 * 0.5 * (1 - 0.3), 0.02);
    expect(c.stealShare).toBe(0.3);
    expect(c.timeScale).toBe(0.058); // 40 ms per simulated second on 0.7 cores: 0.0571, rounded up
  });

  it('refuses a probe without a steady window or simulator CPU figures', () => {
    expect(() => calibrateTimeScale({ steady: undefined } as unknown as StrategyResult, 0.08, 1, 0.02)).toThrow(/calibration/);
    expect(() => calibrateTimeScale(probe(0.2, undefined), 0.08, 1, 0.02)).toThrow(/calibration/);
  });
});
