import { describe, expect, it } from 'vitest';
import { GemflowError } from '../../src/errors.js';
import { backoffMs, parseRetryAfter, sleep, withRetries, type RetryInfo } from '../../src/llm/retry.js';

const policy = { maxRetries: 3, baseMs: 100, maxMs: 1000 };

describe('retry', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter(['0'], now)).toBe(0);
    expect(parseRetryAfter('0.02', now)).toBe(20); // a fraction (the time-scaled simulator sends one)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('backs off exponentially with full jitter, capped', () => {
    expect(backoffMs(0, policy, () => 0.999)).toBe(99);
    expect(backoffMs(2, policy, () => 0.5)).toBe(200);
    expect(backoffMs(10, policy, () => 0.999)).toBe(999);
    expect(backoffMs(3, policy, () => 0)).toBe(0);
  });

  it('retries retriable errors, waiting Retry-After when given, and gives up with llm_exhausted', async () => {
    const retries: RetryInfo[] = [];
    let attempts = 0;
    const err = await withRetries(
      async () => {
        attempts++;
        throw new GemflowError('llm_rate_limited', 'busy', { retriable: true, detail: { retryAfterMs: attempts === 1 ? 5 : undefined } });
      },
      { maxRetries: 2, baseMs: 1, maxMs: 50 },
      { onRetry: (i) => retries.push(i), random: () => 0.5 },
    ).catch((e: unknown) => e);
    expect(attempts).toBe(3);
    expect(retries.map((r) => [r.retry, r.delayMs])).toEqual([[1, 5], [2, 1]]);
    expect(err).toMatchObject({ code: 'llm_exhausted', retriable: false, cause: { code: 'llm_rate_limited' }, detail: { attempts: 3 } });
  });

  it('does not retry errors that are not retriable', async () => {
    let attempts = 0;
    const run = withRetries(async () => {
      attempts++;
      throw new GemflowError('llm_bad_request', 'no', { retriable: false });
    }, policy);
    await expect(run).rejects.toMatchObject({ code: 'llm_bad_request' });
    expect(attempts).toBe(1);
  });

  it('stops a backoff wait when the signal aborts', async () => {
    const ac = new AbortController();
    const wait = sleep(60_000, ac.signal);
    ac.abort();
    await expect(wait).rejects.toMatchObject({ code: 'llm_aborted' });
  });
});
