import { GemflowError } from '../errors.js';
import { onAbort } from '../abort.js';

export interface RetryPolicy {
  /** Retries after the first attempt (0 = try once). */
  maxRetries: number;
  /** Backoff before retry n (0-based) is uniform in [0, min(maxMs, baseMs * 2^n)] ("full jitter"). */
  baseMs: number;
  /** Cap on any single wait, including a server's Retry-After. */
  maxMs: number;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  error: GemflowError;
}

/** Full-jitter exponential backoff before retry `n` (0-based). */
export function backoffMs(n: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** n);
  return Math.floor(random() * ceiling);
}

/**
 * Milliseconds a Retry-After header asks for: delay-seconds ("2") or an HTTP date. Undefined when
 * absent or malformed; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  // Whole seconds as HTTP says; a fraction is taken too (some gateways send one, and so does the
  // simulator at a timeScale below 1).
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Resolves after `ms`, or rejects with `llm_aborted` as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(() => {
      unsubscribe?.();
      resolve();
    }, ms);
    const unsubscribe = signal
      ? onAbort(signal, () => {
          clearTimeout(timer);
          reject(aborted(signal));
        })
      : undefined;
  });
}

export function aborted(signal: AbortSignal): GemflowError {
  return new GemflowError('llm_aborted', 'LLM call aborted by the caller', { cause: signal.reason });
}

/**
 * Runs `attempt(n)` (n = 0, 1, ...) until it succeeds. A retriable GemflowError is retried after a
 * backoff, or after exactly the server's Retry-After (`error.detail.retryAfterMs`) when it sent one,
 * capped at `policy.maxMs`. Other errors are thrown as they are. When the retries are used up the
 * call fails with `llm_exhausted`, its cause the last error.
 */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; onRetry?: (info: RetryInfo) => void; random?: () => number } = {},
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      if (!(e instanceof GemflowError) || !e.retriable) throw e;
      if (n >= policy.maxRetries) {
        throw new GemflowError('llm_exhausted', `LLM call failed after ${n + 1} attempts; last error ${e.code}: ${e.message}`, {
          cause: e,
          detail: { attempts: n + 1, lastCode: e.code, lastMessage: e.message, ...pick(e.detail, ['status', 'errno', 'endpoint']) },
        });
      }
      const retryAfterMs = e.detail?.retryAfterMs;
      const delayMs = Math.min(policy.maxMs, typeof retryAfterMs === 'number' ? retryAfterMs : backoffMs(n, policy, opts.random));
      opts.onRetry?.({ retry: n + 1, delayMs, error: e });
      await sleep(delayMs, opts.signal);
    }
  }
}

function pick(detail: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (detail?.[k] !== undefined) out[k] = detail[k];
  return out;
}
