import { z } from 'zod';

/**
 * The pipeline file, validated with zod. Unknown keys are errors (strictObject everywhere). Keys are
 * camelCase with unit suffixes. `npm run build && node bin/gemflow.js schema` prints the JSON Schema.
 */

const FileSource = z.strictObject({
  type: z.literal('files'),
  /** Files or globs: .jsonl, .jsonl.gz, .parquet; or `s3://bucket/prefix` (every such object under it) */
  paths: z.array(z.string().min(1)).min(1),
  idField: z.string().default('id'),
  textField: z.string().default('text'),
  /** Records larger than this are dead-lettered (code record_too_large). */
  maxRecordBytes: z.number().int().positive().default(4 * 1024 * 1024),
});

const KafkaSource = z.strictObject({
  type: z.literal('kafka'),
  brokers: z.array(z.string().min(1)).min(1),
  topics: z.array(z.string().min(1)).min(1),
  groupId: z.string().min(1),
  clientId: z.string().default('gemflow'),
  fromBeginning: z.boolean().default(true),
  idField: z.string().default('id'),
  textField: z.string().default('text'),
  maxRecordBytes: z.number().int().positive().default(4 * 1024 * 1024),
  commitIntervalMs: z.number().int().positive().default(1000),
  /**
   * Records of one partition read but not yet committed. Commits follow durable shards, so this must
   * exceed what a partition writes within sink.maxAgeMs, or the partition stalls until its shard rolls;
   * it bounds the work a crash replays (the LLM cache makes that replay cheap), not memory: memory is
   * bounded by queueCapacity.
   */
  maxInFlightPerPartition: z.number().int().positive().default(50000),
  /**
   * A member that sends no heartbeat for this long is dropped and its partitions move (kill -9 to
   * reassignment). The broker refuses values outside group.min/max.session.timeout.ms (6 s - 30 min).
   * Default: the broker's minimum (kill -9 to reassignment ~6 s); a worker whose event loop stalls for
   * that long loses its partitions, so raise it where workers can stall.
   */
  sessionTimeoutMs: z.number().int().positive().default(6000),
  /** How long a rebalance waits for members to rejoin. */
  rebalanceTimeoutMs: z.number().int().positive().default(20000),
  /**
   * After the first assignment, wait this long (and for any rebalance in progress) before starting
   * LLM work, so that workers starting together split the partitions first and none pays for answers
   * on a partition that then moves. Only the group's first member waits: a worker joining a group
   * another member already leads (a restarted or added worker) starts at once. 0 = start at once.
   */
  settleMs: z.number().int().min(0).default(5000),
  /** Passed through to kafkajs. */
  ssl: z.union([z.boolean(), z.record(z.string(), z.unknown())]).optional(),
  sasl: z
    .strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string(),
      password: z.string(),
    })
    .optional(),
  /** Dead-letter topic; when absent, dead letters go to the file dead-letter sink. */
  deadLetterTopic: z.string().optional(),
});

export const SourceConfig = z.discriminatedUnion('type', [FileSource, KafkaSource]);

/** A step's config as written: checked against the step type's own schema when the pipeline is planned (src/steps/registry.ts). */
const StepBlock = z.record(z.string(), z.unknown());

/**
 * One entry of `steps:`: its id (unique; it names the step's metrics, state and dead letters), its
 * type (a built-in step type, or any name with `module:` pointing at a module exporting the type),
 * and the type's own config keys beside them.
 */
export const StepSpecConfig = z.looseObject({
  id: z.string().min(1),
  type: z.string().min(1),
  module: z.string().optional(),
});

/**
 * Structured-output dialect: json_schema (vLLM, SGLang, llama.cpp server), json_object_schema
 * (llama-cpp-python), structured_outputs / guided_json (vLLM extra fields), grammar (TGI), none (the
 * schema in the prompt only), or auto (probed once per endpoint and remembered).
 */
const StructuredOutput = z.enum(['auto', 'json_schema', 'json_object_schema', 'structured_outputs', 'guided_json', 'grammar', 'none']);

/** Settings of one replica; a `discover` entry applies them to each replica it finds. */
const replicaSettings = {
  /** Served model name; defaults to the first model listed by /v1/models. */
  model: z.string().optional(),
  apiKey: z.string().optional(),
  /**
   * Hard upper bound on requests in flight to this endpoint. The adaptive controller sets the actual
   * limit from the server's gauges; keep this above vLLM's --max-num-seqs so a small queue can form.
   */
  maxConcurrency: z.number().int().positive().default(1024),
  /** Where adaptive concurrency starts. */
  initialConcurrency: z.number().int().positive().default(16),
  /** The model's context length in tokens; default: `max_model_len` from the server's /v1/models. */
  maxModelLen: z.number().int().positive().optional(),
  /** How this server takes structured output (see src/llm/structured-output.ts); default: `llm.structuredOutput`. */
  structuredOutput: StructuredOutput.optional(),
};

/** One inference server (a vLLM replica) at a fixed URL. */
export const EndpointConfig = z.strictObject({
  url: z.string().url(),
  ...replicaSettings,
});

/**
 * `dns://NAME:PORT[/path]`: every A and AAAA record of NAME is one replica, served at
 * http://ADDRESS:PORT[/path]. NAME is queried as written (no search domains): use the fully qualified
 * name, e.g. the headless Service `vllm-headless.<namespace>.svc.cluster.local`.
 */
const DiscoverUrl = z.string().superRefine((s, ctx) => {
  const bad = (message: string) => ctx.addIssue({ code: 'custom', message: `${message} (expected dns://NAME:PORT, e.g. dns://vllm-headless.gemflow.svc.cluster.local:8000)` });
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return bad('not a URL');
  }
  if (u.protocol !== 'dns:') return bad(`scheme ${u.protocol.replace(/:$/, '')} is not dns`);
  if (u.username || u.password || u.search || u.hash) return bad('user, query and fragment are not allowed');
  if (!u.port) return bad('the port is required: DNS names addresses, not ports');
  const host = u.hostname;
  if (host === '' || /^[\d.]+$/.test(host) || host.startsWith('[')) return bad(`${host || 'the host'} is not a DNS name (a single address is a url entry)`);
  if (!host.replace(/\.$/, '').includes('.')) return bad(`${host} is not fully qualified: DNS queries do not apply search domains`);
});

/**
 * The replicas behind a DNS name (a Kubernetes headless Service): resolved at start and every
 * `resolveIntervalMs`; new addresses are added, vanished ones drained (no new work, requests in
 * flight finish, then removed). A failed resolution keeps the last good set.
 */
export const DiscoveredEndpointsConfig = z
  .strictObject({
    discover: DiscoverUrl,
    /** Re-resolution period. */
    resolveIntervalMs: z.number().int().positive().default(5000),
    /** DNS servers to ask (`host` or `host:port`); default: the system's (/etc/resolv.conf). */
    dnsServers: z.array(z.string().min(1)).min(1).optional(),
    ...replicaSettings,
  })
  .superRefine((e, ctx) => {
    // Checked here rather than typed as required so that a missing model is reported as such, not as "Invalid input".
    if (e.model === undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'required with discover: replicas come and go, and a worker must know the served model before the first one is up' });
    }
  });

/** An entry of `llm.endpoints`: one replica (`url`) or the replicas a DNS name resolves to (`discover`). */
export const EndpointEntry = z.union([EndpointConfig, DiscoveredEndpointsConfig], {
  error: 'an endpoint needs either url (one replica) or discover (dns://NAME:PORT: every address NAME resolves to is a replica), not both',
});

export const LlmConfig = z.strictObject({
  /**
   * The default step list only (without `steps:`): staged = extract -> ground -> refine (-> judge);
   * synthesize = one call to a distilled synthesizer.
   */
  mode: z.enum(['staged', 'synthesize']).optional(),
  /**
   * The replicas: fixed URLs, DNS names of headless Services (`discover`), or both. Empty: gemflow
   * starts its bundled vLLM simulator (simulated outputs, said so in the run log).
   */
  endpoints: z.array(EndpointEntry).default([]),
  /** Use the bundled simulator (a test double) although the pipeline reads Kafka or writes to s3://. */
  simulate: z.boolean().optional(),
  /** Every endpoint's structured-output dialect unless its own config says; default auto (probed once per endpoint). */
  structuredOutput: StructuredOutput.default('auto'),
  timeoutMs: z.number().int().positive().default(120000),
  maxRetries: z.number().int().min(0).default(4),
  /** Base of the exponential backoff with full jitter (Retry-After wins when the server sends it). */
  retryBaseMs: z.number().int().positive().default(500),
  retryMaxMs: z.number().int().positive().default(30000),
  /** Documents in the LLM stages at once (each schedules its calls independently). */
  maxDocsInFlight: z.number().int().positive().default(256),
  /**
   * A document whose LLM work failed for the infrastructure's reasons (network, replicas down, 5xx /
   * 429 after retries, timeouts) is tried again this many times, after a backoff from
   * documentRetryBaseMs doubling; then the run stops with it uncommitted. Never dead-lettered.
   */
  documentRetries: z.number().int().min(0).default(3),
  documentRetryBaseMs: z.number().int().positive().default(2000),
  /** Most context windows a long document is cut into (staged mode); a longer one is dead-lettered. */
  maxWindows: z.number().int().positive().default(128),
  cache: z
    .strictObject({ enabled: z.boolean().default(true), path: z.string().optional() })
    .default({ enabled: true }),
  /** Stop the run when this fraction of calls fail over the last window (cluster unusable). */
  maxErrorRate: z.number().min(0).max(1).default(0.5),
  errorWindow: z.number().int().positive().default(200),
  /**
   * A call that finds every replica ejected waits this long for one to come back before failing with
   * llm_no_healthy_endpoint (time gemflow's own event loop was stalled does not count).
   */
  noReplicaWaitMs: z.number().int().min(0).default(30000),
  /**
   * Take back requests that a replica's queue would hold far beyond the target wait and send them again
   * (on another replica when one is routable). Needs a server that drops a request whose client closed
   * the connection, as vLLM does; set false for one that keeps generating it (it would run twice).
   */
  requeue: z.boolean().default(true),
  /** GET /health of each replica: every `intervalMs`; `failureThreshold` consecutive failed probes eject it. */
  health: z
    .strictObject({
      intervalMs: z.number().int().positive().default(2000),
      timeoutMs: z.number().int().positive().default(5000),
      failureThreshold: z.number().int().positive().default(3),
    })
    .default({ intervalMs: 2000, timeoutMs: 5000, failureThreshold: 3 }),
  /**
   * Circuit breaker per replica: ejected when at least `minCalls` of the last `window` chat attempts
   * (judged in the order they were sent, so a burst of fast failures cannot outrun the slower
   * successes) have outcomes and `maxFailureRate` of them are the server's failures (network errors,
   * timeouts, 5xx; never 429, 4xx or timeouts caused by gemflow's own stalled event loop). A replica
   * with requests in flight and no answer for max(`hangMinMs`, `hangLatencyFactor` x its mean latency)
   * is probed at once and ejected if the probe fails; its requests move to other replicas.
   */
  breaker: z
    .strictObject({
      window: z.number().int().positive().default(20),
      minCalls: z.number().int().positive().default(10),
      maxFailureRate: z.number().gt(0).max(1).default(0.5),
      hangMinMs: z.number().int().positive().default(10000),
      hangLatencyFactor: z.number().positive().default(10),
    })
    .default({ window: 20, minCalls: 10, maxFailureRate: 0.5, hangMinMs: 10000, hangLatencyFactor: 10 }),
  /**
   * The bundled simulator, started when `endpoints` is empty (a test double: outputs are synthetic).
   * Its capacity model defaults to one H100 serving a 32B model; `timeScale` < 1 runs simulated time
   * faster than the wall clock so the demo finishes in seconds.
   */
  simulator: z
    .strictObject({
      replicas: z.number().int().positive().default(1),
      maxRunningSeqs: z.number().int().positive().optional(),
      prefillTokensPerSec: z.number().positive().optional(),
      decodeTokensPerSec: z.number().positive().optional(),
      maxDecodeTokensPerSecPerSeq: z.number().positive().optional(),
      timeScale: z.number().positive().default(0.02),
      faultRate: z.number().min(0).max(1).default(0),
      /** The simulated model's context length (prompt + max_tokens); default 32768. */
      maxModelLen: z.number().int().positive().optional(),
      /** Structured-output dialects the simulator speaks (it rejects the others as real servers do); default vLLM's. */
      dialects: z.array(z.enum(['json_schema', 'json_object_schema', 'structured_outputs', 'guided_json', 'grammar'])).min(1).optional(),
      /** Serve GET /health and GET /metrics (false: 404, like llama-cpp-python); default true. */
      health: z.boolean().optional(),
      metrics: z.boolean().optional(),
    })
    .default({ replicas: 1, timeScale: 0.02, faultRate: 0 }),
});

/**
 * The default step list's settings, by step (without `steps:`): each block holds that step type's
 * keys (see `steps`); `enabled` switches refine (default on) and judge (default off).
 */
export const StagesConfig = z.strictObject({
  extract: StepBlock.optional(),
  ground: StepBlock.optional(),
  refine: StepBlock.optional(),
  judge: StepBlock.optional(),
  synthesize: StepBlock.optional(),
});

export const SinkConfig = z.strictObject({
  type: z.literal('parquet').default('parquet'),
  /** Shard file format: Parquet, or Arrow IPC files (`.arrow`); same columns, names and durability. */
  format: z.enum(['parquet', 'arrow']).default('parquet'),
  /** A local directory, or `s3://bucket/prefix` (shards uploaded to object storage, see `s3`). */
  dir: z.string().default('out'),
  maxRows: z.number().int().positive().default(10000),
  maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
  /** A shard open longer than this is closed even if small (Kafka tails). */
  maxAgeMs: z.number().int().positive().default(60000),
  /**
   * The age limit (at most maxAgeMs) of a Kafka partition's first shard after this worker is assigned the
   * partition (start-up or a rebalance, when it replays what the previous owner had not made durable),
   * so work taken over becomes durable, and the commit position moves, within seconds of a takeover.
   */
  firstShardMaxAgeMs: z.number().int().positive().default(5000),
  compression: z.enum(['snappy', 'gzip', 'none']).default('snappy'),
  rowGroupRows: z.number().int().positive().default(1000),
  /**
   * A row group (a record batch in Arrow) is also encoded once its values reach this many bytes (string
   * lengths): the sink holds one row group per open shard, and encoding it briefly takes ~4 x its size
   * in buffers (UTF-8 copies, pages, compression), so the bound is in bytes, not rows (1,000 rows of
   * conversations were 8 MB; long documents make more).
   */
  rowGroupBytes: z.number().int().positive().default(1024 * 1024),
});

/**
 * Object storage for `s3://bucket/prefix` sink directories and source paths. Credentials always come
 * from the AWS SDK's default chain (environment, profile, web identity), never from this file.
 */
export const S3Config = z.strictObject({
  /** S3-compatible endpoint (MinIO: http://host:9000); default: AWS, or AWS_ENDPOINT_URL_S3 when set. */
  endpoint: z.string().url().optional(),
  /** Default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1. */
  region: z.string().min(1).optional(),
  /** `endpoint/bucket/key` addressing. Default: on when a custom endpoint is configured, else off. */
  forcePathStyle: z.boolean().optional(),
  /** Multipart part size of shard uploads (S3's minimum is 5 MiB). Memory: partSizeBytes x uploadConcurrency. */
  partSizeBytes: z.number().int().min(5 * 1024 * 1024).default(8 * 1024 * 1024),
  /** Parts of one shard uploaded at once. */
  uploadConcurrency: z.number().int().positive().default(4),
});

/**
 * Where dedupe fingerprints and the LLM cache live. `sqlite` (default): a file under stateDir, for one
 * process. `redis`: a Redis-protocol server (Redis >= 6.2, Valkey, a managed cache in non-cluster mode)
 * shared by every worker of a consumer group, so the same document on two partitions is processed
 * once and a partition's new owner finds the answers its old owner paid for. See README "Shared state".
 */
export const StateConfig = z.strictObject({
  backend: z.enum(['sqlite', 'redis']).default('sqlite'),
  /** redis://[user:password@]host:port[/db] or rediss:// (TLS); required with backend redis. */
  url: z.string().min(1).optional(),
  /** Prefix of every key: pipelines whose dedupe must not see each other use different prefixes. */
  keyPrefix: z.string().default('gemflow:'),
  /** TTL of dedupe fingerprints (0: none): a copy arriving later than this is not recognised. */
  dedupeTtlSeconds: z.number().int().min(0).default(30 * 86400),
  /** TTL of cached LLM answers (0: none). */
  cacheTtlSeconds: z.number().int().min(0).default(7 * 86400),
  /** A state command without a reply after this long fails (an infrastructure failure: retried, then the run stops). */
  timeoutMs: z.number().int().positive().default(5000),
});

export const PipelineConfig = z.strictObject({
  source: SourceConfig,
  /**
   * The pipeline: steps in order, from documents to rows. Default: GEM's list (relevance,
   * dedupe-documents, extract, ground, refine, [judge], validate, dedupe-trajectories, stats), set up
   * by `relevance`, `dedupe`, `stages` and `llm.mode`; with `steps`, those keys are not used.
   */
  steps: z.array(StepSpecConfig).min(1).optional(),
  /** The default list's relevance step (keys of step type relevance: threshold, threads, batchSize, lingerMs). */
  relevance: StepBlock.optional(),
  /** The default list's document dedupe step (keys of step type dedupe-documents: nearDuplicate, jaccardThreshold). */
  dedupe: StepBlock.optional(),
  llm: LlmConfig.default(() => LlmConfig.parse({})),
  stages: StagesConfig.optional(),
  /** The default list's decontamination step, placed before stats when set (keys of step type decontaminate). */
  decontaminate: StepBlock.optional(),
  sink: SinkConfig.default(() => SinkConfig.parse({})),
  /** Object storage settings, used when sink.dir or a source path is an s3:// URL. */
  s3: S3Config.default(() => S3Config.parse({})),
  /** Dedupe fingerprints and the LLM cache: embedded SQLite (default) or a shared Redis-protocol server. */
  state: StateConfig.default(() => StateConfig.parse({})),
  /** Checkpoint, caches and dedupe state (a local directory). Default: <sink.dir>/.gemflow, or ./.gemflow next to the pipeline file when sink.dir is s3:// */
  stateDir: z.string().optional(),
  /** Bound of each queue between stages. */
  queueCapacity: z.number().int().positive().default(1024),
  logIntervalMs: z.number().int().positive().default(5000),
  /** Worker endpoints for Kubernetes: /healthz, /readyz, /metrics (Prometheus). Off when absent. */
  server: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(9464),
      /** After SIGTERM: time to finish in-flight LLM work before abandoning it (uncommitted, replayed). */
      drainGraceMs: z.number().int().positive().default(30000),
    })
    .optional(),
}).superRefine((c, ctx) => {
  if (c.state.backend === 'redis' && c.state.url === undefined) {
    ctx.addIssue({ code: 'custom', path: ['state', 'url'], message: 'required with state.backend redis (redis://host:6379 or rediss://...)' });
  }
  if (!c.steps) return;
  // With an explicit step list, the default list's keys would be silently ignored: say where they go.
  const moved: Array<[unknown, (string | number)[], string]> = [
    [c.relevance, ['relevance'], 'on the step of type relevance in steps'],
    [c.dedupe, ['dedupe'], 'on the step of type dedupe-documents in steps'],
    [c.stages, ['stages'], 'on each step in steps (e.g. { id: extract, type: extract, maxWorkflows: 3 })'],
    [c.decontaminate, ['decontaminate'], 'on a step of type decontaminate in steps, before stats'],
    [c.llm.mode, ['llm', 'mode'], 'by listing the steps (synthesize instead of extract, ground, refine)'],
  ];
  for (const [v, path, where] of moved) {
    if (v !== undefined) ctx.addIssue({ code: 'custom', path, message: `not used with steps: set it ${where}` });
  }

});

export type PipelineConfig = z.infer<typeof PipelineConfig>;
export type SourceConfig = z.infer<typeof SourceConfig>;
export type FileSourceConfig = z.infer<typeof FileSource>;
export type KafkaSourceConfig = z.infer<typeof KafkaSource>;
export type LlmConfig = z.infer<typeof LlmConfig>;
export type EndpointConfig = z.infer<typeof EndpointConfig>;
export type DiscoveredEndpointsConfig = z.infer<typeof DiscoveredEndpointsConfig>;
export type EndpointEntry = z.infer<typeof EndpointEntry>;
export type SinkConfig = z.infer<typeof SinkConfig>;
export type S3Config = z.infer<typeof S3Config>;
export type StateConfig = z.infer<typeof StateConfig>;
export type StagesConfig = z.infer<typeof StagesConfig>;
export type StepSpecConfig = z.infer<typeof StepSpecConfig>;
