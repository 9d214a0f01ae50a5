import { afterEach, describe, expect, it } from 'vitest';
import type { AdaptiveEvent } from '../../../src/llm/adaptive-controller.js';
import type { CircuitBreakerOptions } from '../../../src/llm/circuit-breaker.js';
import { eventually, Harness, request } from './harness.js';

const breaker: CircuitBreakerOptions = { probeBaseMs: 100, probeMaxMs: 400, healthIntervalMs: 100 };

describe('CircuitBreaker', () => {
  const h = new Harness();
  afterEach(() => h.cleanup());

  it('ejects a replica whose calls keep failing, then readmits it half open and closes once it recovers', async () => {
    const bad = await h.sim({ faults: { rates: { server_error: 1 } } });
    const good = await h.sim();
    const events: AdaptiveEvent[] = [];
    // At most 8 calls per replica, so 20 callers always have work waiting for the one on trial.
    const c = h.client([bad, good], { endpoint: { maxConcurrency: 8 }, adaptiveOptions: { breaker, onEvent: (e) => events.push(e) } });
    const load = h.load(c, 20);
    const badEp = c.endpoints()[0]!;
    await eventually('the failing replica is ejected', () => events.some((e) => e.kind === 'breaker' && e.state === 'open'));
    // Judged on the failure rate over at least 10 attempts (in the order they were sent), naming the cause.
    expect(events.find((e) => e.state === 'open')!.reason).toMatch(/^(\d+) of the last \1 requests failed \(last: llm_server_error: .*HTTP 500: .*simulated internal server error/);
    // While it fails, trial requests during half-open fail too and eject it again.
    await eventually('a failed trial re-ejects it', () => events.some((e) => e.state === 'open' && e.reason.startsWith('trial request failed')));
    await eventually('60 calls complete', () => load.results.length >= 60);
    // Ejected, the failing replica only sees trials: at most 2 attempts per half-open spell, after the
    // failures that ejected it (a window of at most 10 + 8 in flight) and the (at most 8) attempts in
    // flight when they did.
    const halfOpens = events.filter((e) => e.state === 'half_open').length;
    expect(bad.stats().requests.total).toBeLessThanOrEqual(10 + 8 + 8 + 2 * halfOpens);

    bad.setFaults({});
    await eventually('the recovered replica is closed again', () => c.replicas()[0]!.state === 'closed');
    const states = events.filter((e) => e.kind === 'breaker').map((e) => e.state);
    expect(states.slice(-2)).toEqual(['half_open', 'closed']);
    await eventually('it serves calls again', () => load.results.some((r) => r.endpoint === bad.url));
    expect(badEp.ejected).toBe(false);
    await load.stop();
    expect(load.errors).toEqual([]); // every failed attempt was retried on the healthy replica
  });

  it('ejects a replica whose /health fails, with no traffic; calls wait for it, and it is trialled with a small limit when healthy again', async () => {
    const sim = await h.sim();
    const c = h.client([sim], { adaptiveOptions: { breaker: { ...breaker, halfOpenLimit: 2 } } });
    await c.start();
    sim.setFaults({ unhealthy: true });
    const ep = c.endpoints()[0]!;
    await eventually('the unhealthy replica is ejected', () => ep.ejected);
    expect(c.replicas()[0]!.state).toBe('open');
    expect(ep.ejectReason).toMatch(/failed health checks \(last: HTTP 503\)/);
    expect(sim.stats().requests.total).toBe(0);
    // No healthy replica for a moment: the call waits for one instead of failing.
    const waiting = c.chat(request('while-ejected'));
    await eventually('the call waits for a replica', () => c.waitingForReplica === 1);

    sim.setFaults({});
    await eventually('it is half open', () => c.replicas()[0]!.state === 'half_open');
    expect(ep.ejected).toBe(false);
    expect(ep.limit).toBe(2);
    expect((await waiting).endpoint).toBe(sim.url);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => c.chat(request(`trial-${i}`))));
    expect(results.every((r) => r.endpoint === sim.url)).toBe(true);
    expect(c.replicas()[0]!.state).toBe('closed');
  });

  it('fails a call that waited longer than noReplicaWaitMs for a replica, naming why each was ejected', async () => {
    const sim = await h.sim({ faults: { unhealthy: true } });
    const c = h.client([sim], { noReplicaWaitMs: 300, adaptiveOptions: { breaker: { ...breaker, probeBaseMs: 60_000, probeMaxMs: 60_000 } } });
    await c.start();
    await eventually('the unhealthy replica is ejected', () => c.endpoints()[0]!.ejected);
    const err = await c.chat(request('no-replica')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'llm_no_healthy_endpoint', retriable: false });
    expect((err as Error).message).toMatch(/all 1 endpoints are ejected .*failed health checks \(last: HTTP 503\).*none came back within 300 ms/);
    expect(c.lastFailure?.code).toBe('llm_no_healthy_endpoint');
    expect(sim.stats().requests.total).toBe(0);
  });
});
