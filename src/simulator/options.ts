import type { KvAllocation } from './capacity-model.js';

/**
 * Options of the bundled vLLM simulator (a test double: no model runs, answers are derived from the
 * prompt by rules). Rates and sizes are in simulated time; `timeScale` maps them to wall-clock time.
 *
 * Capacity model (continuous batching, after vLLM's scheduler):
 * - At most `maxRunningSeqs` requests run at once; the rest wait in one FIFO queue. The head of the
 *   queue is admitted when a slot is free and its KV-cache reservation (prompt + completion tokens)
 *   fits in `kvCacheTokens` next to the reservations of the running requests. Nothing is preempted.
 *   A request that could never fit is refused with 400, as vLLM refuses a too-long context.
 * - A running request first prefills its prompt: `prefillTokensPerSec` goes to the requests
 *   prefilling in the order they were admitted, each taking what it still needs (vLLM's scheduler
 *   spends each step's token budget in that order, chunked prefill), so of a burst admitted together
 *   the first decodes after its own prefill, not after the whole burst's. Then it decodes its
 *   completion: `decodeTokensPerSec` is the aggregate decode rate shared by the decoding requests, and each gets at most
 *   `maxDecodeTokensPerSecPerSeq`. Throughput therefore grows with the batch size until
 *   batch x per-sequence cap reaches the aggregate rate. Prefill and decode have separate budgets (a
 *   simplification of chunked prefill sharing the GPU).
 * - KV-cache usage (the `vllm:gpu_cache_usage_perc` gauge) = tokens reserved by running requests
 *   (prompt + whole completion) / `kvCacheTokens`: the same figure admission checks, so the gauge tells
 *   a client when the server is full. (vLLM allocates blocks as sequences grow and preempts when they run
 *   out; whole-request reservation is a tighter, simpler stand-in.)
 * - `kvAllocation: 'incremental'` models vLLM's allocation instead: a request is admitted when its
 *   prompt fits, holds prompt + the tokens decoded so far, and when the running requests' growth
 *   exceeds the cache the newest running one is preempted (recompute: its KV freed, back to the front
 *   of the queue, prompt + output so far prefilled again when readmitted), counted by
 *   `vllm:num_preemptions_total`. The usage gauge is then the tokens held. Queue time stays the wait
 *   before the first admission.
 * - The model advances in ticks of `tickMs` simulated milliseconds; the answer is sent when decoding
 *   finishes. Queue time is the simulated time from arrival to admission.
 *
 * Defaults are assumptions resembling one H100 80GB serving a 32B model in bf16 with vLLM: 256
 * running sequences (vLLM's default max_num_seqs), ~2,500 output tokens/s aggregate decode, ~40
 * tokens/s per sequence, ~10,000 prompt tokens/s prefill, ~400,000 tokens of KV cache. They are not
 * measurements.
 */

/** Injectable failures of /v1/chat/completions. */
export type FaultKind =
  /** 429 with a Retry-After header. */
  | 'rate_limit'
  /** 500 with an OpenAI-shaped error body. */
  | 'server_error'
  /** 503 with an OpenAI-shaped error body. */
  | 'unavailable'
  /** The request is accepted and never answered (until the client gives up or the server closes). */
  | 'hang'
  /** 200, but the message content is not valid JSON. */
  | 'malformed'
  /** 200 with finish_reason "length" and the content cut short. */
  | 'length'
  /** The TCP connection is destroyed without a response. */
  | 'reset';

export const FAULT_KINDS: readonly FaultKind[] = ['rate_limit', 'server_error', 'unavailable', 'hang', 'malformed', 'length', 'reset'];

export interface FaultConfig {
  /** Probability per request of each fault kind (their sum must be at most 1). */
  rates?: Partial<Record<FaultKind, number>>;
  /** A total fault probability spread evenly over `kinds` (default: all kinds), added to `rates`. */
  totalRate?: number;
  kinds?: FaultKind[];
  /** Retry-After header value (seconds) sent with 429. Default 1. */
  retryAfterSec?: number;
  /** When true, GET /health answers 503. */
  unhealthy?: boolean;
  /**
   * When true, the replica hangs completely: it accepts connections and requests and never answers
   * any (chat completions, /health, /v1/models, /metrics), like a wedged server. /sim/stats still
   * answers. Hung requests are answered 503 by close().
   */
  hung?: boolean;
}

export interface SimulatorOptions {
  /** Port on `host`; 0 picks a free one. */
  port: number;
  /** Address to listen on; default 127.0.0.1 (any 127.0.0.x is loopback on Linux: several replicas can share a port). */
  host: string;
  /** The served model name; any other name gets 404. */
  model: string;
  maxRunningSeqs: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  maxDecodeTokensPerSecPerSeq: number;
  kvCacheTokens: number;
  /** How running requests hold KV cache: 'reserve' (default) or 'incremental' (vLLM's block allocation with preemption); see above. */
  kvAllocation: KvAllocation;
  /**
   * The model's context length (vLLM's max_model_len), reported by /v1/models: a request whose prompt
   * tokens + max_tokens exceed it gets 400 with vLLM's message, before any scheduling or fault roll.
   */
  maxModelLen: number;
  /** Length of one scheduler step in simulated milliseconds. */
  tickMs: number;
  /** Wall-clock seconds per simulated second: 1 = real time, 0.01 = a hundred times faster. */
  timeScale: number;
  /** Seeds content generation and fault rolls. */
  seed: number;
  /** Index of this replica in a cluster: varies the fault rolls (not the content) between replicas. */
  replica: number;
  faults: FaultConfig;
  /** Probability that a judge answer fails one of its verdicts. */
  judgeFailRate: number;
  /**
   * Probability that a stage's first answer is well-formed JSON that matches the schema but fails the
   * stage's own checks (an extracted tool name not in snake_case; a trajectory that calls a tool it does
   * not define), as real models' answers sometimes do under structured output: the client's repair turn
   * (which the simulator always answers validly) costs one more call. Default 0.
   */
  invalidAnswerRate: number;
  /** Largest accepted request body in bytes (413 beyond). */
  maxBodyBytes: number;
  /**
   * Structured-output dialects spoken (see src/llm/structured-output.ts); a request in another is
   * rejected the way the server that lacks it does: `json_schema` unspoken -> HTTP 500 "Input should be
   * 'text' or 'json_object'" (llama-cpp-python); other response_format types -> 400 naming the allowed
   * types; structured_outputs / guided_json unspoken -> 400 "Extra inputs are not permitted" (a strict
   * OpenAI-compatible server). A request without structured output is always answered (dialect
   * `none`). Default: vLLM's (json_schema, structured_outputs, guided_json).
   */
  dialects: SimulatorDialect[];
  /** `owned_by` in /v1/models; default "gemflow-simulator" when json_schema is spoken, else "me" (as llama-cpp-python says). */
  ownedBy?: string;
  /** Serve GET /health (false: 404, like llama-cpp-python). */
  health: boolean;
  /** Serve GET /metrics (false: 404). */
  metrics: boolean;
  /**
   * Drop a request's generation when its client disconnects (vLLM does). False: keep generating it to
   * the end and throw the answer away, like servers that do not cancel abandoned work; such
   * generations are counted as `orphanedGenerations`.
   */
  cancelOnDisconnect: boolean;
}

/**
 * What `POST /_sim/config` (and SimulatorHandle.configure) can change while the replica runs: its
 * capacity (see CapacityModel.reconfigure), its faults, its rate of invalid answers, and whether it is
 * down. A replica that goes down loses everything queued and running and resets every connection (a
 * pod that died: clients see resets, nothing is answered) until it is brought back up; only the
 * `/_sim/*` and `/sim/stats` routes answer meanwhile.
 */
export interface SimulatorRuntimeConfig {
  maxRunningSeqs?: number;
  prefillTokensPerSec?: number;
  decodeTokensPerSec?: number;
  maxDecodeTokensPerSecPerSeq?: number;
  kvCacheTokens?: number;
  faults?: FaultConfig;
  invalidAnswerRate?: number;
  down?: boolean;
}

export type SimulatorDialect = 'json_schema' | 'json_object_schema' | 'structured_outputs' | 'guided_json' | 'grammar';

export const DEFAULT_SIMULATOR_OPTIONS: SimulatorOptions = {
  port: 0,
  host: '127.0.0.1',
  model: 'gemflow-sim-32b',
  maxRunningSeqs: 256,
  prefillTokensPerSec: 10_000,
  decodeTokensPerSec: 2_500,
  maxDecodeTokensPerSecPerSeq: 40,
  kvCacheTokens: 400_000,
  kvAllocation: 'reserve',
  maxModelLen: 32_768,
  tickMs: 10,
  timeScale: 1,
  seed: 0,
  replica: 0,
  faults: {},
  judgeFailRate: 0,
  invalidAnswerRate: 0,
  maxBodyBytes: 16 * 1024 * 1024,
  dialects: ['json_schema', 'structured_outputs', 'guided_json'],
  health: true,
  metrics: true,
  cancelOnDisconnect: true,
};

/** What the simulator calls itself in /v1/models (`owned_by`) when it speaks json_schema: how a run knows its endpoint is the simulator. */
export const SIMULATOR_OWNED_BY = 'gemflow-simulator';
