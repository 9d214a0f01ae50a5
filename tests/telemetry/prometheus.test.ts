import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Funnel } from '../../src/dataflow/funnel.js';
import { ResponseCache } from '../../src/llm/cache.js';
import { HttpInferenceClient } from '../../src/llm/client.js';
import type { ChatRequest } from '../../src/llm/types.js';
import { startSimulator } from '../../src/simulator/simulator.js';
import { KvStore } from '../../src/store/kv-store.js';
import { Metrics } from '../../src/telemetry/stage-metrics.js';
import { consumerGroupLag, createWorkerRegistry } from '../../src/telemetry/prometheus.js';
import { createTopic, sendMessages, testKafka, uniqueName } from '../kafka/helpers.js';
import { parseExposition, sampleValue } from './exposition.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('exposition reader (the check the metrics tests rely on)', () => {
  it('reads valid text and rejects what Prometheus would reject', () => {
    const ok = parseExposition('# HELP a_total A.\n# TYPE a_total counter\na_total{x="1",y="q\\"\\n"} 3\na_total{x="2"} 4e2\n# TYPE b summary\nb{quantile="0.5"} NaN\nb_sum 1\nb_count 2\n');
    expect(sampleValue(ok, 'a_total', { x: '2' })).toBe(400);
    expect(ok.get('a_total')!.samples[0]!.labels.y).toBe('q"\n');
    expect(ok.get('b')!.samples.map((s) => s.name)).toEqual(['b', 'b_sum', 'b_count']);
    for (const bad of [
      'a{x="1"} 1', // no final newline
      'a{x=1} 1\n', // unquoted label value
      'a{x="\\t"} 1\n', // bad escape
      'a 1x\n', // bad value
      '1a 1\n', // bad name
      'a 1\na 2\n', // repeated series
      '# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na{z="1"} 2\n', // split family
      '# TYPE a histogram\na_bucket 1\n', // bucket without le
      '# TYPE a counter\n# TYPE a gauge\n', // typed twice
    ]) {
      expect(() => parseExposition(bad), bad).toThrow();
    }
  });
});

describe('createWorkerRegistry', () => {
  it('exposes the funnel, stage metrics, tokens, endpoints, cache and queues as valid Prometheus text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gemflow-prom-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const sim = await startSimulator({ port: 0, timeScale: 0.001 });
    cleanups.push(() => sim.close());
    const store = KvStore.open(join(dir, 'state.sqlite'), 'llm-cache');
    cleanups.push(() => store.close());
    const cache = new ResponseCache(store);
    const client = new HttpInferenceClient({ endpoints: [{ url: sim.url, maxConcurrency: 4, initialConcurrency: 2 }], timeoutMs: 30_000, maxRetries: 2, cache, adaptive: false });
    cleanups.push(() => client.close());
    await client.start();

    // Real runtime objects, driven the way the runtime drives them.
    const funnel = new Funnel();
    funnel.received(100);
    funnel.received(50);
    funnel.received(10);
    funnel.written(2);
    funnel.dropped('irrelevant');
    funnel.trajectoryGenerated(3);
    funnel.trajectoryRejected('unknown_tool');
    const metrics = new Metrics();
    const relevance = metrics.stage('relevance');
    relevance.received = 3;
    relevance.sent = 2;
    relevance.drop('irrelevant');
    for (const ms of [1, 2, 3, 4, 100]) relevance.time(ms);
    metrics.stage('validate').error('bad "quote"\\');
    const req: ChatRequest = { stage: 'extract', messages: [{ role: 'user', content: 'Sign in, then click Create bucket.' }], maxTokens: 64, temperature: 0 };
    const answer = await client.chat(req);
    await client.remember(req, answer);
    await client.chat(req); // answered from the cache

    const registry = createWorkerRegistry({
      funnel: () => funnel.snapshot(),
      stages: metrics,
      llm: client,
      cache: () => cache.stats(),
      queues: () => ({ documents_in_flight: 1, llm_documents_in_flight: 0 }),
    });
    const text = await registry.metrics();
    const m = parseExposition(text);

    expect(m.get('gemflow_documents_received_total')!.type).toBe('counter');
    expect(sampleValue(m, 'gemflow_documents_received_total')).toBe(3);
    expect(sampleValue(m, 'gemflow_documents_received_bytes_total')).toBe(160);
    expect(sampleValue(m, 'gemflow_documents_written_total')).toBe(1);
    expect(sampleValue(m, 'gemflow_documents_dropped_total', { reason: 'irrelevant' })).toBe(1);
    expect(sampleValue(m, 'gemflow_documents_in_flight')).toBe(1);
    expect(sampleValue(m, 'gemflow_trajectories_written_total')).toBe(2);
    expect(sampleValue(m, 'gemflow_trajectories_rejected_total', { rule: 'unknown_tool' })).toBe(1);

    expect(sampleValue(m, 'gemflow_stage_received_total', { stage: 'relevance' })).toBe(3);
    expect(sampleValue(m, 'gemflow_stage_dropped_total', { stage: 'relevance', reason: 'irrelevant' })).toBe(1);
    expect(sampleValue(m, 'gemflow_stage_errors_total', { stage: 'validate', code: 'bad "quote"\\' })).toBe(1);
    expect(sampleValue(m, 'gemflow_stage_time_seconds_total', { stage: 'relevance' })).toBeCloseTo(0.11, 6);
    expect(sampleValue(m, 'gemflow_stage_latency_seconds', { stage: 'relevance', quantile: '0.5' })).toBe(0.003);
    expect(sampleValue(m, 'gemflow_stage_latency_seconds', { stage: 'relevance', quantile: '0.99' })).toBe(0.1);

    expect(sampleValue(m, 'gemflow_llm_calls_total', { stage: 'extract' })).toBe(2);
    expect(sampleValue(m, 'gemflow_llm_cached_calls_total', { stage: 'extract' })).toBe(1);
    expect(sampleValue(m, 'gemflow_llm_completion_tokens_total', { stage: 'extract' })).toBe(answer.completionTokens);
    expect(answer.completionTokens).toBeGreaterThan(0);
    expect(sampleValue(m, 'gemflow_llm_requests_in_flight', { endpoint: sim.url })).toBe(0);
    expect(sampleValue(m, 'gemflow_llm_endpoint_ejected', { endpoint: sim.url })).toBe(0);
    expect(sampleValue(m, 'gemflow_llm_cache_hits_total')).toBe(1);
    expect(sampleValue(m, 'gemflow_llm_cache_misses_total')).toBe(1);
    expect(sampleValue(m, 'gemflow_queue_depth', { queue: 'documents_in_flight' })).toBe(1);
    expect(sampleValue(m, 'gemflow_process_resident_memory_bytes')).toBeGreaterThan(0);

    // Counters follow the runtime between scrapes.
    funnel.received(5);
    expect(sampleValue(parseExposition(await registry.metrics()), 'gemflow_documents_received_total')).toBe(4);
  });

  it('registers only the sources it is given', async () => {
    const text = await createWorkerRegistry({ processMetrics: false, queues: () => ({ q: 2 }) }).metrics();
    expect([...parseExposition(text).keys()]).toEqual(['gemflow_queue_depth']);
  });
});

describe('consumerGroupLag', () => {
  it('measures per-partition lag of a group against a real broker, and a failing read does not fail the scrape', async () => {
    const brokers = inject('kafkaBrokers');
    const topic = uniqueName('lag');
    const groupId = uniqueName('lag-group');
    await createTopic(brokers, topic, 2);
    await sendMessages(brokers, topic, [
      ...Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `a${i}` })),
      ...Array.from({ length: 3 }, (_, i) => ({ partition: 1, value: `b${i}` })),
    ]);
    const admin = testKafka(brokers).admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '2' }] });

    expect(await consumerGroupLag(admin, groupId, [topic])).toEqual([
      { topic, partition: 0, lag: 3 },
      { topic, partition: 1, lag: 3 }, // nothing committed: everything from the low watermark
    ]);

    let broken = false;
    const registry = createWorkerRegistry({
      processMetrics: false,
      consumerLag: () => (broken ? Promise.reject(new Error('broker gone')) : consumerGroupLag(admin, groupId, [topic])),
    });
    const first = parseExposition(await registry.metrics());
    expect(sampleValue(first, 'gemflow_kafka_consumer_lag', { topic, partition: '0' })).toBe(3);
    broken = true;
    const second = parseExposition(await registry.metrics());
    expect(sampleValue(second, 'gemflow_kafka_consumer_lag', { topic, partition: '0' })).toBeUndefined();
    expect(sampleValue(second, 'gemflow_kafka_consumer_lag_errors_total')).toBe(1);
  });
});
