import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { EndpointConfig } from '../../src/config/schema.js';
import { HttpInferenceClient } from '../../src/llm/client.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { createWorkerRegistry } from '../../src/telemetry/prometheus.js';

const sims: SimulatorHandle[] = [];
const clients: HttpInferenceClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a server without /health and /metrics (llama-cpp-python-like)', () => {
  it('is reported once, polled with backoff, and starts at a low limit that grows on latency', async () => {
    const s = await startSimulator({ timeScale: 0.001, health: false, metrics: false });
    sims.push(s);
    const notices: string[] = [];
    const c = new HttpInferenceClient({
      endpoints: [EndpointConfig.parse({ url: s.url, initialConcurrency: 16 })],
      timeoutMs: 10_000,
      maxRetries: 1,
      // Fast loops, so that several seconds of polling happen within the test.
      adaptive: { scrapeIntervalMs: 20, intervalMs: 50, breaker: { healthIntervalMs: 50 } },
      onNotice: (level, message) => level === 'warn' && notices.push(message),
    });
    clients.push(c);
    const started = performance.now();
    await c.start();
    // The first scrape round is in before start() resolves: the limit starts low.
    expect(c.endpoints()[0]!.limit).toBeLessThanOrEqual(2);
    const first = (await c.replicas())[0]!;
    expect(first.gaugesAvailable).toBe(false);

    // Work for a while, at several times the scrape interval.
    for (let round = 0; round < 15; round++) {
      await Promise.all(Array.from({ length: 8 }, () => c.chat({ stage: 'chat', messages: [{ role: 'user', content: 'hi' }], maxTokens: 16, temperature: 0 })));
      await sleep(30);
    }
    const elapsedMs = performance.now() - started;
    const routes = s.stats().routes;
    // Without backoff, /metrics would be asked every 20 ms: elapsedMs / 20 times. With it: the first
    // try, then after 5 s, 10 s, 20 s... (whatever the machine's speed, far fewer).
    expect(routes['/metrics']).toBeLessThanOrEqual(1 + Math.ceil(elapsedMs / 5000));
    // /health answered 404 once; liveness is then checked on /v1/models.
    expect(routes['/health']).toBe(1);
    expect(notices.filter((n) => n.includes('no vLLM gauges at'))).toHaveLength(1);
    expect(notices.filter((n) => n.includes('no vLLM gauges at'))[0]).toContain('latency control only');
    expect(notices.filter((n) => n.includes('no /health at'))).toHaveLength(1);
    // The limit grew from its low start on measured latency (demand was 8 at a time).
    expect(c.endpoints()[0]!.limit).toBeGreaterThan(2);

    // What the controller sees is on the worker's /metrics.
    const text = await createWorkerRegistry({ llm: c, processMetrics: false }).metrics();
    expect(text).toMatch(new RegExp(`gemflow_llm_server_gauges_available\\{endpoint="${s.url}"\\} 0`));
    expect(text).toMatch(new RegExp(`gemflow_llm_metrics_scrape_errors_total\\{endpoint="${s.url}"\\} [1-9]`));
    expect(text).toMatch(/gemflow_llm_replica_limit\{endpoint="[^"]+",reason="[a-z_]+"\} \d+/);
  });

  it('a server with gauges exports them on the worker /metrics', async () => {
    const s = await startSimulator({ timeScale: 0.001 });
    sims.push(s);
    const c = new HttpInferenceClient({ endpoints: [EndpointConfig.parse({ url: s.url })], timeoutMs: 10_000, maxRetries: 1 });
    clients.push(c);
    await c.start();
    const text = await createWorkerRegistry({ llm: c, processMetrics: false }).metrics();
    expect(text).toMatch(new RegExp(`gemflow_llm_server_requests_running\\{endpoint="${s.url}"\\} 0`));
    expect(text).toMatch(new RegExp(`gemflow_llm_server_requests_waiting\\{endpoint="${s.url}"\\} 0`));
    expect(text).toMatch(new RegExp(`gemflow_llm_server_kv_cache_usage\\{endpoint="${s.url}"\\} 0`));
    expect(text).toMatch(new RegExp(`gemflow_llm_server_gauges_available\\{endpoint="${s.url}"\\} 1`));
  });
});

describe('cancellation', () => {
  it('a client timeout aborts the request at the server: the generation is dropped, not finished', async () => {
    // Slow decode: a 2,000-token answer takes ~100 s of wall time, far beyond the 300 ms timeout.
    const s = await startSimulator({ timeScale: 1, decodeTokensPerSec: 20, maxDecodeTokensPerSecPerSeq: 20 });
    sims.push(s);
    const c = new HttpInferenceClient({ endpoints: [EndpointConfig.parse({ url: s.url })], timeoutMs: 300, maxRetries: 0, adaptive: false });
    clients.push(c);
    const long = 'word '.repeat(10_000);
    const e = (await c.chat({ stage: 'chat', messages: [{ role: 'user', content: long }], maxTokens: 2000, temperature: 0 }).catch((x: unknown) => x)) as { code: string };
    expect(['llm_timeout', 'llm_exhausted']).toContain(e.code);
    // The server learns of it through the closed connection (no timing assumption: wait for it).
    for (let i = 0; i < 400 && s.stats().abortedGenerations < 1; i++) await sleep(25);
    const st = s.stats();
    expect(st.abortedGenerations).toBe(1);
    expect(st.running + st.waiting).toBe(0);
    expect(st.tokens.generated).toBe(0); // it never completed
  });
});
