import { describe, expect, it } from 'vitest';
import { ErrorRateMonitor } from '../../src/llm/error-rate.js';

describe('ErrorRateMonitor', () => {
  it('throws llm_cluster_unusable once failures pass the rate over the window, naming the codes', () => {
    const m = new ErrorRateMonitor(20, 0.5);
    for (let i = 0; i < 10; i++) m.record(true);
    for (let i = 0; i < 10; i++) m.record(false, 'llm_exhausted'); // 10/20 = 0.5: not above
    let err: unknown;
    try {
      m.record(false, 'llm_exhausted'); // the window slides: 11 of 20 failed
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'llm_cluster_unusable', retriable: false });
    expect((err as Error).message).toContain('llm_exhausted');
  });

  it('never stops on a short burst before the window has enough calls, nor on a success', () => {
    const m = new ErrorRateMonitor(200, 0.5);
    for (let i = 0; i < 19; i++) m.record(false, 'llm_timeout');
    expect(() => m.record(true)).not.toThrow();
    const healthy = new ErrorRateMonitor(50, 0.5);
    for (let i = 0; i < 500; i++) expect(() => healthy.record(i % 3 !== 0, 'llm_timeout')).not.toThrow();
  });
});
