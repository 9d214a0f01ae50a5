import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsScraper, parseVllmGauges } from '../../../src/llm/metrics-scraper.js';
import { eventually, Harness, request } from './harness.js';

describe('parseVllmGauges', () => {
  it('sums counts over label sets and takes the fullest KV cache', () => {
    const text = [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{engine="0",model_name="m"} 12',
      'vllm:num_requests_running{engine="1",model_name="m"} 30.0',
      'vllm:num_requests_waiting{engine="0",model_name="m"} 3',
      'vllm:num_requests_waiting{engine="1",model_name="we}ird \\"name\\""} 4 1700000000000',
      'vllm:kv_cache_usage_perc{engine="0"} 0.25',
      'vllm:kv_cache_usage_perc{engine="1"} 0.75',
      'vllm:gpu_cache_usage_perc{engine="0"} 0.1',
      'vllm:num_requests_running_total 99',
    ].join('\n');
    expect(parseVllmGauges(text)).toEqual({ running: 42, waiting: 7, kvCacheUsage: 0.75 });
  });

  it('reads the KV cache\'s size from vllm:cache_config_info (num_gpu_blocks x block_size), when exported', () => {
    const text = 'vllm:cache_config_info{block_size="16",cache_dtype="auto",num_gpu_blocks="25000"} 1.0\nvllm:num_requests_running{model_name="m"} 3\n';
    expect(parseVllmGauges(text)).toMatchObject({ running: 3, kvCacheTokens: 400_000 });
    expect(parseVllmGauges('vllm:num_requests_running 3\n').kvCacheTokens).toBeUndefined();
  });

  it('reads the older KV-cache gauge name, and leaves missing gauges undefined', () => {
    expect(parseVllmGauges('vllm:gpu_cache_usage_perc{model_name="m"} 0.5\nvllm:num_requests_waiting 0\n')).toEqual({
      running: undefined,
      waiting: 0,
      kvCacheUsage: 0.5,
    });
    expect(parseVllmGauges('garbage line\nvllm:num_requests_running{broken 3\nvllm:num_requests_running NaN\nvllm:num_requests_waiting\n')).toEqual({
      running: undefined,
      waiting: undefined,
      kvCacheUsage: undefined,
    });
  });
});

describe('MetricsScraper', () => {
  const h = new Harness();
  const scrapers: MetricsScraper[] = [];
  afterEach(async () => {
    await Promise.all(scrapers.splice(0).map((s) => s.close()));
    await h.cleanup();
  });

  function scraper(): MetricsScraper {
    const s = new MetricsScraper({ intervalMs: 50, timeoutMs: 5_000 });
    scrapers.push(s);
    return s;
  }

  it("follows a simulator's running and waiting gauges", async () => {
    // 2 sequences at 5 tokens/s: ~24-token answers keep 2 running and 3 waiting for seconds.
    const sim = await h.sim({ maxRunningSeqs: 2, maxDecodeTokensPerSecPerSeq: 5 });
    const s = scraper();
    s.add('sim', `${sim.url}/metrics`);
    s.start();
    await eventually('an idle scrape', () => s.latest('sim')?.running === 0);
    expect(s.latest('sim')).toMatchObject({ running: 0, waiting: 0, kvCacheUsage: 0 });

    const c = h.client([sim], { adaptive: false, endpoint: { initialConcurrency: 5 } });
    const calls = Array.from({ length: 5 }, (_, i) => c.chat(request(`gauge-${i}`)).catch(() => undefined));
    await eventually('2 running and 3 waiting', () => s.latest('sim')?.running === 2 && s.latest('sim')?.waiting === 3);
    expect(s.latest('sim')!.kvCacheUsage).toBeGreaterThan(0);
    await sim.close(); // answers the calls in flight with 503
    await Promise.all(calls);
  });

  it('tolerates a server without /metrics and tells a live server from a dead one', async () => {
    const server = createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const s = scraper();
      s.add('plain', `${url}/metrics`);
      s.start();
      await expect(s.scrape(`${url}/metrics`)).rejects.toThrow(/HTTP 404/);
      expect(s.latest('plain')).toBeUndefined();
      expect(await s.health(`${url}/health`)).toEqual({ healthy: true });
    } finally {
      server.close();
      await once(server, 'close');
    }
    // Nothing listens there any more: unhealthy, and the reason says why.
    expect(await scraper().health(`${url}/health`)).toMatchObject({ healthy: false, reason: expect.stringMatching(/connection refused \(ECONNREFUSED\)/) });
    const sick = await h.sim({ faults: { unhealthy: true } });
    expect(await scraper().health(`${sick.url}/health`)).toEqual({ healthy: false, reason: 'HTTP 503' });
    const wedged = await h.sim({ faults: { hung: true } });
    expect(await scraper().health(`${wedged.url}/health`, undefined, 300)).toMatchObject({ healthy: false, reason: expect.stringMatching(/^timeout/) });
  });
});
