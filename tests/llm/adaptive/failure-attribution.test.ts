import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EndpointConfig } from '../../../src/config/schema.js';
import { errorCode, isInfrastructureFailure, type GemflowError } from '../../../src/errors.js';
import type { AdaptiveEvent } from '../../../src/llm/adaptive-controller.js';
import { HttpInferenceClient } from '../../../src/llm/client.js';
import { ErrorRateMonitor } from '../../../src/llm/error-rate.js';
import { estimatePromptTokens, estimateTokens } from '../../../src/llm/index.js';
import { loopStall } from '../../../src/llm/loop-stall.js';
import { eventually, Harness, request } from './harness.js';

/** Blocks gemflow's event loop (and the in-process simulators with it) for `ms`, like a CPU-bound burst. */
function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

/** A port on 127.0.0.1 with nothing listening (connections are refused). */
async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

const breakerEvents = (events: AdaptiveEvent[], state: string) => events.filter((e) => e.kind === 'breaker' && e.state === state);

describe('failure attribution: only the servers own failures count against a replica', () => {
  const h = new Harness();
  afterEach(() => h.cleanup());

  it('measures a stall of its own event loop', async () => {
    const sampler = loopStall();
    await new Promise((r) => setTimeout(r, 120)); // the sampler is running
    const from = performance.now();
    busyWait(400);
    // Still inside the stall's aftermath (the sampler has not run yet): already counted.
    expect(sampler.stalledMs(from)).toBeGreaterThan(300);
    await new Promise((r) => setTimeout(r, 100));
    expect(sampler.stalledMs(from)).toBeGreaterThan(300);
  });

  it('ejects no replica and fails no call when its own event loop stalls for 3 s while replicas are healthy', async () => {
    const sims = [await h.sim({ timeScale: 0.2 }), await h.sim({ timeScale: 0.2 })];
    const events: AdaptiveEvent[] = [];
    // Timeouts shorter than the stall: without attribution, every probe and call in flight would fail.
    const c = h.client(sims, {
      timeoutMs: 2000,
      adaptiveOptions: {
        onEvent: (e) => events.push(e),
        breaker: { healthIntervalMs: 100, healthTimeoutMs: 500, healthFailureThreshold: 2, hangMinMs: 1000, hangLatencyFactor: 3 },
      },
    });
    const load = h.load(c, 10);
    await eventually('calls complete on both replicas', () => sims.every((s) => load.results.some((r) => r.endpoint === s.url)));
    busyWait(3000);
    const after = load.results.length;
    await eventually('40 more calls complete', () => load.results.length >= after + 40, 30_000);
    await load.stop();
    expect(load.errors.map((e) => errorCode(e))).toEqual([]);
    expect(breakerEvents(events, 'open')).toEqual([]);
    expect(c.replicas().map((r) => r.state)).toEqual(['closed', 'closed']);
    expect(c.usage().probe!.errors.llm_timeout ?? 0).toBe(0);
  });

  it('never ejects the only replica for 20% 429/503 from the first request; every call succeeds', async () => {
    // Failures come back at once, successes take hundreds of ms: the first burst is all failures.
    const sim = await h.sim({ faults: { rates: { rate_limit: 0.1, unavailable: 0.1 }, retryAfterSec: 0 } });
    const events: AdaptiveEvent[] = [];
    const c = h.client([sim], { maxRetries: 10, retryBaseMs: 20, endpoint: { initialConcurrency: 64 }, adaptiveOptions: { onEvent: (e) => events.push(e) } });
    const results = await Promise.all(Array.from({ length: 80 }, (_, i) => c.chat(request(`flaky-${i}`))));
    expect(results).toHaveLength(80);
    expect(results.every((r) => r.endpoint === sim.url)).toBe(true);
    const errors = c.usage().probe!.errors;
    expect((errors.llm_rate_limited ?? 0) + (errors.llm_unavailable ?? 0)).toBeGreaterThan(0); // the faults did happen
    expect(breakerEvents(events, 'open')).toEqual([]);
    expect(c.replicas()[0]!.state).toBe('closed');
  });

  it('moves the requests of a hanging replica to the other within seconds and ejects it', async () => {
    // ~24 tokens at 10 tokens/s: each call is in flight for a few seconds.
    const [wedged, healthy] = [await h.sim({ maxDecodeTokensPerSecPerSeq: 10 }), await h.sim({ maxDecodeTokensPerSecPerSeq: 10 })];
    const events: AdaptiveEvent[] = [];
    const c = h.client([wedged!, healthy!], {
      // Far beyond this test's own 60 s limit: the calls must not wait for it.
      timeoutMs: 120_000,
      endpoint: { initialConcurrency: 20 },
      adaptiveOptions: { onEvent: (e) => events.push(e), breaker: { healthIntervalMs: 300, healthTimeoutMs: 1000, healthFailureThreshold: 2, hangMinMs: 2000 } },
    });
    await c.start();
    const ep = c.endpoints()[0]!;
    const calls = Array.from({ length: 30 }, (_, i) => c.chat(request(`hang-${i}`)));
    await eventually('the replica about to hang has calls in flight', () => ep.inFlight >= 5);
    wedged!.setFaults({ hung: true }); // chat (in flight or new), /health, /v1/models, /metrics: nothing answers
    const results = await Promise.all(calls);
    expect(results).toHaveLength(30);
    // None completed on the wedged replica after it hung: its calls were cancelled and rerouted.
    expect(results.filter((r) => r.endpoint === healthy!.url).length).toBeGreaterThanOrEqual(5);
    expect(c.usage().probe!.errors.llm_stalled ?? 0).toBeGreaterThanOrEqual(1);
    expect(ep.ejected).toBe(true);
    expect(breakerEvents(events, 'open')[0]!.reason).toMatch(/hanging: no answer|failed health checks \(last: timeout/);
  }, 60_000);

  it('names the cause when the endpoint is down (connection refused), in call errors and in the early stop', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    // Without a configured model, discovery fails with the cause.
    const discovering = h.client([], { endpoints: [EndpointConfig.parse({ url })], maxRetries: 1, retryBaseMs: 5 });
    const startError = await discovering.start().catch((e: unknown) => e);
    expect(startError).toMatchObject({ code: 'llm_exhausted', detail: { lastCode: 'llm_network', errno: 'ECONNREFUSED' } });
    expect((startError as Error).message).toMatch(/connection refused \(ECONNREFUSED\)/);

    const c = h.client([], {
      endpoints: [EndpointConfig.parse({ url, model: 'test-model' })],
      maxRetries: 2,
      retryBaseMs: 5,
      noReplicaWaitMs: 300,
      adaptiveOptions: { breaker: { healthIntervalMs: 100, probeBaseMs: 60_000, probeMaxMs: 60_000 } },
    });
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => c.chat(request(`down-${i}`)).then(() => undefined, (e: unknown) => e as GemflowError)));
    expect(outcomes.every((e) => e !== undefined && isInfrastructureFailure(e))).toBe(true);
    for (const e of outcomes) expect(e!.message).toMatch(/connection refused \(ECONNREFUSED\)/);
    expect(new Set(outcomes.map((e) => e!.code))).toEqual(expect.any(Set));
    expect(outcomes.map((e) => e!.code).every((code) => code === 'llm_exhausted' || code === 'llm_no_healthy_endpoint')).toBe(true);

    // The early stop names the cause, whether it gets the error or only the code.
    const withErrors = new ErrorRateMonitor(20, 0.5);
    expect(() => outcomes.forEach((e) => withErrors.record(false, e!.code, e))).toThrow(/inference cluster unusable: .*last cause: .*connection refused \(ECONNREFUSED\)/);
    const withCodes = new ErrorRateMonitor(20, 0.5, { lastCause: () => c.lastFailure });
    expect(() => outcomes.forEach((e) => withCodes.record(false, e!.code))).toThrow(/ECONNREFUSED/);
  });

  it('answers a request over the context length with llm_context_too_long, without retrying or penalising the replica', async () => {
    const sim = await h.sim({ maxModelLen: 2000, timeScale: 0.1 });
    const events: AdaptiveEvent[] = [];
    const c = h.client([sim], { adaptiveOptions: { onEvent: (e) => events.push(e) } });
    await c.start();
    expect(c.contextTokens).toBe(2000); // from /v1/models max_model_len

    const long = { ...request('long'), messages: [{ role: 'user' as const, content: 'word '.repeat(1700) }] };
    const results = await Promise.all(Array.from({ length: 12 }, () => c.chat(long).catch((e: unknown) => e as GemflowError)));
    for (const err of results) {
      expect(err).toMatchObject({ code: 'llm_context_too_long', retriable: false, detail: { status: 400 } });
      expect(isInfrastructureFailure(err)).toBe(false); // the document's fault: dead-lettered, not retried
    }
    const message = (results[0] as GemflowError).message;
    expect(message).toContain("This model's maximum context length is 2000 tokens");
    const inMessages = Number(/\((\d+) in the messages/.exec(message)![1]);
    expect(estimatePromptTokens(long.messages)).toBeGreaterThanOrEqual(inMessages);
    expect(sim.stats().requests.total).toBe(12); // one attempt each
    expect(breakerEvents(events, 'open')).toEqual([]);
    expect((await c.chat(request('short'))).endpoint).toBe(sim.url);

    // An endpoint's configured maxModelLen wins over discovery; the client reports the smallest.
    const both = h.client([], {
      endpoints: [EndpointConfig.parse({ url: sim.url, maxModelLen: 1000 }), EndpointConfig.parse({ url: (await h.sim({ maxModelLen: 4096 })).url })],
    });
    await both.start();
    expect(both.contextTokens).toBe(1000);
  });

  it('estimates tokens conservatively', () => {
    expect(estimateTokens('')).toBe(0);
    for (const text of ['a', 'hello world', 'x'.repeat(10_001), 'é'.repeat(999), '日本語のテキスト'.repeat(50), '🙂'.repeat(77)]) {
      expect(estimateTokens(text)).toBeGreaterThanOrEqual(Math.ceil(text.length / 4)); // the simulator's count
    }
    // Around 4 bytes per token for English prose with a real BPE tokenizer: the estimate is above it, not wildly.
    const prose = 'The quick brown fox jumps over the lazy dog. '.repeat(100);
    expect(estimateTokens(prose)).toBeGreaterThan(prose.length / 4);
    expect(estimateTokens(prose)).toBeLessThan(prose.length / 2);
  });
});

export { HttpInferenceClient };
