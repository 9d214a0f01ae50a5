import { performance } from 'node:perf_hooks';
import type { DiscoveredEndpointsConfig, EndpointConfig } from '../config/schema.js';
import { GemflowError, errorCode, errorMessage, isInfrastructureFailure } from '../errors.js';
import { onAbort } from '../abort.js';
import { AdaptiveController, type AdaptiveOptions, type ReplicaReport } from './adaptive-controller.js';
import type { AnswerLease, ResponseCache } from './cache.js';
import { DnsReplicaDiscovery, type DiscoveryReport } from './discovery.js';
import { Endpoint, EndpointScheduler, type RequestOutcome } from './endpoint.js';
import { stallAwareTimeout } from './loop-stall.js';
import { describeNetworkError, networkErrno } from './network-errors.js';
import { aborted, parseRetryAfter, sleep, withRetries, type RetryInfo, type RetryPolicy } from './retry.js';
import { PROBE_ORDER, dialectOfIdentity, structuredRequest, type StructuredOutputDialect, type StructuredOutputSetting } from './structured-output.js';
import { estimatePromptTokens } from './tokens.js';
import type { ChatRequest, ChatResult, InferenceClient } from './types.js';

export interface ChatOptions {
  /** Do not answer from the cache (the caller rejected the cached answer). */
  skipCache?: boolean;
}

/**
 * An InferenceClient that also takes part in response caching: runStage uses `skipCache` and
 * `remember` when the client offers them. (Any plain InferenceClient is assignable to this type.)
 */
export interface StageClient {
  chat(req: ChatRequest, opts?: ChatOptions): Promise<ChatResult>;
  /** Caches an answer the caller checked (complete, parseable, valid). */
  remember?(req: ChatRequest, result: ChatResult): void | Promise<void>;
}

/** Token and error accounting of one stage. Tokens count GPU work only (cache hits add none). */
export interface StageUsage {
  calls: number;
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
  /**
   * Failed attempts by code (a retried call can add several), plus one `llm_exhausted` per call that
   * ran out of retries, one `llm_aborted` per call its caller aborted, and one
   * `llm_no_healthy_endpoint` per call that found every replica ejected.
   */
  errors: Record<string, number>;
  /** Requests taken back from a replica that would have queued them too long, and sent again (not failures). */
  requeued: number;
  /** Calls that waited for an answer another worker was making (shared state store), instead of paying for it. */
  waitedForOther: number;
}

export interface HttpInferenceClientOptions {
  endpoints: EndpointConfig[];
  /** Replicas behind DNS names (headless Services), added and drained as the names resolve (see discovery.ts). */
  discover?: DiscoveredEndpointsConfig[];
  /** Per attempt, from taking a slot to the last byte of the answer. */
  timeoutMs: number;
  maxRetries: number;
  /** Full-jitter backoff base; default 500 ms. */
  retryBaseMs?: number;
  /** Cap on one wait between attempts, Retry-After included; default 30 s. */
  retryMaxMs?: number;
  cache?: ResponseCache;
  /** Observes each retry (for logs and metrics): which stage and endpoint failed, how, and the wait. */
  onRetry?: (info: RetryInfo & { stage: string; endpoint: string }) => void;
  /**
   * Adaptive per-replica concurrency from /metrics gauges, latency and 429/503, plus a circuit breaker
   * per replica (see adaptive-controller.ts). Default on; false keeps every limit where it is set.
   */
  adaptive?: boolean | AdaptiveOptions;
  /**
   * How long a call waits for a replica to be readmitted when every one is ejected, before failing
   * with `llm_no_healthy_endpoint`; default 30 s (0: fail at once).
   */
  noReplicaWaitMs?: number;
  /**
   * How requests ask for structured output, unless an endpoint's config says (see
   * structured-output.ts); default `auto`: probed once per endpoint at start and remembered.
   */
  structuredOutput?: StructuredOutputSetting;
  /** Things an operator should know once (the dialect chosen, a server without /metrics or /health). */
  onNotice?: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
}

/** Weight of the newest answer in a stage's mean completion length. */
const COMPLETION_ALPHA = 0.05;

/** Reroutes of one attempt (its replica ejected under it) that do not spend the retry budget. */
const MAX_FREE_REROUTES = 8;
/** How often a call waiting for another worker's answer looks again (jittered 0.5-1.5x). */
const LEASE_POLL_MS = 250;

/**
 * The vLLM / OpenAI-compatible client: POST /v1/chat/completions with structured output, over one
 * undici Pool per endpoint. Each call is answered from the cache when possible; otherwise it takes a
 * slot on the endpoint with the most headroom (waiting in a queue when all are full), and failed
 * attempts (429, 5xx, network errors, timeouts, unparseable bodies) are retried with backoff,
 * on another endpoint when there is one. Unless `adaptive` is false, an AdaptiveController steers each endpoint's
 * limit and ejects failing replicas from start() to close(); replicas can be added and removed at run time.
 */
export class HttpInferenceClient implements InferenceClient, StageClient {
  readonly #scheduler: EndpointScheduler;
  readonly #opts: HttpInferenceClientOptions;
  readonly #policy: RetryPolicy;
  readonly #usage = new Map<string, StageUsage>();
  readonly #adaptive: AdaptiveController | undefined;
  readonly #discoveries: DnsReplicaDiscovery[];
  #started: Promise<void> | undefined;
  #modelKnown: Promise<void> | undefined;
  #model: string | undefined;
  #lastFailure: GemflowError | undefined;
  /** Mean completion tokens of each stage's answers (an EWMA), for KV-cache estimates. */
  readonly #completionMean = new Map<string, number>();
  /**
   * The server's prompt tokens over estimatePromptTokens' (an average of the answers' usage). A
   * request's KV estimate is its prompt so scaled plus its stage's mean completion (max_tokens until
   * one is known): the adaptive controller compares the requests about to go with those running
   * (controlLaw's kvFit) and, where the server states its KV cache's size, projects its usage to their
   * stationary sizes (ControlInput.kvProjected), which needs the server's tokens.
   */
  #promptScale: number | undefined;

  constructor(opts: HttpInferenceClientOptions) {
    if (opts.endpoints.length === 0 && !opts.discover?.length) throw new GemflowError('config_invalid', 'HttpInferenceClient needs at least one endpoint');
    this.#opts = opts;
    this.#policy = { maxRetries: opts.maxRetries, baseMs: opts.retryBaseMs ?? 500, maxMs: opts.retryMaxMs ?? 30_000 };
    this.#scheduler = new EndpointScheduler(
      opts.endpoints.map((c) => new Endpoint(c)),
      { noReplicaWaitMs: opts.noReplicaWaitMs },
    );
    if (opts.adaptive !== false) {
      const a = opts.adaptive === true || opts.adaptive === undefined ? {} : opts.adaptive;
      this.#adaptive = new AdaptiveController(
        {
          trial: (ep, signal, timeoutMs) => this.#trial(ep, signal, timeoutMs),
          waiting: () => ({ requests: this.#scheduler.waiting, kvTokens: this.#scheduler.waitingKvTokens }),
        },
        { ...a, onNotice: a.onNotice ?? opts.onNotice },
      );
      for (const ep of this.#scheduler.endpoints) this.#adaptive.attach(ep);
    }
    this.#discoveries = (opts.discover ?? []).map((d) => new DnsReplicaDiscovery(d, this, { onNotice: opts.onNotice }));
  }

  /**
   * Learns each endpoint's model from GET /v1/models when the config does not name it (retrying like
   * chat calls do), and checks all endpoints serve the same model; resolves the DNS names of
   * discovered replicas once and adds what they name. Idempotent; chat() calls it.
   */
  start(signal?: AbortSignal): Promise<void> {
    this.#started ??= this.#learnModel(signal).then(
      async () => {
        await Promise.all(this.#discoveries.map((d) => d.start()));
        await this.#adaptive?.start();
      },
      (e: unknown) => {
        this.#started = undefined;
        throw e;
      },
    );
    return this.#started;
  }

  #learnModel(signal?: AbortSignal): Promise<void> {
    this.#modelKnown ??= this.#discover(signal).catch((e: unknown) => {
      this.#modelKnown = undefined;
      throw e;
    });
    return this.#modelKnown;
  }

  /**
   * Adds a replica at run time: learns its model when the config names none (it must be the served
   * model), then routes to it at once; waiting calls take its slots immediately.
   */
  async addEndpoint(config: EndpointConfig, signal?: AbortSignal): Promise<Endpoint> {
    if (this.#scheduler.endpoints.some((ep) => ep.url === config.url)) {
      throw new GemflowError('config_invalid', `endpoint ${config.url} is already in use`);
    }
    await this.#learnModel(signal);
    const ep = new Endpoint(config);
    try {
      await this.#discoverOne(ep, signal);
      if (ep.model !== this.#model) {
        throw new GemflowError('llm_model_mismatch', `${ep.url} serves ${ep.model}, not ${this.#model}; replicas must serve one model`);
      }
    } catch (e) {
      await ep.pool.close();
      throw e;
    }
    this.#adaptive?.attach(ep);
    this.#scheduler.add(ep);
    return ep;
  }

  /**
   * Stops routing to the replica at `url`; resolves once its requests in flight have finished (or
   * failed and moved on to other replicas) and its connections are closed.
   */
  async removeEndpoint(url: string): Promise<void> {
    const ep = this.#scheduler.endpoints.find((e) => e.url === url);
    if (!ep) throw new GemflowError('config_invalid', `no endpoint ${url}`);
    this.#scheduler.remove(ep);
    this.#adaptive?.detach(ep);
    await ep.pool.close();
  }

  /** Each DNS discovery's replicas and counts (empty without `discover`). */
  discovery(): DiscoveryReport[] {
    return this.#discoveries.map((d) => d.report());
  }

  /** The adaptive controller's view of each replica (empty when adaptive is off). */
  replicas(): ReplicaReport[] {
    return this.#adaptive?.report() ?? [];
  }

  /** The served model (after start). */
  get model(): string | undefined {
    return this.#model;
  }

  /** The live endpoints: read their state, or set `limit` to steer concurrency. */
  endpoints(): readonly Endpoint[] {
    return this.#scheduler.endpoints;
  }

  /** Calls waiting for a slot on any endpoint. */
  get waiting(): number {
    return this.#scheduler.waiting;
  }

  /** Calls waiting because no replica is routable at all (every one ejected); 0 otherwise. */
  get waitingForReplica(): number {
    return this.#scheduler.waitingForReplica;
  }

  /**
   * The model's context length in tokens (prompt + max_tokens must fit), the smallest over the
   * endpoints: each endpoint's `maxModelLen` config, else `max_model_len` from its /v1/models (known
   * after start()). Undefined when no endpoint says. Estimate prompts with `estimateTokens`.
   */
  get contextTokens(): number | undefined {
    const lens = this.#scheduler.endpoints.map((ep) => ep.maxModelLen).filter((n): n is number => n !== undefined);
    return lens.length === 0 ? undefined : Math.min(...lens);
  }

  /**
   * The last failure attributed to the servers (a failed attempt: network error, timeout, 5xx, 429,
   * a replica ejected under a call, or no replica at all), for messages that must name the cause.
   */
  get lastFailure(): GemflowError | undefined {
    return this.#lastFailure;
  }

  usage(): Record<string, StageUsage> {
    return Object.fromEntries([...this.#usage].map(([stage, u]) => [stage, { ...u, errors: { ...u.errors } }]));
  }

  async chat(req: ChatRequest, opts: ChatOptions = {}): Promise<ChatResult> {
    await this.start(req.signal);
    const model = this.#model!;
    const usage = this.#usageOf(req.stage);
    usage.calls++;
    // With a shared store, a missing answer another worker is making (a partition it held moved here)
    // is waited for, not paid again: its lease is renewed while it runs and lapses if that worker dies.
    let lease: AnswerLease | undefined;
    const cache = opts.skipCache ? undefined : this.#opts.cache;
    for (let waited = 0; cache; waited++) {
      const r = await cache.lookup(model, req);
      if (r === 'busy') {
        if (waited === 0) usage.waitedForOther++;
        await sleep(LEASE_POLL_MS * (0.5 + Math.random()), req.signal);
        continue;
      }
      if ('answer' in r) {
        usage.cachedCalls++;
        return { ...r.answer, cached: true, endpoint: 'cache' };
      }
      lease = r.lease;
      break;
    }
    let ok = false;
    try {
      const result = await this.#generate(req, model, usage);
      ok = true;
      return result;
    } finally {
      lease?.end(ok);
    }
  }

  async #generate(req: ChatRequest, model: string, usage: StageUsage): Promise<ChatResult> {
    let previous: Endpoint | undefined;
    // KV-cache tokens the request will hold (see #promptScale, kvTokensInFlight) and, of them, its completion.
    const promptEstimate = estimatePromptTokens(req.messages);
    const completionTokens = Math.min(req.maxTokens, this.#completionMean.get(req.stage) ?? req.maxTokens);
    const kvTokens = Math.round(promptEstimate * (this.#promptScale ?? 1)) + completionTokens;
    try {
      const result = await withRetries(
        async () => {
          for (let reroutes = 0; ; reroutes++) {
            let ep: Endpoint;
            try {
              ep = await this.#scheduler.acquire(req.signal, previous, kvTokens);
            } catch (e) {
              if (errorCode(e) === 'llm_no_healthy_endpoint') this.#lastFailure = e as GemflowError;
              throw e;
            }
            previous = ep;
            ep.completionTokensInFlight += completionTokens;
            const release = (at: Endpoint) => {
              this.#scheduler.release(at, kvTokens);
              at.completionTokensInFlight -= completionTokens;
            };
            const started = performance.now();
            const seq = ep.begin();
            let timedOut = false;
            try {
              const result = await this.#complete(ep, model, req);
              ep.end(seq);
              ep.onOutcome({ ok: true, seq, latencyMs: performance.now() - started, promptTokens: result.promptTokens, completionTokens: result.completionTokens });
              return result;
            } catch (e) {
              ep.end(seq);
              const code = errorCode(e);
              if (code === 'llm_aborted') throw e;
              timedOut = code === 'llm_timeout';
              const ge = e as GemflowError;
              // Taken back from a replica that queued it too long: sent again, not a failure.
              if (ge.detail?.requeued === true && reroutes < MAX_FREE_REROUTES) {
                usage.requeued++;
                continue;
              }
              count(usage.errors, code);
              if (isInfrastructureFailure(e)) this.#lastFailure = ge;
              // Its replica was ejected under it (failing or hanging): move on at once, for free.
              if (code === 'llm_stalled' && ge.detail?.reroute === true && reroutes < MAX_FREE_REROUTES) continue;
              ep.onOutcome({
                ok: false,
                seq,
                latencyMs: performance.now() - started,
                code,
                message: ge.message,
                stalledMs: typeof ge.detail?.stalledMs === 'number' ? ge.detail.stalledMs : undefined,
                errno: typeof ge.detail?.errno === 'string' ? ge.detail.errno : undefined,
              });
              throw e;
            } finally {
              // A server that does not cancel abandoned work keeps generating a request we gave up on:
              // its slot stays taken for about one mean latency, so the retry does not pile on top.
              if (timedOut && ep.latencyEwmaMs !== undefined) setTimeout(() => release(ep), Math.min(ep.latencyEwmaMs, this.#opts.timeoutMs)).unref();
              else release(ep);
            }
          }
        },
        this.#policy,
        { signal: req.signal, onRetry: (info) => this.#opts.onRetry?.({ ...info, stage: req.stage, endpoint: previous!.url }) },
      );
      usage.promptTokens += result.promptTokens;
      usage.completionTokens += result.completionTokens;
      if (promptEstimate > 0 && result.promptTokens > 0) {
        const ratio = result.promptTokens / promptEstimate;
        this.#promptScale = this.#promptScale === undefined ? ratio : this.#promptScale + COMPLETION_ALPHA * (ratio - this.#promptScale);
      }
      const mean = this.#completionMean.get(req.stage);
      this.#completionMean.set(req.stage, mean === undefined ? result.completionTokens : mean + COMPLETION_ALPHA * (result.completionTokens - mean));
      return result;
    } catch (e) {
      // Codes no attempt counted: out of retries, aborted, or no replica to try at all.
      if (['llm_exhausted', 'llm_aborted', 'llm_no_healthy_endpoint'].includes(errorCode(e))) count(usage.errors, errorCode(e));
      throw e;
    }
  }

  async remember(req: ChatRequest, result: ChatResult): Promise<void> {
    if (this.#model !== undefined) await this.#opts.cache?.put(this.#model, req, result);
  }

  /** Stops discovery and the adaptive controller, waits for requests in flight, then closes the connection pools. */
  async close(): Promise<void> {
    await Promise.all(this.#discoveries.map((d) => d.close()));
    await this.#adaptive?.close();
    await Promise.all(this.#scheduler.endpoints.map((ep) => ep.pool.close()));
  }

  async #discover(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.#scheduler.endpoints.map((ep) => this.#discoverOne(ep, signal)));
    // Discovered replicas must serve the model their entry names (the schema requires one).
    const models = new Set([...this.#scheduler.endpoints.map((ep) => ep.model), ...(this.#opts.discover ?? []).map((d) => d.model)]);
    if (models.size > 1) {
      throw new GemflowError('llm_model_mismatch', `endpoints serve different models (${[...models].join(', ')}); replicas must serve one model`);
    }
    this.#model = [...models][0];
  }

  /**
   * One trial request for the circuit breaker of a returning replica: a structured chat completion of
   * one output token, through the same path as real calls (#complete: model, credentials,
   * structured-output dialect), answered in one time to first token. It takes no slot (the replica is
   * not routable while on trial) and stays out of the endpoint's counters and latency. Never rejects.
   */
  async #trial(ep: Endpoint, signal: AbortSignal, timeoutMs: number): Promise<RequestOutcome> {
    const started = performance.now();
    const req: ChatRequest = { stage: 'trial', messages: [{ role: 'user', content: PROBE_PROMPT }], responseFormat: PROBE_FORMAT, maxTokens: 1, temperature: 0, signal };
    try {
      await this.#complete(ep, this.#model ?? ep.model ?? '', req, timeoutMs, false);
      return { ok: true, latencyMs: performance.now() - started };
    } catch (e) {
      const ge = e instanceof GemflowError ? e : undefined;
      return {
        ok: false,
        latencyMs: performance.now() - started,
        code: errorCode(e),
        message: errorMessage(e),
        stalledMs: typeof ge?.detail?.stalledMs === 'number' ? ge.detail.stalledMs : undefined,
        errno: typeof ge?.detail?.errno === 'string' ? ge.detail.errno : undefined,
      };
    }
  }

  /** One chat completion at `ep`; `counted` false keeps it out of the endpoint's counters and latency (trials). */
  async #complete(ep: Endpoint, model: string, req: ChatRequest, timeoutMs = this.#opts.timeoutMs, counted = true): Promise<ChatResult> {
    if (ep.dialect === undefined && req.responseFormat) await this.#ensureDialect(ep, req.signal);
    const structured = structuredRequest(ep.dialect ?? 'json_schema', req.responseFormat, req.messages);
    const body = {
      model,
      messages: structured.messages,
      max_tokens: req.maxTokens,
      temperature: req.temperature,
      ...(req.seed === undefined ? {} : { seed: req.seed }),
      ...structured.fields,
    };
    const json = (await this.#send(ep, 'POST', '/v1/chat/completions', body, req.signal, timeoutMs, counted)) as CompletionBody;
    const choice = json.choices?.[0];
    if (typeof choice?.message?.content !== 'string') {
      throw new GemflowError('llm_bad_response', `${ep.url}: completion without choices[0].message.content`, { retriable: true });
    }
    return {
      content: choice.message.content,
      finishReason: choice.finish_reason ?? 'unknown',
      promptTokens: json.usage?.prompt_tokens ?? 0,
      completionTokens: json.usage?.completion_tokens ?? 0,
      model: json.model ?? model,
      cached: false,
      endpoint: ep.url,
    };
  }

  /**
   * GET /v1/models: the served model (when the config names none; retried like chat calls), its
   * max_model_len and the server's identity (`owned_by`). When the config names the model, the lookup
   * is one quick best-effort try (its failure leaves the context length unknown, and the breaker deals
   * with a replica that is down). Then the endpoint's structured-output dialect is resolved.
   */
  async #discoverOne(ep: Endpoint, signal?: AbortSignal): Promise<void> {
    type Models = { data?: { id?: unknown; max_model_len?: unknown; owned_by?: unknown }[] };
    let body: Models | undefined;
    const setting = ep.structuredOutput ?? this.#opts.structuredOutput ?? 'auto';
    if (ep.model === undefined) {
      body = (await withRetries(() => this.#send(ep, 'GET', '/v1/models', undefined, signal), this.#policy, { signal })) as Models;
    } else if (ep.maxModelLen === undefined || setting === 'auto') {
      try {
        body = (await this.#send(ep, 'GET', '/v1/models', undefined, signal, Math.min(this.#opts.timeoutMs, 5000))) as Models;
      } catch (e) {
        if (errorCode(e) === 'llm_aborted') throw e;
      }
    }
    if (body) {
      const entries = Array.isArray(body.data) ? body.data : [];
      const id = ep.model ?? entries[0]?.id;
      if (typeof id !== 'string') throw new GemflowError('llm_bad_response', `${ep.url}/v1/models lists no model`);
      ep.model = id;
      const entry = entries.find((m) => m.id === id) ?? entries[0];
      const len = entry?.max_model_len;
      if (ep.maxModelLen === undefined && typeof len === 'number' && Number.isInteger(len) && len > 0) ep.maxModelLen = len;
      if (typeof entry?.owned_by === 'string') ep.ownedBy = entry.owned_by;
    }
    if (setting !== 'auto') {
      ep.dialect ??= setting;
      return;
    }
    // A server that does not answer now gets its dialect resolved by its first chat call.
    try {
      await this.#ensureDialect(ep, signal);
    } catch (e) {
      if (errorCode(e) === 'llm_aborted' || !isInfrastructureFailure(e)) throw e;
    }
  }

  readonly #resolving = new WeakMap<Endpoint, Promise<void>>();

  /** Resolves `auto` for `ep` once (identity, else test requests); a failed resolution is tried again later. */
  #ensureDialect(ep: Endpoint, signal?: AbortSignal): Promise<void> {
    if (ep.dialect !== undefined) return Promise.resolve();
    let p = this.#resolving.get(ep);
    if (!p) {
      p = (async () => {
        if (ep.ownedBy === undefined) {
          try {
            const body = (await this.#send(ep, 'GET', '/v1/models', undefined, signal, Math.min(this.#opts.timeoutMs, 5000))) as { data?: { owned_by?: unknown }[] };
            const o = Array.isArray(body.data) ? body.data[0]?.owned_by : undefined;
            if (typeof o === 'string') ep.ownedBy = o;
          } catch (e) {
            if (errorCode(e) === 'llm_aborted') throw e;
          }
        }
        const known = dialectOfIdentity(ep.ownedBy);
        if (known) {
          ep.dialect = known;
          this.#opts.onNotice?.('info', `structured output at ${ep.url}: ${known} (server identity ${ep.ownedBy})`, { url: ep.url, dialect: known, via: 'identity' });
          return;
        }
        ep.dialect = await this.#probeDialect(ep, signal);
      })().finally(() => this.#resolving.delete(ep));
      this.#resolving.set(ep, p);
    }
    return p;
  }

  /**
   * `auto` for a server of unknown identity: one tiny request per dialect in PROBE_ORDER (retried like
   * chat calls when the server fails, not when it rejects the request), keeping the first accepted;
   * `none` (schema in the prompt) when it accepts none. Each rejection's message is kept for the notice.
   */
  async #probeDialect(ep: Endpoint, signal?: AbortSignal): Promise<StructuredOutputDialect> {
    const rejected: string[] = [];
    for (const dialect of PROBE_ORDER) {
      const s = structuredRequest(dialect, PROBE_FORMAT, [{ role: 'user', content: PROBE_PROMPT }]);
      const body = { model: ep.model, messages: s.messages, max_tokens: 16, temperature: 0, ...s.fields };
      try {
        await this.#send(ep, 'POST', '/v1/chat/completions', body, signal, this.#opts.timeoutMs, false);
        this.#opts.onNotice?.('info', `structured output at ${ep.url}: ${dialect} (probed${rejected.length ? `; rejected: ${rejected.join('; ')}` : ''})`, {
          url: ep.url,
          dialect,
          via: 'probe',
        });
        return dialect;
      } catch (e) {
        const code = errorCode(e);
        if (code !== 'llm_request_rejected' && code !== 'llm_bad_request') throw e;
        rejected.push(`${dialect}: ${(e as GemflowError).detail?.serverMessage ?? errorMessage(e)}`);
      }
    }
    this.#opts.onNotice?.('warn', `structured output at ${ep.url}: none (the server accepts no schema dialect; the schema goes in the prompt, answers are checked and repaired as usual; rejected: ${rejected.join('; ')})`, {
      url: ep.url,
      dialect: 'none',
      via: 'probe',
    });
    return 'none';
  }

  /** One HTTP exchange under the per-attempt timeout and the caller's signal; JSON body or a classified error. */
  async #send(
    ep: Endpoint,
    method: 'GET' | 'POST',
    apiPath: string,
    body: unknown,
    signal: AbortSignal | undefined,
    timeoutMs: number = this.#opts.timeoutMs,
    countChat = true,
  ): Promise<unknown> {
    if (signal?.aborted) throw aborted(signal);
    const ac = new AbortController();
    // The timeout counts only time gemflow's own event loop could run (see loop-stall.ts).
    let timedOut: { elapsedMs: number; stalledMs: number } | undefined;
    const timer = stallAwareTimeout(timeoutMs, (t) => {
      timedOut = t;
      ac.abort();
    });
    const unsubscribe = signal ? onAbort(signal, () => ac.abort()) : undefined;
    const started = performance.now();
    /** Only chat completions feed the endpoint's counters and latency (not /v1/models lookups). */
    const chat = method === 'POST' && countChat;
    ep.track(ac, chat);
    let serverSpoke = false;
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (ep.apiKey) headers.authorization = `Bearer ${ep.apiKey}`;
      const res = await ep.pool.request({
        method,
        path: ep.path(apiPath),
        headers,
        // One Buffer: given the string, undici keeps its own encoded copy beside it for the whole call
        // (~13 KB a call; peak RSS 228 / 226 vs 235 / 234 MB at 300 k documents, rss-curve, two pairs).
        body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
        signal: ac.signal,
      });
      const text = await res.body.text();
      serverSpoke = true;
      if (res.statusCode < 200 || res.statusCode >= 300) throw httpError(ep, res.statusCode, text, res.headers['retry-after']);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new GemflowError('llm_bad_response', `${ep.url}: response body is not JSON: ${text.slice(0, 200)}`, { retriable: true, cause: e });
      }
      if (chat) ep.recordSuccess(performance.now() - started);
      return json;
    } catch (e) {
      if (chat) ep.recordError();
      if (e instanceof GemflowError) throw e;
      if (signal?.aborted) throw aborted(signal);
      const reason: unknown = ac.signal.reason;
      if (ac.signal.aborted && reason instanceof GemflowError) throw reason; // the replica was ejected
      if (timedOut) {
        const t: { elapsedMs: number; stalledMs: number } = timedOut;
        throw new GemflowError('llm_timeout', `${ep.url}: timeout: no answer within ${timeoutMs} ms`, {
          retriable: true,
          cause: e,
          detail: { endpoint: ep.url, timeoutMs, elapsedMs: Math.round(t.elapsedMs), stalledMs: Math.round(t.stalledMs) },
        });
      }
      serverSpoke = true; // refused, reset, DNS: an answer of sorts, not a hang
      throw networkError(ep, e);
    } finally {
      timer.cancel();
      ep.untrack(ac);
      if (serverSpoke) ep.lastProgressAt = performance.now();
      unsubscribe?.();
    }
  }

  #usageOf(stage: string): StageUsage {
    let u = this.#usage.get(stage);
    if (!u) this.#usage.set(stage, (u = { calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0, errors: {}, requeued: 0, waitedForOther: 0 }));
    return u;
  }
}

/** The tiny structured request of dialect probes and breaker trials. */
const PROBE_FORMAT = { name: 'gemflow_probe', schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false } };
const PROBE_PROMPT = 'Reply with the JSON object {"ok": true}.';

interface CompletionBody {
  model?: string;
  choices?: { message?: { content?: unknown }; finish_reason?: string }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

function count(errors: Record<string, number>, code: string): void {
  errors[code] = (errors[code] ?? 0) + 1;
}

function httpError(ep: Endpoint, status: number, body: string, retryAfter: string | string[] | undefined): GemflowError {
  const serverMessage = serverMessageOf(body);
  const detail = { status, endpoint: ep.url, body: body.slice(0, 500), serverMessage, retryAfterMs: parseRetryAfter(retryAfter) };
  const what = `${ep.url}: HTTP ${status}: ${body.slice(0, 200)}`;
  if (status === 429) return new GemflowError('llm_rate_limited', what, { retriable: true, detail });
  if (status === 503) return new GemflowError('llm_unavailable', what, { retriable: true, detail });
  if (status === 400 && CONTEXT_TOO_LONG.test(body)) {
    return new GemflowError('llm_context_too_long', `${ep.url}: the request does not fit the model's context: ${body.slice(0, 300)}`, { retriable: false, detail });
  }
  if (REJECTED_STATUS.has(status) || ((status === 400 || status === 500) && REQUEST_INVALID.test(body))) {
    return new GemflowError(
      'llm_request_rejected',
      `${ep.url} rejected the request itself (HTTP ${status}: ${serverMessage.slice(0, 400)}): a configuration problem (structured-output dialect, model name, credentials), not a replica failure`,
      { retriable: false, detail },
    );
  }
  if (status === 408) return new GemflowError('llm_timeout', what, { retriable: true, detail });
  if (status >= 500) return new GemflowError('llm_server_error', what, { retriable: true, detail });
  return new GemflowError('llm_bad_request', what, { retriable: false, detail });
}

/** The server's own words: `error.message` (OpenAI shape), `detail` / `message` (FastAPI), else the body. */
export function serverMessageOf(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: unknown; detail?: unknown; message?: unknown };
    const e = j.error;
    const m =
      (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : undefined) ??
      (typeof e === 'string' ? e : undefined) ??
      (typeof j.message === 'string' ? j.message : undefined) ??
      (j.detail !== undefined ? (typeof j.detail === 'string' ? j.detail : JSON.stringify(j.detail)) : undefined);
    if (m !== undefined) return m;
  } catch {
    // not JSON: the body as it is
  }
  return body.trim() || '(empty body)';
}

/** Statuses that say the request (its credentials, route, model or shape) is wrong, whatever the body. */
const REJECTED_STATUS = new Set([401, 403, 404, 405, 415, 422]);

/**
 * How servers word a request they cannot take as written (a 400, or the 500 of a server that fails
 * its own request validation, as llama-cpp-python does for an unknown response_format type).
 */
const REQUEST_INVALID =
  /Input should be|validation error|Extra inputs are not permitted|Field required|not supported|unsupported|unknown (field|parameter|variant)|unrecognized|invalid (request|value|type|parameter|schema|grammar|response_format|json)|response_format|json_schema|guided_|structured_outputs|grammar|does not exist/i;

/** How vLLM (and the simulator) word a request over max_model_len, or one that can never fit the KV cache. */
const CONTEXT_TOO_LONG = /maximum context length|context length is|reduce the length of the messages|KV-cache tokens|too many tokens|prompt is too long/i;

/** undici's own timeouts are disabled (see Endpoint), so every other failure here is the network's. */
function networkError(ep: Endpoint, e: unknown): GemflowError {
  return new GemflowError('llm_network', `${ep.url}: ${describeNetworkError(e)}`, {
    retriable: true,
    cause: e,
    detail: { endpoint: ep.url, errno: networkErrno(e) },
  });
}
