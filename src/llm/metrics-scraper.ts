import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { ProbeResult } from './circuit-breaker.js';
import { stallAwareTimeout } from './loop-stall.js';
import { describeNetworkError } from './network-errors.js';

/** The latest gauges one vLLM replica reported on GET /metrics. Undefined fields: the server does not export them. */
export interface ServerGauges {
  /** Requests in the running batch (`vllm:num_requests_running`, summed over label sets). */
  running: number | undefined;
  /** Requests queued in the server (`vllm:num_requests_waiting`, summed over label sets). */
  waiting: number | undefined;
  /** KV-cache usage in [0, 1] (`vllm:kv_cache_usage_perc`, or the older `vllm:gpu_cache_usage_perc`; max over label sets). */
  kvCacheUsage: number | undefined;
  /** The KV cache's size in tokens, from `vllm:cache_config_info` (num_gpu_blocks x block_size); undefined when not exported. */
  kvCacheTokens?: number;
  /** performance.now() when the scrape answered. */
  at: number;
  /** performance.now() when the scrape was sent: the gauges show no request sent after it. */
  sentAt?: number;
}

export interface MetricsScraperOptions {
  /** Pause between the end of one scrape round and the start of the next; default 300 ms. */
  intervalMs?: number;
  /** Per request (/metrics or /health); default 1000 ms. */
  timeoutMs?: number;
  /**
   * First wait before scraping again a replica without vLLM gauges (404, or metrics under other
   * names), doubling up to `absentMaxMs`; default 5 s. Consecutive failed scrapes back off the same way.
   */
  absentBaseMs?: number;
  /** Default 60 s. */
  absentMaxMs?: number;
  /** Told once per change of a target's capabilities (gauges lost or found, /health missing). */
  onCapability?: (c: CapabilityChange) => void;
  /** Told as each scrape of `key` is sent (ServerGauges.sentAt): what the client holds then is what the gauges answer to. */
  onSend?: (key: string, sentAt: number) => void;
}

export interface CapabilityChange {
  key: string;
  url: string;
  what: 'gauges' | 'health';
  available: boolean;
  /** Why, e.g. "HTTP 404" or "no vllm:num_requests_running / vllm:num_requests_waiting in it". */
  reason: string;
}

/** What the scraper knows of one target, for metrics and reports. */
export interface ScrapeStatus {
  /** Failed scrapes so far (network errors, timeouts, non-2xx, no vLLM gauges in the text). */
  errors: number;
  /** Scrapes sent so far. */
  scrapes: number;
  /** False once the target showed it has no vLLM gauges (until it shows them). */
  gaugesAvailable: boolean | undefined;
  lastError: string | undefined;
}

interface Target {
  url: string;
  status: ScrapeStatus;
  /** Consecutive misses: sets the backoff. */
  misses: number;
  /** performance.now() before which the target is not scraped. */
  notBefore: number;
}

const RUNNING = ['vllm:num_requests_running'];
const WAITING = ['vllm:num_requests_waiting'];
/** Newest name first: vLLM V1 renamed the gauge; both may be exported side by side. */
const KV_CACHE = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'];

/**
 * Polls each registered replica's GET /metrics (Prometheus text) and keeps the latest vLLM gauges per
 * replica. It uses its own small connection agent, so a scrape never queues behind long completions on
 * the replica's chat connection pool. A failed scrape keeps the previous gauges (whose `at` then ages;
 * readers decide what is stale). Timers are unref'd: a forgotten scraper never keeps a process alive.
 */
export class MetricsScraper {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #agent = new Agent({ connections: 2 });
  /** Key (the endpoint URL as configured) -> metrics URL and its scrape status. */
  readonly #targets = new Map<string, Target>();
  readonly #absentBaseMs: number;
  readonly #absentMaxMs: number;
  readonly #onCapability: (c: CapabilityChange) => void;
  readonly #onSend: (key: string, sentAt: number) => void;
  /** /health URLs that answered 404 (no such route) -> the URL probed instead. */
  readonly #noHealth = new Set<string>();
  /** Health URLs whose server has answered them (with or without /health), and the checks learning that. */
  readonly #healthKnown = new Set<string>();
  readonly #healthLearning = new Map<string, Promise<void>>();
  readonly #latest = new Map<string, ServerGauges>();
  readonly #closing = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;

  constructor(opts: MetricsScraperOptions = {}) {
    this.#intervalMs = opts.intervalMs ?? 300;
    this.#timeoutMs = opts.timeoutMs ?? 1000;
    this.#absentBaseMs = opts.absentBaseMs ?? 5000;
    this.#absentMaxMs = opts.absentMaxMs ?? 60_000;
    this.#onCapability = opts.onCapability ?? (() => {});
    this.#onSend = opts.onSend ?? (() => {});
  }

  /** Starts scraping `metricsUrl` under `key` (from the next round). */
  add(key: string, metricsUrl: string): void {
    this.#targets.set(key, { url: metricsUrl, misses: 0, notBefore: 0, status: { errors: 0, scrapes: 0, gaugesAvailable: undefined, lastError: undefined } });
  }

  /** The scrape status of `key` (a copy), or undefined when it is not a target. */
  status(key: string): ScrapeStatus | undefined {
    const t = this.#targets.get(key);
    return t && { ...t.status };
  }

  /** Resolves after one round of scrapes (the first, when start() was just called). */
  firstRound(): Promise<void> {
    return this.#round ?? Promise.resolve();
  }

  /**
   * Ends the backoff of `key` after failed scrapes (its server is back: the circuit breaker found it
   * healthy), so it is scraped in the next round: its limit must not wait on stale gauges.
   */
  resume(key: string): void {
    const t = this.#targets.get(key);
    if (!t || t.status.gaugesAvailable === false) return;
    t.misses = 0;
    t.notBefore = 0;
  }

  remove(key: string): void {
    this.#targets.delete(key);
    this.#latest.delete(key);
  }

  /** The last successful scrape of `key`, or undefined before the first. */
  latest(key: string): ServerGauges | undefined {
    return this.#latest.get(key);
  }

  /** Starts the polling loop (idempotent); the first round runs at once. */
  start(): void {
    if (this.#timer !== undefined || this.#round !== undefined || this.#closing.signal.aborted) return;
    this.#loop();
  }

  /** Stops polling, waits for the round in progress, and closes the connections. */
  async close(): Promise<void> {
    this.#closing.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
    await this.#agent.close();
  }

  /** One scrape of `metricsUrl`; throws on a network error, a timeout or a non-2xx status. */
  async scrape(metricsUrl: string, signal?: AbortSignal): Promise<ServerGauges> {
    const { statusCode, text } = await this.#get(metricsUrl, signal);
    if (statusCode < 200 || statusCode >= 300) throw new Error(`GET ${metricsUrl}: HTTP ${statusCode}`);
    return { ...parseVllmGauges(text), at: performance.now() };
  }

  /**
   * GET `healthUrl`: unhealthy on a network error, a timeout or a 5xx (vLLM answers 200 when healthy),
   * with the reason. Other statuses mean the server is up but has no such route (e.g. a proxy in
   * front), so count as healthy. The timeout (default: the scraper's) excludes time gemflow's own event
   * loop was stalled; a check that still timed out mostly during a stall is inconclusive.
   */
  async health(healthUrl: string, signal?: AbortSignal, timeoutMs: number = this.#timeoutMs, fallbackUrl?: string): Promise<ProbeResult> {
    if (fallbackUrl === undefined || this.#healthKnown.has(healthUrl)) return this.#health(healthUrl, signal, timeoutMs, fallbackUrl);
    // Until a server has said whether it has /health, one check at a time asks it (a periodic check and
    // the start-up check must not both ask, and both learn, the same thing).
    const pending = this.#healthLearning.get(healthUrl);
    if (pending !== undefined) {
      await pending;
      return this.health(healthUrl, signal, timeoutMs, fallbackUrl);
    }
    const p = this.#health(healthUrl, signal, timeoutMs, fallbackUrl);
    const settled = p.then(() => undefined, () => undefined);
    this.#healthLearning.set(healthUrl, settled);
    try {
      return await p;
    } finally {
      this.#healthLearning.delete(healthUrl);
    }
  }

  async #health(healthUrl: string, signal: AbortSignal | undefined, timeoutMs: number, fallbackUrl: string | undefined): Promise<ProbeResult> {
    // A server without /health (404): its liveness is what `fallbackUrl` (e.g. /v1/models) answers.
    const url = fallbackUrl !== undefined && this.#noHealth.has(healthUrl) ? fallbackUrl : healthUrl;
    const ac = new AbortController();
    let timing: { elapsedMs: number; stalledMs: number } | undefined;
    const timer = stallAwareTimeout(timeoutMs, (t) => {
      timing = t;
      ac.abort();
    });
    try {
      const { statusCode } = await this.#get(url, signal ? AbortSignal.any([signal, ac.signal]) : ac.signal, false);
      if (url === healthUrl) this.#healthKnown.add(healthUrl);
      if (url === healthUrl && fallbackUrl !== undefined && (statusCode === 404 || statusCode === 405 || statusCode === 501) && !this.#noHealth.has(healthUrl)) {
        this.#noHealth.add(healthUrl);
        this.#onCapability({ key: healthUrl, url: healthUrl, what: 'health', available: false, reason: `HTTP ${statusCode}` });
      }
      return statusCode < 500 ? { healthy: true } : { healthy: false, reason: `HTTP ${statusCode}` };
    } catch (e) {
      if (timing) {
        if (timing.stalledMs > timing.elapsedMs / 2) return { healthy: undefined, reason: `gemflow's event loop stalled for ${Math.round(timing.stalledMs)} ms` };
        // A server without /health may not answer anything while it generates (llama-cpp-python blocks
        // its event loop): its silence on the fallback route says nothing; refused connections still do.
        if (url !== healthUrl) return { healthy: undefined, reason: `no answer on ${url} within ${timeoutMs} ms (a server without /health may be busy generating)` };
        return { healthy: false, reason: `timeout: no answer within ${timeoutMs} ms` };
      }
      return { healthy: false, reason: describeNetworkError(e) };
    } finally {
      timer.cancel();
    }
  }

  #loop(): void {
    this.#timer = undefined;
    this.#round = this.#scrapeAll().finally(() => {
      this.#round = undefined;
      if (this.#closing.signal.aborted) return;
      this.#timer = setTimeout(() => this.#loop(), this.#intervalMs);
      this.#timer.unref();
    });
  }

  async #scrapeAll(): Promise<void> {
    const now = performance.now();
    await Promise.all(
      [...this.#targets].map(async ([key, t]) => {
        if (now < t.notBefore) return;
        t.status.scrapes++;
        let why: string;
        let absent = false;
        try {
          const sentAt = performance.now();
          this.#onSend(key, sentAt);
          const { statusCode, text } = await this.#get(t.url, this.#closing.signal);
          if (statusCode >= 200 && statusCode < 300) {
            const gauges = { ...parseVllmGauges(text), at: performance.now(), sentAt };
            if (gauges.running !== undefined || gauges.waiting !== undefined || gauges.kvCacheUsage !== undefined) {
              if (this.#targets.get(key) !== t) return;
              this.#latest.set(key, gauges);
              t.misses = 0;
              t.notBefore = 0;
              if (t.status.gaugesAvailable !== true) {
                const before = t.status.gaugesAvailable;
                t.status.gaugesAvailable = true;
                if (before === false) this.#onCapability({ key, url: t.url, what: 'gauges', available: true, reason: 'vLLM gauges are back' });
              }
              return;
            }
            why = `no ${[...RUNNING, ...WAITING, ...KV_CACHE].join(' / ')} in it`;
            absent = true;
          } else {
            why = `HTTP ${statusCode}`;
            absent = statusCode === 404 || statusCode === 405 || statusCode === 501;
          }
        } catch (e) {
          if (this.#closing.signal.aborted) return;
          why = describeNetworkError(e);
        }
        // Keep the previous gauges; their age tells readers how stale they are.
        t.status.errors++;
        t.status.lastError = why;
        t.misses++;
        if (absent && t.status.gaugesAvailable !== false) {
          t.status.gaugesAvailable = false;
          this.#onCapability({ key, url: t.url, what: 'gauges', available: false, reason: why });
        }
        // A route that is not there: ask less and less often. A scrape of a server known to export
        // gauges failing again and again (slow, overloaded): back off too, but gently, up to absentBaseMs,
        // since the controller holds its limits while the gauges are stale.
        if (absent) t.notBefore = performance.now() + Math.min(this.#absentMaxMs, this.#absentBaseMs * 2 ** (t.misses - 1));
        else if (t.misses >= 3) t.notBefore = performance.now() + Math.min(this.#absentBaseMs, this.#intervalMs * 2 ** (t.misses - 3));
      }),
    );
  }

  async #get(url: string, signal: AbortSignal | undefined, ownTimeout = true): Promise<{ statusCode: number; text: string }> {
    const signals = [this.#closing.signal];
    if (signal) signals.push(signal);
    if (ownTimeout) signals.push(AbortSignal.timeout(this.#timeoutMs));
    const res = await request(url, { dispatcher: this.#agent, signal: AbortSignal.any(signals) });
    return { statusCode: res.statusCode, text: await res.body.text() };
  }
}

/**
 * Reads vLLM's scheduler gauges from a Prometheus text exposition. Counts are summed over label sets
 * (several engines or models behind one server); the KV-cache fraction takes the fullest engine.
 * A gauge the text lacks is undefined; unknown metrics, comments and malformed lines are ignored.
 */
export function parseVllmGauges(text: string): Omit<ServerGauges, 'at'> {
  const values = new Map<string, number[]>();
  let kvCacheTokens: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('vllm:cache_config_info{')) {
      const blocks = Number(/[{,]num_gpu_blocks="(\d+)"/.exec(line)?.[1]);
      const size = Number(/[{,]block_size="(\d+)"/.exec(line)?.[1]);
      if (blocks > 0 && size > 0) kvCacheTokens = Math.max(kvCacheTokens ?? 0, blocks * size);
      continue;
    }
    const sample = parseSample(line);
    if (!sample) continue;
    const list = values.get(sample.name);
    if (list) list.push(sample.value);
    else values.set(sample.name, [sample.value]);
  }
  const first = (names: string[]) => names.map((n) => values.get(n)).find((v) => v !== undefined);
  const sum = (v: number[] | undefined) => v?.reduce((a, b) => a + b, 0);
  const max = (v: number[] | undefined) => (v === undefined ? undefined : Math.max(...v));
  return { running: sum(first(RUNNING)), waiting: sum(first(WAITING)), kvCacheUsage: max(first(KV_CACHE)), ...(kvCacheTokens !== undefined ? { kvCacheTokens } : {}) };
}

/** `name{label="value",...} 12.5 [timestamp]` -> {name, value}; undefined for comments, blanks and non-finite values. */
function parseSample(line: string): { name: string; value: number } | undefined {
  const s = line.trim();
  if (s === '' || s.startsWith('#')) return undefined;
  const nameEnd = s.search(/[{\s]/);
  if (nameEnd <= 0) return undefined;
  let i = nameEnd;
  if (s[i] === '{') {
    // Skip the label set; label values are quoted and may contain '}' or escaped quotes.
    let quoted = false;
    for (i++; i < s.length; i++) {
      const c = s[i];
      if (quoted && c === '\\') i++;
      else if (c === '"') quoted = !quoted;
      else if (!quoted && c === '}') break;
    }
    if (i >= s.length) return undefined;
    i++;
  }
  const token = s.slice(i).trim().split(/\s+/)[0];
  const value = token ? Number(token) : NaN;
  return Number.isFinite(value) ? { name: s.slice(0, nameEnd), value } : undefined;
}
