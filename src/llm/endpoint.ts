import { Pool } from 'undici';
import type { EndpointConfig } from '../config/schema.js';
import { aborted } from './retry.js';

/** A snapshot of one endpoint, for logs, metrics and the adaptive concurrency controller. */
export interface EndpointState {
  url: string;
  model: string | undefined;
  limit: number;
  maxConcurrency: number;
  inFlight: number;
  /** Successful responses so far. */
  ok: number;
  /** Failed attempts so far (HTTP errors, network errors, timeouts, bad bodies). */
  errors: number;
  /** Exponentially weighted mean latency of successful responses, ms (undefined before the first). */
  latencyEwmaMs: number | undefined;
}

/** Weight of the newest sample in the latency EWMA. */
const LATENCY_ALPHA = 0.2;

/**
 * One OpenAI-compatible server (a vLLM replica): its connection pool, its concurrency limit and its
 * health counters. `limit` is settable at any time (an adaptive controller drives it); it is clamped
 * to [1, maxConcurrency], and raising it immediately hands the new slots to waiting requests.
 */
export class Endpoint {
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly maxConcurrency: number;
  readonly pool: Pool;
  /** Served model name: from config, or discovered from /v1/models by the client's start(). */
  model: string | undefined;
  /** Requests holding a slot; maintained by the EndpointScheduler. */
  inFlight = 0;
  ok = 0;
  errors = 0;
  latencyEwmaMs: number | undefined;
  /** Called when capacity may have grown; set by the scheduler that owns this endpoint. */
  onCapacity: () => void = () => {};
  readonly #basePath: string;
  #limit: number;

  constructor(config: EndpointConfig) {
    const url = new URL(config.url);
    this.url = config.url;
    this.apiKey = config.apiKey;
    this.model = config.model;
    this.maxConcurrency = config.maxConcurrency;
    this.#limit = this.#clamp(config.initialConcurrency);
    // Both "http://host:8000" and "http://host:8000/v1" name the same server.
    this.#basePath = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    // The client's own per-request timer is the only timeout; undici's would race it.
    this.pool = new Pool(url.origin, { connections: config.maxConcurrency, headersTimeout: 0, bodyTimeout: 0 });
  }

  get limit(): number {
    return this.#limit;
  }

  set limit(n: number) {
    const grew = this.#clamp(n) > this.#limit;
    this.#limit = this.#clamp(n);
    if (grew) this.onCapacity();
  }

  /** Free slots (negative after the limit was lowered below the requests in flight). */
  get headroom(): number {
    return this.#limit - this.inFlight;
  }

  /** The request path for an API path such as "/v1/models". */
  path(apiPath: string): string {
    return this.#basePath + apiPath;
  }

  recordSuccess(latencyMs: number): void {
    this.ok++;
    this.latencyEwmaMs = this.latencyEwmaMs === undefined ? latencyMs : this.latencyEwmaMs + LATENCY_ALPHA * (latencyMs - this.latencyEwmaMs);
  }

  recordError(): void {
    this.errors++;
  }

  state(): EndpointState {
    const { url, model, limit, maxConcurrency, inFlight, ok, errors, latencyEwmaMs } = this;
    return { url, model, limit, maxConcurrency, inFlight, ok, errors, latencyEwmaMs };
  }

  #clamp(n: number): number {
    return Math.max(1, Math.min(this.maxConcurrency, Math.floor(n)));
  }
}

interface Waiter {
  avoid: Endpoint | undefined;
  grant(ep: Endpoint): void;
}

/**
 * Slots across endpoints: a request takes a slot on the endpoint with the most headroom
 * (limit - inFlight), preferring one other than `avoid` (where its previous attempt failed); when no
 * endpoint has a free slot it waits in one FIFO queue shared by all endpoints, and is granted the
 * next slot to free up anywhere. No polling: releases and limit increases hand slots over directly.
 */
export class EndpointScheduler {
  readonly endpoints: readonly Endpoint[];
  /** Insertion-ordered, so iteration is FIFO and removal of an aborted waiter is O(1). */
  readonly #waiters = new Set<Waiter>();

  constructor(endpoints: readonly Endpoint[]) {
    this.endpoints = endpoints;
    for (const ep of endpoints) ep.onCapacity = () => this.#pump();
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Takes a slot; rejects with `llm_aborted` if `signal` aborts first. Pair with release(). */
  acquire(signal?: AbortSignal, avoid?: Endpoint): Promise<Endpoint> {
    if (signal?.aborted) return Promise.reject(aborted(signal));
    const free = this.#waiters.size === 0 ? this.#pick(avoid) : undefined;
    if (free) {
      free.inFlight++;
      return Promise.resolve(free);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(aborted(signal!));
      };
      const waiter: Waiter = {
        avoid,
        grant: (ep) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(ep);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(ep: Endpoint): void {
    ep.inFlight--;
    this.#pump();
  }

  #pump(): void {
    for (const waiter of this.#waiters) {
      const ep = this.#pick(waiter.avoid);
      if (!ep) return;
      this.#waiters.delete(waiter);
      ep.inFlight++;
      waiter.grant(ep);
    }
  }

  /** The free endpoint ranked best: not `avoid` first, then most headroom, then list order. */
  #pick(avoid: Endpoint | undefined): Endpoint | undefined {
    let best: Endpoint | undefined;
    for (const ep of this.endpoints) {
      if (ep.headroom <= 0) continue;
      if (!best || (best === avoid && ep !== avoid) || ((ep === avoid) === (best === avoid) && ep.headroom > best.headroom)) best = ep;
    }
    return best;
  }
}
