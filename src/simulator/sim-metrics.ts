import type { CapacitySnapshot } from './capacity-model.js';
import type { FaultKind } from './options.js';

/** Tokens per KV block (vLLM's default block_size), for vllm:cache_config_info. */
const KV_BLOCK_SIZE = 16;

/** GET /sim/stats: what tests and the benchmark read about a simulator's work (simulated seconds). */
export interface SimStats {
  model: string;
  replica: number;
  timeScale: number;
  requests: {
    /** POST /v1/chat/completions received. */
    total: number;
    /** By stage (from the json_schema name; "chat" without one). */
    byStage: Record<string, number>;
    /** By HTTP status answered (hang and reset answer none). */
    byStatus: Record<string, number>;
    byFault: Partial<Record<FaultKind, number>>;
    /** By structured-output dialect of the accepted and rejected requests ("none" without one). */
    byDialect: Record<string, number>;
  };
  /**
   * Generations abandoned because their client went away (the request was aborted on the wire) before
   * the answer: removed from the queue or the running batch, so their remaining tokens are never generated.
   */
  abortedGenerations: number;
  /**
   * Of those, requests abandoned while still waiting in the queue (never admitted). Their wait so far
   * is counted in the queue-time histogram and in queueWaitSec, as a completed request's is.
   */
  abandonedWaiting: number;
  /** First answers spoilt on purpose to fail the stage's checks (options.invalidAnswerRate). */
  invalidAnswers: number;
  /** Generations run to the end after their client had gone (a server with cancelOnDisconnect: false). */
  orphanedGenerations: number;
  /** GET requests by route (/health, /metrics, /v1/models, /version), including those answered 404. */
  routes: Record<string, number>;
  /** Calls by key = sha256 of the request's messages + schema name. */
  calls: {
    /** Distinct keys received. */
    distinct: number;
    /** Keys received more than once (retries included). */
    repeated: number;
    /** Distinct keys given a usable answer (200, finish_reason "stop", no injected fault). */
    answered: number;
    /** Keys given a usable answer more than once: work a content cache should have saved. */
    answeredRepeated: number;
    /** The documents (sha256 prefix of the prompt's document section) of those keys. */
    answeredRepeatedDocs: string[];
  };
  tokens: { prompt: number; generated: number };
  /** Prompt and completion tokens of the requests decoded to the end, in order (the most recent JOB_SAMPLES): the workload, for saturatedOutputTokensPerSec. */
  jobs: Array<[number, number]>;
  /** Output tokens decoded so far, counted per step (as /metrics' generation_tokens_total). */
  decodedTokens: number;
  /** Simulated seconds the KV cache held the queue back while batch slots were free (CapacitySnapshot.kvBlockedSec). */
  kvBlockedSec: number;
  /** Running requests preempted for KV space (CapacitySnapshot.preemptions; 'incremental' KV allocation only). */
  preemptions: number;
  capacity: {
    /** Output tokens per simulated second at full batch. */
    maxOutputTokensPerSec: number;
    maxRunningSeqs: number;
    kvCacheTokens: number;
  };
  running: number;
  waiting: number;
  kvCacheUsage: number;
  /** Simulated seconds with at least one request running. */
  busySec: number;
  simNowSec: number;
  queueWaitSec: { count: number; p50: number; p99: number };
  /** Time to first token: arrival to the end of prefill (the simulator answers whole, so a streaming client would see its first token then). */
  ttftSec: { count: number; p50: number; p99: number };
}

/** vLLM's bucket bounds for vllm:request_queue_time_seconds. */
const QUEUE_TIME_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
/** vLLM's bucket bounds for vllm:time_to_first_token_seconds. */
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];

/** A Prometheus histogram plus the most recent values for exact percentiles. */
class Histogram {
  private readonly counts: number[];
  private sum = 0;
  count = 0;
  private readonly samples = new Float64Array(QUEUE_SAMPLES);

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(v: number): void {
    const i = this.bounds.findIndex((b) => v <= b);
    if (i >= 0) this.counts[i]!++;
    this.sum += v;
    this.samples[this.count % QUEUE_SAMPLES] = v;
    this.count++;
  }

  percentiles(): { count: number; p50: number; p99: number } {
    const sorted = Array.from(this.samples.subarray(0, Math.min(this.count, QUEUE_SAMPLES))).sort((a, b) => a - b);
    return { count: this.count, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  }

  lines(name: string, label: string): string[] {
    let cumulative = 0;
    return [
      ...this.bounds.map((b, i) => `${name}_bucket{le="${b}",${label}} ${(cumulative += this.counts[i]!)}`),
      `${name}_bucket{le="+Inf",${label}} ${this.count}`,
      `${name}_sum{${label}} ${this.sum}`,
      `${name}_count{${label}} ${this.count}`,
    ];
  }
}
/** Queue waits kept for the percentiles (the most recent ones). */
const QUEUE_SAMPLES = 100_000;
/** Job sizes kept (the most recent ones). */
const JOB_SAMPLES = 20_000;

/** Counters behind /metrics and /sim/stats. */
export class SimMetrics {
  private total = 0;
  private readonly byStage = new Map<string, number>();
  private readonly byStatus = new Map<string, number>();
  private readonly byFault = new Map<FaultKind, number>();
  private readonly seen = new Map<string, number>();
  private readonly answered = new Map<string, number>();
  private promptTokens = 0;
  private generatedTokens = 0;
  private readonly jobs: Array<[number, number]> = [];
  private readonly successByReason = new Map<string, number>();
  private readonly queueTime = new Histogram(QUEUE_TIME_BUCKETS);
  private readonly ttft = new Histogram(TTFT_BUCKETS);

  private abortedGenerations = 0;
  private abandonedWaiting = 0;
  private invalidAnswers = 0;
  private orphanedGenerations = 0;
  private readonly byDialect = new Map<string, number>();
  private readonly routes = new Map<string, number>();

  constructor(private readonly model: string) {}

  /** A generation was dropped because its client closed the connection. */
  aborted(): void {
    this.abortedGenerations++;
  }

  /** A request left the queue unadmitted because its client went away, after waiting `queuedSec`. */
  abandonedWhileWaiting(queuedSec: number): void {
    this.abandonedWaiting++;
    this.queueTime.observe(queuedSec);
  }

  /** A first answer was spoilt on purpose (it needs a repair turn). */
  invalidAnswer(): void {
    this.invalidAnswers++;
  }

  /** A generation finished although its client had closed the connection. */
  orphaned(): void {
    this.orphanedGenerations++;
  }

  dialect(d: string): void {
    bump(this.byDialect, d);
  }

  route(path: string): void {
    bump(this.routes, path);
  }

  /** A chat request arrived; `key` and `stage` once its body parsed. */
  request(key?: string, stage?: string): void {
    this.total++;
    if (stage !== undefined) bump(this.byStage, stage);
    if (key !== undefined) bump(this.seen, key);
  }

  status(code: number): void {
    bump(this.byStatus, String(code));
  }

  fault(kind: FaultKind): void {
    bump(this.byFault, kind);
  }

  /** A request decoded to the end (whatever its content): tokens, success and queue time. */
  completed(promptTokens: number, completionTokens: number, finishReason: string, queueSec: number, firstTokenSec: number): void {
    this.promptTokens += promptTokens;
    this.generatedTokens += completionTokens;
    this.jobs.push([promptTokens, completionTokens]);
    if (this.jobs.length > JOB_SAMPLES) this.jobs.shift();
    bump(this.successByReason, finishReason);
    this.queueTime.observe(queueSec);
    this.ttft.observe(firstTokenSec);
  }

  private readonly keyDocs = new Map<string, string>();

  /** A usable answer was sent for `key` (about the document with hash `doc`, when there is one). */
  answeredKey(key: string, doc?: string): void {
    bump(this.answered, key);
    if (doc !== undefined) this.keyDocs.set(key, doc);
  }

  stats(base: Pick<SimStats, 'replica' | 'timeScale' | 'capacity'>, snap: CapacitySnapshot): SimStats {
    return {
      model: this.model,
      ...base,
      requests: {
        total: this.total,
        byStage: Object.fromEntries(this.byStage),
        byStatus: Object.fromEntries(this.byStatus),
        byFault: Object.fromEntries(this.byFault),
        byDialect: Object.fromEntries(this.byDialect),
      },
      abortedGenerations: this.abortedGenerations,
      abandonedWaiting: this.abandonedWaiting,
      invalidAnswers: this.invalidAnswers,
      orphanedGenerations: this.orphanedGenerations,
      routes: Object.fromEntries(this.routes),
      calls: {
        distinct: this.seen.size,
        repeated: countAbove1(this.seen),
        answered: this.answered.size,
        answeredRepeated: countAbove1(this.answered),
        answeredRepeatedDocs: [...new Set([...this.answered].filter(([, n]) => n > 1).flatMap(([k]) => this.keyDocs.get(k) ?? []))],
      },
      tokens: { prompt: this.promptTokens, generated: this.generatedTokens },
      jobs: [...this.jobs],
      decodedTokens: snap.decodedTokens,
      kvBlockedSec: snap.kvBlockedSec,
      preemptions: snap.preemptions,
      running: snap.running,
      waiting: snap.waiting,
      kvCacheUsage: snap.kvCacheUsage,
      busySec: snap.busySec,
      simNowSec: snap.simNowSec,
      queueWaitSec: this.queueTime.percentiles(),
      ttftSec: this.ttft.percentiles(),
    };
  }

  /** Prometheus text exposition with vLLM's metric names and `model_name` label. */
  prometheus(snap: CapacitySnapshot, kvCacheTokens: number): string {
    const label = `model_name="${this.model.replace(/["\\\n]/g, '_')}"`;
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric('vllm:num_requests_running', 'gauge', 'Number of requests in model execution batches.', [`vllm:num_requests_running{${label}} ${snap.running}`]);
    metric('vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.', [`vllm:num_requests_waiting{${label}} ${snap.waiting}`]);
    metric('vllm:gpu_cache_usage_perc', 'gauge', 'GPU KV-cache usage. 1 means 100 percent usage.', [`vllm:gpu_cache_usage_perc{${label}} ${snap.kvCacheUsage}`]);
    metric('vllm:kv_cache_usage_perc', 'gauge', 'KV-cache usage. 1 means 100 percent usage.', [`vllm:kv_cache_usage_perc{${label}} ${snap.kvCacheUsage}`]);
    metric('vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.', [`vllm:prompt_tokens_total{${label}} ${this.promptTokens}`]);
    // Counted per decode step as vLLM does (not per finished request, which lags a long generation's tokens until its end).
    metric('vllm:generation_tokens_total', 'counter', 'Number of generation tokens processed.', [`vllm:generation_tokens_total{${label}} ${Math.round(snap.decodedTokens)}`]);
    // vLLM's cache configuration as an info gauge: the KV cache's size is num_gpu_blocks x block_size tokens.
    metric('vllm:cache_config_info', 'gauge', 'Information of the LLMEngine CacheConfig', [`vllm:cache_config_info{block_size="${KV_BLOCK_SIZE}",num_gpu_blocks="${Math.floor(kvCacheTokens / KV_BLOCK_SIZE)}"} 1`]);
    metric('vllm:num_preemptions_total', 'counter', 'Cumulative number of preemptions from the engine.', [`vllm:num_preemptions_total{${label}} ${snap.preemptions}`]);
    metric('sim:kv_blocked_seconds_total', 'counter', 'Simulated seconds the KV cache held the queue back while batch slots were free (simulator only).', [`sim:kv_blocked_seconds_total{${label}} ${snap.kvBlockedSec}`]);
    metric(
      'vllm:request_success_total',
      'counter',
      'Count of successfully processed requests.',
      ['stop', 'length'].map((r) => `vllm:request_success_total{finished_reason="${r}",${label}} ${this.successByReason.get(r) ?? 0}`),
    );
    metric('vllm:request_queue_time_seconds', 'histogram', 'Histogram of time spent in WAITING phase for request.', this.queueTime.lines('vllm:request_queue_time_seconds', label));
    metric('vllm:time_to_first_token_seconds', 'histogram', 'Histogram of time to first token in seconds.', this.ttft.lines('vllm:time_to_first_token_seconds', label));
    return out.join('\n') + '\n';
  }
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function countAbove1(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) if (v > 1) n++;
  return n;
}

/** Nearest-rank percentile of sorted values; 0 when empty. */
function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
