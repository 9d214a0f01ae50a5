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
    // Ejected, the failing replica only sees trials: one trial request per half-open spell (it fails),
    // after the failures that ejected it (a window of at most 10 + 8 in flight) and the (at most 8)
    // attempts in flight when they did.
    const halfOpens = events.filter((e) => e.state === 'half_open').length;
    expect(bad.stats().requests.total).toBeLessThanOrEqual(10 + 8 + 8 + halfOpens);
    expect(bad.stats().requests.byStage.probe).toBeLessThanOrEqual(halfOpens);

    bad.setFaults({});
    await eventually('the recovered replica is closed again', () => c.replicas()[0]!.state === 'closed');
    const states = events.filter((e) => e.kind === 'breaker').map((e) => e.state);
    expect(states.slice(-2)).toEqual(['half_open', 'closed']);
    await eventually('it serves calls again', () => load.results.some((r) => r.endpoint === bad.url));
    expect(badEp.ejected).toBe(false);
    await load.stop();
    expect(load.errors).toEqual([]); // every failed attempt was retried on the healthy replica
  });

  it('ejects a replica whose /health fails, with no traffic; calls wait for it, and it takes them once healthy again and its trial requests pass', async () => {
    const sim = await h.sim();
    const c = h.client([sim], { adaptiveOptions: { breaker } });
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
    expect((await waiting).endpoint).toBe(sim.url);
    expect(c.replicas()[0]!.state).toBe('closed');
    expect(ep.ejected).toBe(false);
    // Readmitted after three trial requests of one output token (the default successThreshold), in
    // the structured-output dialect real calls use.
    const stats = sim.stats().requests;
    expect(stats.byStage).toEqual({ probe: 3, chat: 1 });
    expect(stats.byDialect.json_schema).toBe(3);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => c.chat(request(`after-${i}`))));
    expect(results.every((r) => r.endpoint === sim.url)).toBe(true);
  });

  it('readmits a replica that went down and came back after a few one-token trial requests, before any real request there finishes', async () => {
    // Real calls are slow here (about 24 output tokens at 8 tokens/s per sequence: ~3 s), a trial's
    // one token is not: the breaker must not wait for real calls to judge the returned replica.
    const capacity = { maxDecodeTokensPerSecPerSeq: 8 };
    const lost = await h.sim(capacity);
    const other = await h.sim(capacity);
    const events: AdaptiveEvent[] = [];
    let atClose: ReturnType<typeof lost.stats> | undefined;
    const c = h.client([lost, other], {
      adaptiveOptions: {
        breaker,
        onEvent: (e) => {
          events.push(e);
          if (e.kind === 'breaker' && e.url === lost.url && e.state === 'closed') atClose ??= lost.stats();
        },
      },
    });
    const load = h.load(c, 12);
    await eventually('the replica has answered real calls', () => load.results.some((r) => r.endpoint === lost.url));
    lost.configure({ down: true });
    await eventually('the lost replica is ejected', () => c.replicas()[0]!.state === 'open');
    const beforeBack = lost.stats().requests;
    lost.configure({ down: false });
    await eventually('the returned replica is closed again', () => atClose !== undefined);
    const back = events.filter((e) => e.kind === 'breaker').map((e) => e.state);
    expect(back.slice(-2)).toEqual(['half_open', 'closed']);
    // Closed by its trial requests alone: three of them (successThreshold), and not one real call was
    // sent there, let alone finished, since it came back.
    const since = (k: string) => (atClose!.requests.byStage[k] ?? 0) - (beforeBack.byStage[k] ?? 0);
    expect(since('probe')).toBe(3);
    expect(since('chat')).toBe(0);
    expect((atClose!.requests.byStatus['200'] ?? 0) - (beforeBack.byStatus['200'] ?? 0)).toBe(3);
    // Then real calls go there again, and none failed for the caller.
    const served = load.results.filter((r) => r.endpoint === lost.url).length;
    await eventually('it serves real calls again', () => load.results.filter((r) => r.endpoint === lost.url).length > served);
    await load.stop();
    expect(load.errors).toEqual([]);
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
