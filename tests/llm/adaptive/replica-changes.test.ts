import { afterEach, describe, expect, it } from 'vitest';
import { EndpointConfig } from '../../../src/config/schema.js';
import { errorCode, GemflowError } from '../../../src/errors.js';
import { ErrorRateMonitor } from '../../../src/llm/error-rate.js';
import { eventually, Harness, request } from './harness.js';

describe('replicas changing at run time', () => {
  const h = new Harness();
  afterEach(() => h.cleanup());

  it('retries the requests in flight on a replica that dies on the survivors: nothing is lost', async () => {
    // ~24-token answers at 10 tokens/s per sequence: every call is in flight for a few seconds.
    const sims = await Promise.all([0, 1, 2].map(() => h.sim({ maxDecodeTokensPerSecPerSeq: 10 })));
    const [victim, ...survivors] = sims;
    const c = h.client(sims, { endpoint: { initialConcurrency: 100 } });
    const calls = Array.from({ length: 200 }, (_, i) => c.chat(request(`kill-${i}`)).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
    const victimEp = c.endpoints()[0]!;
    await eventually('the victim has work in flight', () => victimEp.inFlight >= 50);
    const inFlightAtKill = victimEp.inFlight;
    await victim!.kill();

    const outcomes = await Promise.all(calls);
    expect(outcomes).toHaveLength(200);
    const failed = outcomes.filter((o) => o instanceof Error);
    expect(failed.map((e) => errorCode(e))).toEqual([]); // the survivors could serve every call
    const byEndpoint = new Map<string, number>();
    for (const o of outcomes) if (!(o instanceof Error)) byEndpoint.set(o.endpoint, (byEndpoint.get(o.endpoint) ?? 0) + 1);
    // The victim answered none of what it had in flight; the survivors took it over.
    expect(byEndpoint.get(victim!.url) ?? 0).toBeLessThanOrEqual(200 - inFlightAtKill);
    expect(survivors.reduce((n, s) => n + (byEndpoint.get(s.url) ?? 0), 0)).toBeGreaterThanOrEqual(inFlightAtKill);
    // Each failed with a network error, or was cancelled and rerouted (llm_stalled) once the breaker ejected the replica.
    const errors = c.usage().probe!.errors;
    expect((errors.llm_network ?? 0) + (errors.llm_stalled ?? 0)).toBeGreaterThanOrEqual(inFlightAtKill);
    await eventually('the dead replica is ejected', () => c.replicas()[0]!.state === 'open');
    expect(victimEp.ejected).toBe(true);
  });

  it('sends work to a replica added mid-run, and none to one removed', async () => {
    const first = await h.sim({ maxRunningSeqs: 16, maxDecodeTokensPerSecPerSeq: 20 });
    const c = h.client([first], { endpoint: { initialConcurrency: 8 } });
    const load = h.load(c, 40);
    await eventually('the first replica serves', () => load.results.length >= 10);

    const added = await h.sim({ maxRunningSeqs: 16, maxDecodeTokensPerSecPerSeq: 20 });
    await c.addEndpoint(EndpointConfig.parse({ url: added.url }));
    await eventually('the added replica answers calls', () => load.results.some((r) => r.endpoint === added.url));
    expect(c.replicas().map((r) => r.url)).toEqual([first.url, added.url]);

    await c.removeEndpoint(first.url);
    const servedByFirst = first.stats().requests.total;
    const after = load.results.length;
    await eventually('20 more calls complete', () => load.results.length >= after + 20);
    expect(first.stats().requests.total).toBe(servedByFirst);
    expect(load.results.slice(after).every((r) => r.endpoint === added.url)).toBe(true);
    expect(load.errors).toEqual([]);
  });

  it('refuses to add a replica serving another model', async () => {
    const a = await h.sim();
    const b = await h.sim({ model: 'another-model' });
    const c = h.client([a]);
    await expect(c.addEndpoint(EndpointConfig.parse({ url: b.url }))).rejects.toMatchObject({ code: 'llm_model_mismatch' });
    expect(c.endpoints()).toHaveLength(1);
  });

  it('ejects every replica under sustained 503s; calls wait a bounded time, then fail with a clear code naming the cause, and the run stops early', async () => {
    const sims = await Promise.all([0, 1].map(() => h.sim({ faults: { rates: { unavailable: 1 } } })));
    const c = h.client(sims, { retryBaseMs: 20, noReplicaWaitMs: 500 });
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => c.chat(request(`503-${i}`)).then(() => undefined, (e: unknown) => e)));

    expect(outcomes.every((o) => o instanceof GemflowError)).toBe(true);
    const codes = outcomes.map((e) => errorCode(e));
    expect(codes.every((code) => code === 'llm_no_healthy_endpoint' || code === 'llm_exhausted')).toBe(true);
    expect(codes.filter((code) => code === 'llm_no_healthy_endpoint').length).toBeGreaterThan(30);
    const noEndpoint = outcomes.find((e) => errorCode(e) === 'llm_no_healthy_endpoint') as GemflowError;
    expect(noEndpoint.message).toContain('all 2 endpoints are ejected by the circuit breaker');
    expect(noEndpoint.message).toContain('HTTP 503'); // the underlying cause
    expect(noEndpoint.retriable).toBe(false);
    // Failing fast: far fewer attempts reached the servers than 60 calls x 5 attempts.
    const attempts = sims.reduce((n, s) => n + s.stats().requests.total, 0);
    expect(attempts).toBeLessThan(120);
    expect(c.replicas().map((r) => r.state)).not.toContain('closed');

    // What the pipeline does with these outcomes: its error-rate monitor stops the run.
    const monitor = new ErrorRateMonitor(50, 0.5, { lastCause: () => c.lastFailure });
    expect(() => codes.forEach((code) => monitor.record(false, code))).toThrow(
      expect.objectContaining({ code: 'llm_cluster_unusable', message: expect.stringContaining('HTTP 503') }),
    );
  });
});
