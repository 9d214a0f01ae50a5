import { Pool } from 'undici';
import type { EndpointConfig } from '../config/schema.js';
import { GemflowError } from '../errors.js';
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
  /** Ejected by the circuit breaker: not routable. */
  ejected: boolean;
}

/** The outcome of one chat completion attempt, for the adaptive controller and the circuit breaker. */
export interface RequestOutcome {
  ok: boolean;
  /** From taking the slot to the parsed answer (or the failure). */
  latencyMs: number;
  /** The error code of a failed attempt. */
  code?: string;
  promptTokens?: number;
  completionTokens?: number;
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
  /** Called when capacity may have changed (limit raised, ejected or readmitted); set by the owning scheduler. */
  onCapacity: () => void = () => {};
  /** Observes every chat attempt (set by the adaptive controller); caller aborts are not reported. */
  onOutcome: (o: RequestOutcome) => void = () => {};
  /**
   * Requests queued inside the server beyond a healthy queue, from its own gauges (set by the adaptive
   * controller). Routing ranks replicas by headroom minus backlog, so a replica reporting a long
   * waiting queue gets less of the work; it does not change how many slots the endpoint has.
   */
  backlog = 0;
  readonly #basePath: string;
  #limit: number;
  #ejected = false;

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

  /** Not routable: no new requests are sent here (those in flight finish). Set by the circuit breaker. */
  get ejected(): boolean {
    return this.#ejected;
  }

  set ejected(v: boolean) {
    if (v === this.#ejected) return;
    this.#ejected = v;
    this.onCapacity();
  }

  /** Free slots (negative after the limit was lowered below the requests in flight; never positive when ejected). */
  get headroom(): number {
    return (this.#ejected ? 0 : this.#limit) - this.inFlight;
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
    const { url, model, limit, maxConcurrency, inFlight, ok, errors, latencyEwmaMs, ejected } = this;
    return { url, model, limit, maxConcurrency, inFlight, ok, errors, latencyEwmaMs, ejected };
  }

  #clamp(n: number): number {
    return Math.max(1, Math.min(this.maxConcurrency, Math.floor(n)));
  }
}

interface Waiter {
  avoid: Endpoint | undefined;
  grant(ep: Endpoint): void;
  fail(e: GemflowError): void;
}

/**
 * Slots across endpoints: a request takes a slot on the endpoint with the most headroom
 * (limit - inFlight), never `avoid` (where its previous attempt failed) while another is routable; when no
 * endpoint has a free slot it waits in one FIFO queue shared by all endpoints, and is granted the
 * next slot to free up anywhere. No polling: releases and limit increases hand slots over directly.
 * When no endpoint is routable (all ejected, or none left), requests fail at once with
 * `llm_no_healthy_endpoint` instead of waiting for a replica that may never come back.
 */
export class EndpointScheduler {
  readonly #endpoints: Endpoint[] = [];
  /** Insertion-ordered, so iteration is FIFO and removal of an aborted waiter is O(1). */
  readonly #waiters = new Set<Waiter>();

  constructor(endpoints: readonly Endpoint[]) {
    for (const ep of endpoints) this.add(ep);
  }

  /** The endpoints in routing order (live: it changes with add and remove). */
  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /** Starts routing to `ep`; waiting requests get its slots at once. */
  add(ep: Endpoint): void {
    this.#endpoints.push(ep);
    ep.onCapacity = () => this.#pump();
    this.#pump();
  }

  /** Stops routing to `ep`; its requests in flight still release their slots. */
  remove(ep: Endpoint): void {
    const i = this.#endpoints.indexOf(ep);
    if (i < 0) return;
    this.#endpoints.splice(i, 1);
    ep.onCapacity = () => {};
    this.#pump();
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Takes a slot; rejects with `llm_aborted` if `signal` aborts first. Pair with release(). */
  acquire(signal?: AbortSignal, avoid?: Endpoint): Promise<Endpoint> {
    if (signal?.aborted) return Promise.reject(aborted(signal));
    if (!this.#routable()) return Promise.reject(this.#noEndpoint());
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
        fail: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
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
    if (!this.#routable()) {
      const e = this.#noEndpoint();
      for (const waiter of this.#waiters) waiter.fail(e);
      this.#waiters.clear();
      return;
    }
    for (const waiter of this.#waiters) {
      const ep = this.#pick(waiter.avoid);
      if (!ep) {
        if (waiter.avoid === undefined || !this.#pick(undefined)) return; // no free slot anywhere
        continue; // only where this call just failed has a slot: leave it to the calls behind
      }
      this.#waiters.delete(waiter);
      ep.inFlight++;
      waiter.grant(ep);
    }
  }

  /**
   * The free endpoint with the most headroom less server backlog (first in list order on ties), never
   * `avoid` (where the call's previous attempt failed) while another endpoint is routable, even if
   * that one is full for now: a retry waits for a slot elsewhere rather than going back to the
   * replica that just failed it.
   */
  #pick(avoid: Endpoint | undefined): Endpoint | undefined {
    let best: Endpoint | undefined;
    for (const ep of this.#endpoints) {
      if (ep.headroom <= 0 || ep === avoid) continue;
      if (!best || ep.headroom - ep.backlog > best.headroom - best.backlog) best = ep;
    }
    if (best || !avoid || avoid.headroom <= 0 || !this.#endpoints.includes(avoid)) return best;
    return this.#endpoints.some((ep) => ep !== avoid && !ep.ejected) ? undefined : avoid;
  }

  #routable(): boolean {
    return this.#endpoints.some((ep) => !ep.ejected);
  }

  #noEndpoint(): GemflowError {
    const n = this.#endpoints.length;
    const why = n === 0 ? 'no endpoints are configured' : `all ${n} endpoints are ejected by the circuit breaker (failing or unhealthy)`;
    return new GemflowError('llm_no_healthy_endpoint', `no inference endpoint can take requests: ${why}`, { retriable: false, detail: { endpoints: n } });
  }
}
