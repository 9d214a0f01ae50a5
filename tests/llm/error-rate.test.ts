import { describe, expect, it } from 'vitest';
import { GemflowError } from '../../src/errors.js';
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

  it('counts only failures of the cluster: the document\'s own failures are answered calls, aborted calls are not counted', () => {
    const m = new ErrorRateMonitor(20, 0.5);
    for (let i = 0; i < 100; i++) expect(() => m.record(false, i % 2 ? 'llm_invalid_output' : 'llm_context_too_long')).not.toThrow();
    for (let i = 0; i < 100; i++) expect(() => m.record(false, 'llm_aborted')).not.toThrow();
    for (let i = 0; i < 10; i++) m.record(false, 'llm_timeout'); // 10 of the last 20
    expect(() => m.record(false, 'llm_timeout')).toThrow(expect.objectContaining({ code: 'llm_cluster_unusable' }));
  });

  it('names the underlying cause: from the error, or from lastCause when it only gets the code', () => {
    const cause = new GemflowError('llm_exhausted', 'LLM call failed after 3 attempts; last error llm_network: http://127.0.0.1:9: connection refused (ECONNREFUSED)');
    const withError = new ErrorRateMonitor(20, 0.5);
    let err: unknown;
    try {
      for (let i = 0; i < 20; i++) withError.record(false, 'llm_exhausted', cause);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/llm_exhausted: \d+\); last cause: .*connection refused \(ECONNREFUSED\)/);
    expect((err as GemflowError).detail).toMatchObject({ lastCause: cause.message });
    const withCallback = new ErrorRateMonitor(20, 0.5, { lastCause: () => cause });
    expect(() => {
      for (let i = 0; i < 20; i++) withCallback.record(false, 'llm_no_healthy_endpoint');
    }).toThrow(/ECONNREFUSED/);
  });
});
