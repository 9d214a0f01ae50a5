import { afterEach, describe, expect, it } from 'vitest';
import { CapacityModel, saturatedOutputTokensPerSec } from '../../src/simulator/capacity-model.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/simulator.js';
import { postChat, stageBody, STORAGE_DOC } from './fixtures.js';
import { sample, scrape } from './metrics-text.js';

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

let sim: SimulatorHandle | undefined;
afterEach(() => sim?.close());

/** n distinct extract requests (distinct documents), all sent at once; resolves to their usages. */
function burst(url: string, n: number, extraLines = ''): Promise<Usage>[] {
  return Array.from({ length: n }, async (_, i) => {
    const res = await postChat(url, stageBody('extract', { document: `${STORAGE_DOC}\nNote ${i}.${extraLines}` }));
    expect(res.status).toBe(200);
    return ((await res.json()) as { usage: Usage }).usage;
  });
}

describe('capacity model', () => {
  it('queues beyond maxRunningSeqs, shows it in /metrics, and its token counters add up', async () => {
    // ~1000 completion tokens at 40 tok/s per sequence: ~25 simulated seconds a request, 0.25 s real.
    sim = await startSimulator({ maxRunningSeqs: 2, timeScale: 0.01 });
    const pending = burst(sim.url, 6);
    await expect.poll(async () => {
      const m = await scrape(sim!.url);
      return [sample(m, 'vllm:num_requests_running', { model_name: 'gemflow-sim-32b' }), sample(m, 'vllm:num_requests_waiting')];
    }).toEqual([2, 4]);
    const busy = await scrape(sim.url);
    expect(sample(busy, 'vllm:gpu_cache_usage_perc')).toBeGreaterThan(0);
    expect(sample(busy, 'vllm:kv_cache_usage_perc')).toBe(sample(busy, 'vllm:gpu_cache_usage_perc'));

    const usages = await Promise.all(pending);
    const done = await scrape(sim.url);
    expect(sample(done, 'vllm:num_requests_running')).toBe(0);
    expect(sample(done, 'vllm:num_requests_waiting')).toBe(0);
    expect(sample(done, 'vllm:prompt_tokens_total')).toBe(usages.reduce((n, u) => n + u.prompt_tokens, 0));
    expect(sample(done, 'vllm:generation_tokens_total')).toBe(usages.reduce((n, u) => n + u.completion_tokens, 0));
    expect(sample(done, 'vllm:request_success_total', { finished_reason: 'stop' })).toBe(6);
    expect(sample(done, 'vllm:request_queue_time_seconds_count')).toBe(6);
    expect(sample(done, 'vllm:request_queue_time_seconds_bucket', { le: '+Inf' })).toBe(6);

    // Four of six waited for a slot (two waves of ~25 simulated seconds); the first two did not.
    const stats = sim.stats();
    expect(stats.queueWaitSec.count).toBe(6);
    expect(stats.queueWaitSec.p50).toBeGreaterThan(10);
    expect(stats.queueWaitSec.p99).toBeGreaterThan(stats.queueWaitSec.p50);
    expect(stats.capacity.maxOutputTokensPerSec).toBe(80);
  });

  it('decodes faster in aggregate with a bigger batch, up to the aggregate cap', async () => {
    // Per-sequence cap 40 tok/s, aggregate 100 tok/s: 1 sequence -> ~40 tok/s, 5 sequences -> ~100 tok/s.
    const throughput = async (n: number): Promise<number> => {
      sim = await startSimulator({ decodeTokensPerSec: 100, maxDecodeTokensPerSecPerSeq: 40, prefillTokensPerSec: 1e7, timeScale: 0.01 });
      await Promise.all(burst(sim.url, n));
      const s = sim.stats();
      await sim.close();
      return s.tokens.generated / s.busySec;
    };
    const single = await throughput(1);
    const batch = await throughput(5);
    expect(single).toBeGreaterThan(30);
    expect(single).toBeLessThanOrEqual(40.5);
    expect(batch).toBeGreaterThan(80);
    expect(batch).toBeLessThanOrEqual(100.5);
  });

  it('holds requests back while the KV cache is full, and its usage gauge shows why', async () => {
    // Each request reserves ~1,300 tokens (prompt + completion): two fit in 3,000, the third waits.
    sim = await startSimulator({ kvCacheTokens: 3000, maxRunningSeqs: 10, timeScale: 0.01 });
    const pending = burst(sim.url, 3);
    await expect.poll(() => [sim!.stats().running, sim!.stats().waiting]).toEqual([2, 1]);
    const usage = sample(await scrape(sim.url), 'vllm:kv_cache_usage_perc')!;
    const reserved = (await Promise.all(pending)).map((u) => u.prompt_tokens + u.completion_tokens);
    // The gauge is the two running requests' whole reservations (not just the tokens decoded so far),
    // and the third's reservation does not fit next to them.
    const pairs = [[0, 1, 2], [0, 2, 1], [1, 2, 0]].filter(([a, b]) => Math.abs(usage * 3000 - reserved[a!]! - reserved[b!]!) < 1e-6);
    expect(pairs.length).toBeGreaterThan(0);
    expect(pairs.some(([, , waiting]) => usage * 3000 + reserved[waiting!]! > 3000)).toBe(true);
    // A request that can never fit is refused rather than queued forever.
    const huge = await postChat(sim.url, stageBody('extract', { document: STORAGE_DOC.repeat(20) }));
    expect(huge.status).toBe(400);
  });
});

describe('saturatedOutputTokensPerSec (the capacity model replayed with its queue never empty)', () => {
  const replica = { maxRunningSeqs: 256, prefillTokensPerSec: 10_000, decodeTokensPerSec: 2500, maxDecodeTokensPerSecPerSeq: 40, kvCacheTokens: 400_000, tickMs: 10 };

  it('reaches the nominal decode rate when the saturating batch fits in the KV cache', () => {
    const small = Array.from({ length: 50 }, () => ({ promptTokens: 1000, completionTokens: 2000 })); // 133 fit, 63 saturate
    expect(saturatedOutputTokensPerSec(replica, small, 1000, 0.1)).toBeCloseTo(2500, -1);
  });

  it('stays below it when fewer requests fit in the KV cache than decode needs', () => {
    // 10,000 tokens each: 40 fit at once, each decoding at 40 tok/s -> 1600 tok/s (a little less: each prefills first).
    const large = Array.from({ length: 50 }, () => ({ promptTokens: 5000, completionTokens: 5000 }));
    const rate = saturatedOutputTokensPerSec(replica, large, 2000, 0.1);
    expect(rate).toBeLessThanOrEqual(1600);
    expect(rate).toBeGreaterThan(1550);
    // A replica 3x slower delivers about a third of it (its KV cache holds each request 3x longer).
    const slow = saturatedOutputTokensPerSec({ ...replica, decodeTokensPerSec: 2500 / 3, maxDecodeTokensPerSecPerSeq: 40 / 3, prefillTokensPerSec: 10_000 / 3 }, large, 4000, 0.1);
    expect(slow).toBeLessThanOrEqual(rate / 3);
    expect(slow).toBeGreaterThan(0.9 * (rate / 3));
  });
});

describe('capacity model prefill', () => {
  it('prefills admitted requests first come, first served (vLLM spends each step token budget in order), not all at once', async () => {
    // Four requests of 1,000 prompt tokens at 1,000 prefill tokens/s, admitted together: in order, the
    // first decodes after ~1 simulated s, the fourth after ~4 s; shared equally, all four would wait ~4 s.
    // The first-token time is placed within its step, so it holds however late the timer fires (CI's
    // loaded machine stretched steps to ~0.37 simulated s when it was taken at the step's end).
    const m = new CapacityModel({ maxRunningSeqs: 8, prefillTokensPerSec: 1000, decodeTokensPerSec: 1000, maxDecodeTokensPerSecPerSeq: 100, kvCacheTokens: 1e6, tickMs: 10, timeScale: 0.05 });
    try {
      const outcomes = await Promise.all([0, 1, 2, 3].map(() => m.submit({ promptTokens: 1000, completionTokens: 10 })));
      const first = outcomes.map((o) => o.firstTokenSec);
      for (let i = 0; i < 4; i++) expect(first[i]).toBeCloseTo(i + 1, 6);
      // Prefill does not hold decode back: the first request finished before the last one's prefill did.
      expect(outcomes[0]!.latencySec).toBeLessThan(first[3]!);
    } finally {
      m.close();
    }
  });
});

describe('capacity model KV allocation', () => {
  // Two requests of 1,000 prompt + 1,000 completion tokens in a 3,000-token KV cache.
  const params = { maxRunningSeqs: 8, prefillTokensPerSec: 10_000, decodeTokensPerSec: 1000, maxDecodeTokensPerSecPerSeq: 100, kvCacheTokens: 3000, tickMs: 10, timeScale: 0.01 };
  const two = (m: CapacityModel) => Promise.all([0, 1].map(() => m.submit({ promptTokens: 1000, completionTokens: 1000 })));

  it('reserve (default): the second waits until the first has finished; nothing is preempted', async () => {
    const m = new CapacityModel(params);
    try {
      const [a, b] = await two(m);
      expect(a!.queueSec).toBe(0);
      expect(b!.queueSec).toBeGreaterThan(9); // the first's ~10 s of decoding
      expect(m.snapshot().preemptions).toBe(0);
      expect(m.snapshot().decodedTokens).toBeCloseTo(2000, 6);
    } finally {
      m.close();
    }
  });

  it('incremental (vLLM): both run at once on their prompts, the newest is preempted when their growth fills the cache, and both finish with every token', async () => {
    const m = new CapacityModel({ ...params, kvAllocation: 'incremental' });
    try {
      const pending = two(m);
      // Admitted at once on their prompts (checked synchronously, before any step): 2,000 of 3,000
      // tokens held, growing as they decode.
      expect(m.snapshot().running).toBe(2);
      expect(m.snapshot().kvCacheUsage).toBeCloseTo(2000 / 3000, 9);
      await expect.poll(() => m.snapshot().preemptions, { timeout: 5000 }).toBeGreaterThan(0);
      const [a, b] = await pending;
      expect(a!.queueSec).toBe(0);
      expect(b!.queueSec).toBe(0); // queue time is the wait before the first admission
      // The preempted one prefilled its prompt and output so far again, so it took longer.
      expect(b!.latencySec).toBeGreaterThan(a!.latencySec);
      const s = m.snapshot();
      expect(s.decodedTokens).toBeCloseTo(2000, 6); // output kept across the preemption, not decoded twice
      expect(s.kvCacheUsage).toBe(0);
      expect(s.running + s.waiting).toBe(0);
    } finally {
      m.close();
    }
  });

  it('the simulator exports the preemptions as vllm:num_preemptions_total and refuses an unknown allocation model', async () => {
    sim = await startSimulator({ kvCacheTokens: 3000, kvAllocation: 'incremental', timeScale: 0.01 });
    const m = await scrape(sim.url);
    expect(sample(m, 'vllm:num_preemptions_total')).toBe(0);
    // The KV cache's size as vLLM states it: num_gpu_blocks x block_size tokens.
    expect(m).toContain('vllm:cache_config_info{block_size="16",num_gpu_blocks="187"} 1');
    await expect(startSimulator({ kvAllocation: 'lazy' as never })).rejects.toThrow(/kvAllocation must be reserve or incremental/);
  });
});
