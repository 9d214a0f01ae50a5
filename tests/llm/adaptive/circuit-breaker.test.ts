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
    expect(events.find((e) => e.state === 'open')!.reason).toMatch(/5 consecutive failures \(last llm_server_error\)/);
    // While it fails, trial requests during half-open fail too and eject it again.
    await eventually('a failed trial re-ejects it', () => events.some((e) => e.state === 'open' && e.reason.startsWith('trial request failed')));
    await eventually('60 calls complete', () => load.results.length >= 60);
    // Ejected, the failing replica only sees trials: at most 2 attempts per half-open spell, after the
    // 5 failures that ejected it and the (at most 8) attempts in flight when they did.
    const halfOpens = events.filter((e) => e.state === 'half_open').length;
    expect(bad.stats().requests.total).toBeLessThanOrEqual(5 + 8 + 2 * halfOpens);

    bad.setFaults({});
    await eventually('the recovered replica is closed again', () => c.replicas()[0]!.state === 'closed');
    const states = events.filter((e) => e.kind === 'breaker').map((e) => e.state);
    expect(states.slice(-2)).toEqual(['half_open', 'closed']);
    await eventually('it serves calls again', () => load.results.some((r) => r.endpoint === bad.url));
    expect(badEp.ejected).toBe(false);
    await load.stop();
    expect(load.errors).toEqual([]); // every failed attempt was retried on the healthy replica
  });

  it('ejects a replica whose /health fails, with no traffic, and trials it with a small limit when it is healthy again', async () => {
    const sim = await h.sim();
    const c = h.client([sim], { adaptiveOptions: { breaker: { ...breaker, halfOpenLimit: 2 } } });
    await c.start();
    sim.setFaults({ unhealthy: true });
    const ep = c.endpoints()[0]!;
    await eventually('the unhealthy replica is ejected', () => ep.ejected);
    expect(c.replicas()[0]!.state).toBe('open');
    expect(sim.stats().requests.total).toBe(0);
    await expect(c.chat(request('while-ejected'))).rejects.toMatchObject({ code: 'llm_no_healthy_endpoint' });

    sim.setFaults({});
    await eventually('it is half open', () => c.replicas()[0]!.state === 'half_open');
    expect([ep.ejected, ep.limit]).toEqual([false, 2]);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => c.chat(request(`trial-${i}`))));
    expect(results.every((r) => r.endpoint === sim.url)).toBe(true);
    expect(c.replicas()[0]!.state).toBe('closed');
  });
});
