import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FAULT_KINDS, type FaultKind } from '../../src/simulator/options.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/simulator.js';
import { postChat, stageBody, STORAGE_DOC } from './fixtures.js';

const FAST = { prefillTokensPerSec: 1e7, decodeTokensPerSec: 1e7, maxDecodeTokensPerSecPerSeq: 1e6, timeScale: 0.01 };
const open: SimulatorHandle[] = [];
async function start(opts = {}): Promise<SimulatorHandle> {
  const sim = await startSimulator({ ...FAST, ...opts });
  open.push(sim);
  return sim;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const body = (i = 0): unknown => stageBody('extract', { document: `${STORAGE_DOC}\nVariant ${i}.` });

async function completion(res: Response): Promise<{ content: string; finish: string }> {
  const j = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
  return { content: j.choices[0]!.message.content, finish: j.choices[0]!.finish_reason };
}

describe('fault injection', () => {
  it('429 carries Retry-After; 500 and 503 carry OpenAI error bodies', async () => {
    const sim = await start({ timeScale: 1, faults: { rates: { rate_limit: 1 }, retryAfterSec: 2 } });
    const limited = await request(`${sim.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body()), headers: { 'content-type': 'application/json' } });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('2');
    expect(await limited.body.json()).toMatchObject({ error: { type: 'RateLimitError', code: 429 } });
    // Time-scaled, Retry-After is scaled too: 2 simulated seconds at timeScale 0.02 are 40 ms.
    const scaled = await start({ timeScale: 0.02, faults: { rates: { rate_limit: 1 }, retryAfterSec: 2 } });
    const scaledLimited = await request(`${scaled.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body()), headers: { 'content-type': 'application/json' } });
    expect(scaledLimited.headers['retry-after']).toBe('0.04');
    await scaledLimited.body.dump();

    sim.setFaults({ rates: { server_error: 1 } });
    const failed = await postChat(sim.url, body());
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ error: { code: 500 } });

    sim.setFaults({ rates: { unavailable: 1 } });
    expect((await postChat(sim.url, body())).status).toBe(503);
    expect(sim.stats().requests.byFault).toEqual({ rate_limit: 1, server_error: 1, unavailable: 1 });
  });

  it('malformed answers are 200 with content that is not JSON', async () => {
    const sim = await start({ faults: { rates: { malformed: 1 } } });
    const res = await postChat(sim.url, body());
    expect(res.status).toBe(200);
    const { content, finish } = await completion(res);
    expect(finish).toBe('stop');
    expect(() => JSON.parse(content)).toThrow(SyntaxError);
    expect(sim.stats().calls.answered).toBe(0);
  });

  it('length answers are cut short with finish_reason "length"', async () => {
    const sim = await start();
    const whole = await completion(await postChat(sim.url, body()));
    sim.setFaults({ rates: { length: 1 } });
    const cut = await completion(await postChat(sim.url, body()));
    expect(cut.finish).toBe('length');
    expect(cut.content.length).toBeLessThan(whole.content.length);
    expect(whole.content.startsWith(cut.content)).toBe(true);
  });

  it('reset destroys the connection without a response', async () => {
    const sim = await start({ faults: { rates: { reset: 1 } } });
    const err = await postChat(sim.url, body()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(sim.stats().requests.byFault).toEqual({ reset: 1 });
  });

  it('hang never answers until the client gives up, and close() still returns', async () => {
    const sim = await start({ faults: { rates: { hang: 1 } } });
    await expect(postChat(sim.url, body(), AbortSignal.timeout(200))).rejects.toThrow(/aborted|timeout/i);
    const stillHanging = postChat(sim.url, body(1));
    await expect.poll(() => sim.stats().requests.byFault.hang).toBe(2);
    await sim.close();
    expect((await stillHanging).status).toBe(503);
  });

  it('a hung replica answers nothing at all (chat in flight or new, /health, /v1/models, /metrics) until close()', async () => {
    const sim = await start({ prefillTokensPerSec: 1, timeScale: 1 }); // a long prefill: the first call is in flight
    const inFlight = postChat(sim.url, body());
    await expect.poll(() => sim.stats().requests.total).toBe(1);
    sim.setFaults({ hung: true });
    for (const path of ['/health', '/v1/models', '/metrics']) {
      await expect(fetch(`${sim.url}${path}`, { signal: AbortSignal.timeout(200) })).rejects.toThrow(/aborted|timeout/i);
    }
    await expect(postChat(sim.url, body(1), AbortSignal.timeout(200))).rejects.toThrow(/aborted|timeout/i);
    await sim.close();
    expect((await inFlight).status).toBe(503);
  });

  it('rolls faults deterministically from the seed, differently per replica, and again on a retry', async () => {
    const outcomes = async (sim: SimulatorHandle): Promise<number[]> => {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await postChat(sim.url, body(i))).status);
      return statuses;
    };
    const cfg = { faults: { totalRate: 0.5, kinds: ['server_error', 'unavailable'] as FaultKind[] }, seed: 7 };
    const a = await outcomes(await start(cfg));
    const b = await outcomes(await start(cfg));
    const otherReplica = await outcomes(await start({ ...cfg, replica: 1 }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(otherReplica);
    expect(a.filter((s) => s !== 200).length).toBeGreaterThan(0);
    expect(a.filter((s) => s === 200).length).toBeGreaterThan(0);

    // Retrying one failing call: each attempt rolls again, so it gets through.
    const sim = await start(cfg);
    const failing = a.findIndex((s) => s !== 200);
    let attempts = 1;
    while ((await postChat(sim.url, body(failing))).status !== 200) attempts++;
    expect(attempts).toBeGreaterThan(1);
    expect(sim.stats().calls).toMatchObject({ distinct: 1, repeated: 1, answered: 1, answeredRepeated: 0 });
  });

  it('spreads a total rate over every kind and reports each in /sim/stats', async () => {
    const sim = await start({ faultRate: 1 });
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < FAULT_KINDS.length; i++) {
      const res = await postChat(sim.url, body(i), AbortSignal.timeout(300)).catch(() => undefined);
      await res?.arrayBuffer();
      seen.clear();
      for (const k of Object.keys(sim.stats().requests.byFault)) seen.add(k);
    }
    expect([...seen].sort()).toEqual([...FAULT_KINDS].sort());
  });
});
