import type { Admin } from 'kafkajs';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FunnelSnapshot, Tally } from '../dataflow/funnel.js';
import type { ReplicaReport } from '../llm/adaptive-controller.js';
import type { StageUsage } from '../llm/client.js';
import type { DiscoveryReport } from '../llm/discovery.js';
import type { EndpointState } from '../llm/endpoint.js';
import type { Metrics } from './stage-metrics.js';

/**
 * The worker's Prometheus registry (prom-client). Every metric is read from the runtime's own
 * objects when Prometheus scrapes (prom-client `collect()` callbacks), so the hot path stays as it
 * is: counters mirror the funnel, stage metrics and token usage; gauges show queues, in-flight
 * requests and consumer lag. A source left out registers no metrics.
 */
export interface WorkerMetricSources {
  /** The latest funnel snapshot (e.g. from the runtime's progress callback); undefined before the first. */
  funnel?: () => FunnelSnapshot | undefined;
  /** Per-operator metrics (received / sent / dropped / errors / timings). */
  stages?: Metrics;
  /** The inference client: token usage per stage, endpoint states, calls waiting for a slot. */
  llm?: {
    usage(): Record<string, StageUsage>;
    endpoints(): readonly { state(): EndpointState }[];
    readonly waiting: number;
    /** What the adaptive controller sees of each replica: the server's gauges and scrape errors. */
    replicas?(): ReplicaReport[];
    /** Replicas found through DNS (`discover` endpoints), by source. */
    discovery?(): DiscoveryReport[];
  };
  /** LLM response cache counters. */
  cache?: () => { hits: number; misses: number } | undefined;
  /** Queue depths by name, e.g. `{ documents_in_flight, llm_documents_in_flight, kafka_buffered }`. */
  queues?: () => Record<string, number>;
  /** Consumer-group lag per partition (see consumerGroupLag). A failure counts an error, not a failed scrape. */
  consumerLag?: () => Promise<readonly ConsumerLag[]>;
  /** Node process metrics (CPU, memory, event-loop lag, GC) with prom-client's defaults; default true. */
  processMetrics?: boolean;
}

export interface ConsumerLag {
  topic: string;
  partition: number;
  /** Records in the partition after the group's committed offset. */
  lag: number;
}

type Labels = Record<string, string>;
type Series = Iterable<readonly [Labels, number]>;

/** Latency quantiles reported per stage (from StageMetrics' uniform reservoir). */
const QUANTILES = [0.5, 0.9, 0.99] as const;

export function createWorkerRegistry(sources: WorkerMetricSources): Registry {
  const registry = new Registry();
  if (sources.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'gemflow_' });

  /** A counter mirroring a monotonic value the runtime already counts (set on scrape, never incremented here). */
  const counter = (name: string, help: string, labelNames: string[], read: () => Series | Promise<Series>) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const series = await read();
        this.reset();
        for (const [labels, v] of series) this.inc(labels, v);
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], read: () => Series | Promise<Series>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const series = await read();
        this.reset();
        for (const [labels, v] of series) this.set(labels, v);
      },
    });

  if (sources.funnel) registerFunnel(sources.funnel, counter, gauge);
  if (sources.stages) registerStages(sources.stages, counter, gauge);
  if (sources.llm) registerLlm(sources.llm, counter, gauge);
  const cache = sources.cache;
  if (cache) {
    counter('gemflow_llm_cache_hits_total', 'LLM calls answered from the response cache', [], () => one(cache()?.hits));
    counter('gemflow_llm_cache_misses_total', 'LLM calls the response cache could not answer', [], () => one(cache()?.misses));
  }
  const queues = sources.queues;
  if (queues) {
    gauge('gemflow_queue_depth', 'Items waiting or in progress, by queue', ['queue'], () => Object.entries(queues()).map(([queue, n]) => [{ queue }, n] as const));
  }
  const lag = sources.consumerLag;
  if (lag) {
    // One read per scrape, shared by both metrics (prom-client collects them concurrently, in order).
    let read: Promise<Series> = Promise.resolve([]);
    let failures = 0;
    gauge('gemflow_kafka_consumer_lag', "Records after the consumer group's committed offset, per partition", ['topic', 'partition'], () =>
      (read = lag().then(
        (lags) => lags.map((l) => [{ topic: l.topic, partition: String(l.partition) }, l.lag] as const),
        () => (failures++, []),
      )),
    );
    counter('gemflow_kafka_consumer_lag_errors_total', 'Failed reads of the consumer-group lag', [], async () => (await read, one(failures)));
  }
  return registry;
}

type CounterFactory = (name: string, help: string, labelNames: string[], read: () => Series | Promise<Series>) => unknown;
type GaugeFactory = (name: string, help: string, labelNames: string[], read: () => Series | Promise<Series>) => unknown;

function one(v: number | undefined): Series {
  return v === undefined ? [] : [[{}, v]];
}

function tally(t: Tally | undefined, label: string, extra: Labels = {}): Series {
  return Object.entries(t ?? {}).map(([k, v]) => [{ ...extra, [label]: k }, v] as const);
}

function registerFunnel(read: () => FunnelSnapshot | undefined, counter: CounterFactory, gauge: GaugeFactory): void {
  const docs = () => read()?.documents;
  const traj = () => read()?.trajectories;
  counter('gemflow_documents_received_total', 'Documents read from the source', [], () => one(docs()?.received));
  counter('gemflow_documents_received_bytes_total', 'Bytes of documents read from the source', [], () => one(docs()?.bytes));
  counter('gemflow_documents_written_total', 'Documents with at least one trajectory in a durable shard', [], () => one(docs()?.written));
  counter('gemflow_documents_dropped_total', 'Documents dropped, by reason', ['reason'], () => tally(docs()?.dropped, 'reason'));
  counter('gemflow_documents_rejected_total', 'Documents whose trajectories all failed validation, by rule', ['rule'], () => tally(docs()?.rejected, 'rule'));
  counter('gemflow_documents_dead_lettered_total', 'Documents dead-lettered, by error code', ['code'], () => tally(docs()?.deadLettered, 'code'));
  counter('gemflow_documents_abandoned_total', 'Documents abandoned uncommitted by a stop (replayed later)', [], () => one(docs()?.abandoned));
  gauge('gemflow_documents_in_flight', 'Documents received and not yet resolved', [], () => one(docs()?.inFlight));
  counter('gemflow_trajectories_generated_total', 'Trajectories generated', [], () => one(traj()?.generated));
  counter('gemflow_trajectories_written_total', 'Trajectories written to durable shards', [], () => one(traj()?.written));
  counter('gemflow_trajectories_rejected_total', 'Trajectories rejected by validation, by rule', ['rule'], () => tally(traj()?.rejected, 'rule'));
  counter('gemflow_trajectories_dropped_total', 'Trajectories dropped, by reason', ['reason'], () => tally(traj()?.dropped, 'reason'));
  counter('gemflow_trajectories_failed_total', 'Trajectories whose generation failed, by error code', ['code'], () => tally(traj()?.failed, 'code'));
}

function registerStages(metrics: Metrics, counter: CounterFactory, gauge: GaugeFactory): void {
  const stages = () => Object.entries(metrics.toJSON());
  counter('gemflow_stage_received_total', 'Items received by each operator', ['stage'], () => stages().map(([stage, m]) => [{ stage }, m.received] as const));
  counter('gemflow_stage_sent_total', 'Items sent on by each operator', ['stage'], () => stages().map(([stage, m]) => [{ stage }, m.sent] as const));
  counter('gemflow_stage_dropped_total', 'Items dropped by each operator, by reason', ['stage', 'reason'], () => stages().flatMap(([stage, m]) => [...tally(m.dropped, 'reason', { stage })]));
  counter('gemflow_stage_errors_total', 'Errors in each operator, by code', ['stage', 'code'], () => stages().flatMap(([stage, m]) => [...tally(m.errors, 'code', { stage })]));
  counter('gemflow_stage_time_seconds_total', 'Wall time spent in each operator, summed over items', ['stage'], () => stages().map(([stage, m]) => [{ stage }, m.totalMs / 1000] as const));
  // StageMetrics keeps a uniform reservoir of timings, not bucket counts: quantiles are what it can tell.
  gauge('gemflow_stage_latency_seconds', 'Per-item latency quantiles of each operator since start (uniform sample)', ['stage', 'quantile'], () =>
    stages().flatMap(([stage]) => QUANTILES.map((q) => [{ stage, quantile: String(q) }, metrics.stage(stage).percentile(q * 100) / 1000] as const)),
  );
}

function registerLlm(llm: NonNullable<WorkerMetricSources['llm']>, counter: CounterFactory, gauge: GaugeFactory): void {
  const usage = () => Object.entries(llm.usage());
  const states = () => llm.endpoints().map((e) => e.state());
  counter('gemflow_llm_calls_total', 'LLM calls, by stage (cache hits included)', ['stage'], () => usage().map(([stage, u]) => [{ stage }, u.calls] as const));
  counter('gemflow_llm_cached_calls_total', 'LLM calls answered from the cache, by stage', ['stage'], () => usage().map(([stage, u]) => [{ stage }, u.cachedCalls] as const));
  counter('gemflow_llm_prompt_tokens_total', 'Prompt tokens processed by the inference servers, by stage', ['stage'], () => usage().map(([stage, u]) => [{ stage }, u.promptTokens] as const));
  counter('gemflow_llm_completion_tokens_total', 'Completion tokens generated by the inference servers, by stage', ['stage'], () => usage().map(([stage, u]) => [{ stage }, u.completionTokens] as const));
  counter('gemflow_llm_requeued_total', 'Requests taken back from a replica whose queue would hold them too long, and sent again, by stage', ['stage'], () => usage().map(([stage, u]) => [{ stage }, u.requeued ?? 0] as const));
  counter('gemflow_llm_errors_total', 'Failed LLM attempts and calls, by stage and code', ['stage', 'code'], () => usage().flatMap(([stage, u]) => [...tally(u.errors, 'code', { stage })]));
  gauge('gemflow_llm_requests_in_flight', 'Requests in flight, by inference endpoint', ['endpoint'], () => states().map((s) => [{ endpoint: s.url }, s.inFlight] as const));
  gauge('gemflow_llm_concurrency_limit', 'Current concurrency limit, by inference endpoint', ['endpoint'], () => states().map((s) => [{ endpoint: s.url }, s.limit] as const));
  gauge('gemflow_llm_endpoint_ejected', '1 when the circuit breaker has ejected the endpoint', ['endpoint'], () => states().map((s) => [{ endpoint: s.url }, s.ejected ? 1 : 0] as const));
  gauge('gemflow_llm_latency_ewma_seconds', 'Moving average latency of successful responses, by endpoint', ['endpoint'], () =>
    states().flatMap((s) => (s.latencyEwmaMs === undefined ? [] : [[{ endpoint: s.url }, s.latencyEwmaMs / 1000] as const])),
  );
  gauge('gemflow_llm_requests_waiting', 'LLM calls waiting for a free slot on any endpoint', [], () => one(llm.waiting));
  const discovery = llm.discovery ? () => llm.discovery!() : undefined;
  if (discovery) {
    gauge('gemflow_llm_discovered_replica', '1 per replica found through DNS, by source (the discover URL) and state (adding, live, draining)', ['source', 'endpoint', 'state'], () =>
      discovery().flatMap((d) => d.replicas.map((r) => [{ source: d.source, endpoint: r.url, state: r.state }, 1] as const)),
    );
    counter('gemflow_llm_discovery_resolutions_total', 'DNS resolutions of each discover source, by outcome (failed: the last good set was kept)', ['source', 'outcome'], () =>
      discovery().flatMap((d) => [[{ source: d.source, outcome: 'ok' }, d.resolutions - d.failedResolutions] as const, [{ source: d.source, outcome: 'failed' }, d.failedResolutions] as const]),
    );
    counter('gemflow_llm_discovery_replica_changes_total', 'Replicas added and removed (after draining) by each discover source', ['source', 'change'], () =>
      discovery().flatMap((d) => [[{ source: d.source, change: 'added' }, d.added] as const, [{ source: d.source, change: 'removed' }, d.removed] as const]),
    );
  }
  const replicas = llm.replicas ? () => llm.replicas!() : undefined;
  if (!replicas) return;
  // The server-side view the controller steers by (absent series: the server does not export that gauge).
  const serverGauge = (name: string, help: string, pick: (r: ReplicaReport) => number | undefined) =>
    gauge(name, help, ['endpoint'], () => replicas().flatMap((r) => (pick(r) === undefined ? [] : [[{ endpoint: r.url }, pick(r)!] as const])));
  serverGauge('gemflow_llm_server_requests_running', "Requests running on the replica, from its own /metrics (vllm:num_requests_running)", (r) => r.gauges?.running);
  serverGauge('gemflow_llm_server_requests_waiting', "Requests queued in the replica, from its own /metrics (vllm:num_requests_waiting)", (r) => r.gauges?.waiting);
  serverGauge('gemflow_llm_server_kv_cache_usage', "The replica's KV-cache usage in [0, 1], from its own /metrics", (r) => r.gauges?.kvCacheUsage);
  serverGauge('gemflow_llm_server_gauges_available', '1 when the replica exports vLLM gauges, 0 when it does not (latency control only)', (r) =>
    r.gaugesAvailable === undefined ? undefined : r.gaugesAvailable ? 1 : 0,
  );
  counter('gemflow_llm_metrics_scrape_errors_total', "Failed scrapes of the replica's /metrics", ['endpoint'], () => replicas().map((r) => [{ endpoint: r.url }, r.scrapeErrors] as const));
  gauge('gemflow_llm_replica_limit', "gemflow's concurrency limit for the replica and why it was last set", ['endpoint', 'reason'], () =>
    replicas().map((r) => [{ endpoint: r.url, reason: r.reason }, r.limit] as const),
  );
}

/**
 * Lag of a consumer group per partition: the partition's high watermark minus the group's committed
 * offset (minus the low watermark when the group has committed nothing yet). The same quantity the
 * KEDA Kafka scaler scales on.
 */
export async function consumerGroupLag(admin: Admin, groupId: string, topics: string[]): Promise<ConsumerLag[]> {
  const committed = await admin.fetchOffsets({ groupId, topics });
  const out: ConsumerLag[] = [];
  for (const { topic, partitions } of committed) {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p]));
    for (const { partition, offset } of partitions) {
      const end = ends.get(partition);
      if (!end) continue;
      const from = Number(offset) >= 0 ? Number(offset) : Number(end.low);
      out.push({ topic, partition, lag: Math.max(0, Number(end.high) - from) });
    }
  }
  return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}
