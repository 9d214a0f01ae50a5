import { Pool } from 'undici';
import type { EndpointConfig } from '../config/schema.js';
import { performance } from 'node:perf_hooks';
import { GemflowError } from '../errors.js';
import { onAbort } from '../abort.js';
import { stallAwareTimeout, type StallAwareTimeout } from './loop-stall.js';
import { aborted } from './retry.js';
import type { StructuredOutputDialect, StructuredOutputSetting } from './structured-output.js';

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
  /** Why it was ejected (the breaker's reason, naming the last failure), while it is. */
  ejectReason: string | undefined;
  /** The model's context length (max_model_len from /v1/models, or the endpoint config), if known. */
  maxModelLen: number | undefined;
}

/** The outcome of one chat completion attempt, for the adaptive controller and the circuit breaker. */
export interface RequestOutcome {
  ok: boolean;
  /** From taking the slot to the parsed answer (or the failure). */
  latencyMs: number;
  /** The error code of a failed attempt. */
  code?: string;
  /** What went wrong, for the breaker's reason (e.g. "HTTP 503: overloaded", "connection refused (ECONNREFUSED)"). */
  message?: string;
  /** Dispatch sequence number from Endpoint.begin(): the breaker judges outcomes in dispatch order. */
  seq?: number;
  /** Of the attempt's time, how much gemflow's own event loop was stalled (a timeout then is not the server's fault). */
  stalledMs?: number;
  /** The socket error of a network failure (ECONNRESET, ...). */
  errno?: string;
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
  /**
   * Estimated KV-cache tokens (prompt + expected completion) of the requests holding a slot here;
   * maintained by the EndpointScheduler from what acquire() was told.
   */
  kvTokensInFlight = 0;
  /** Of kvTokensInFlight, the expected completion tokens (kept by the client): the rest is prompt. */
  completionTokensInFlight = 0;
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
  /** max_model_len: from the endpoint config, else learnt from /v1/models by the client. */
  maxModelLen: number | undefined;
  /** The structured-output setting from the endpoint config (undefined: the client's default). */
  readonly structuredOutput: StructuredOutputSetting | undefined;
  /** The dialect requests use, once resolved (configured, or `auto` resolved by the client's start). */
  dialect: StructuredOutputDialect | undefined;
  /** The server's identity (`owned_by` of /v1/models), when it said. */
  ownedBy: string | undefined;
  /** Why the breaker ejected it (set while ejected). */
  ejectReason: string | undefined;
  /**
   * performance.now() of the last sign of life from the server on a chat call (any answer or error),
   * or of the moment requests started to be in flight after none were: a replica with requests in
   * flight and no progress for long is hanging.
   */
  lastProgressAt = performance.now();
  readonly #active = new Set<AbortController>();
  /** The chat exchanges among #active, in the order they were sent, with when (performance.now()). */
  readonly #chats = new Map<AbortController, number>();
  readonly #pending = new Set<number>();
  #nextSeq = 0;
  readonly #basePath: string;
  #limit: number;
  #kvBudget = Infinity;
  #ejected = false;

  constructor(config: EndpointConfig) {
    const url = new URL(config.url);
    this.url = config.url;
    this.apiKey = config.apiKey;
    this.model = config.model;
    this.maxModelLen = config.maxModelLen;
    this.maxConcurrency = config.maxConcurrency;
    this.structuredOutput = config.structuredOutput;
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

  /**
   * Estimated KV-cache tokens the requests in flight here may hold in all (set by the adaptive
   * controller; Infinity: no bound). A request that would take kvTokensInFlight beyond it waits for
   * a slot, unless none is in flight here. Raising it hands slots to waiting requests, as the limit does.
   */
  get kvBudget(): number {
    return this.#kvBudget;
  }

  set kvBudget(n: number) {
    const grew = n > this.#kvBudget;
    this.#kvBudget = n;
    if (grew) this.onCapacity();
  }

  /** Whether a request of `kvTokens` estimated KV tokens fits in kvBudget. */
  fitsKv(kvTokens: number): boolean {
    return this.inFlight === 0 || this.kvTokensInFlight + kvTokens <= this.#kvBudget;
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

  /**
   * Registers an exchange in flight, so that abortInFlight() can cancel it; a chat completion also
   * so that requeueNewest() can (in the order they were sent).
   */
  track(ac: AbortController, chat = false): void {
    this.#active.add(ac);
    if (chat) this.#chats.set(ac, performance.now());
  }

  untrack(ac: AbortController): void {
    this.#active.delete(ac);
    this.#chats.delete(ac);
  }

  /**
   * Takes back the `n` chat requests sent here most recently, of those sent within `youngerThanMs` (set by the adaptive controller when the
   * replica's own queue would hold them far longer than the target wait): each fails with retriable
   * `llm_stalled` (detail.reroute and detail.requeued = true), which the client sends again, elsewhere
   * when another replica is routable, without spending an attempt of its retry budget. A server that
   * admits first come first served (vLLM) runs its queue in arrival order, so the newest are the ones
   * still waiting; closing the connection makes vLLM drop them from its queue. Returns how many.
   */
  requeueNewest(n: number, youngerThanMs: number, why: string): number {
    const since = performance.now() - youngerThanMs;
    const newest: AbortController[] = [];
    for (const [ac, sentAt] of this.#chats) if (sentAt >= since) newest.push(ac);
    newest.splice(0, Math.max(0, newest.length - Math.max(0, Math.floor(n))));
    for (const ac of newest) {
      this.#chats.delete(ac);
      ac.abort(
        new GemflowError('llm_stalled', `${this.url} queues it too long (${why}); the request is sent again`, {
          retriable: true,
          detail: { endpoint: this.url, reroute: true, requeued: true },
        }),
      );
    }
    return newest.length;
  }

  /**
   * Cancels every exchange in flight here (the replica was ejected): each fails with retriable
   * `llm_stalled` (detail.reroute = true), which the client retries on another replica without
   * spending an attempt of its retry budget.
   */
  abortInFlight(reason: string): number {
    const n = this.#active.size;
    for (const ac of [...this.#active]) {
      ac.abort(
        new GemflowError('llm_stalled', `${this.url} was ejected (${reason}); the request moves to another replica`, {
          retriable: true,
          detail: { endpoint: this.url, reroute: true },
        }),
      );
    }
    this.#active.clear();
    this.#chats.clear();
    return n;
  }

  /** A chat attempt starts: its dispatch sequence number. Pair with end(). */
  begin(): number {
    const seq = this.#nextSeq++;
    this.#pending.add(seq);
    return seq;
  }

  end(seq: number): void {
    this.#pending.delete(seq);
  }

  /** The next sequence number begin() will hand out. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The oldest attempt still in flight (nextSeq when none): every earlier attempt has its outcome. */
  get horizon(): number {
    for (const seq of this.#pending) return seq; // insertion order = ascending
    return this.#nextSeq;
  }

  recordSuccess(latencyMs: number): void {
    this.ok++;
    this.latencyEwmaMs = this.latencyEwmaMs === undefined ? latencyMs : this.latencyEwmaMs + LATENCY_ALPHA * (latencyMs - this.latencyEwmaMs);
  }

  recordError(): void {
    this.errors++;
  }

  state(): EndpointState {
    const { url, model, limit, maxConcurrency, inFlight, ok, errors, latencyEwmaMs, ejected, ejectReason, maxModelLen } = this;
    return { url, model, limit, maxConcurrency, inFlight, ok, errors, latencyEwmaMs, ejected, ejectReason, maxModelLen };
  }

  #clamp(n: number): number {
    return Math.max(1, Math.min(this.maxConcurrency, Math.floor(n)));
  }
}

interface Waiter {
  avoid: Endpoint | undefined;
  /** The request's estimated KV-cache tokens. */
  kvTokens: number;
  grant(ep: Endpoint): void;
  fail(e: GemflowError): void;
  /** Armed while no endpoint is routable: fails the waiter after noReplicaWaitMs. */
  noReplica?: StallAwareTimeout;
}

export interface EndpointSchedulerOptions {
  /**
   * How long a request waits for a routable replica when every one is ejected (or none is left)
   * before failing with `llm_no_healthy_endpoint`; default 30 s. Time the event loop was stalled does
   * not count. 0 fails at once.
   */
  noReplicaWaitMs?: number;
}

/**
 * Slots across endpoints: a request takes a slot on the endpoint with the most headroom
 * (limit - inFlight), never `avoid` (where its previous attempt failed) while another is routable; when no
 * endpoint has a free slot it waits in one FIFO queue shared by all endpoints, and is granted the
 * next slot to free up anywhere. No polling: releases and limit increases hand slots over directly.
 * When no endpoint is routable (all ejected, or none left), requests keep waiting for one to be
 * readmitted, each for at most `noReplicaWaitMs` (and its caller's signal); then it fails with
 * `llm_no_healthy_endpoint`, whose message names why each replica was ejected.
 */
export class EndpointScheduler {
  readonly #endpoints: Endpoint[] = [];
  /** Insertion-ordered, so iteration is FIFO and removal of an aborted waiter is O(1). */
  readonly #waiters = new Set<Waiter>();
  #waitingKvTokens = 0;
  readonly #noReplicaWaitMs: number;

  constructor(endpoints: readonly Endpoint[], opts: EndpointSchedulerOptions = {}) {
    this.#noReplicaWaitMs = opts.noReplicaWaitMs ?? 30_000;
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

  /** Estimated KV-cache tokens of the requests waiting for a slot (the ones about to be sent). */
  get waitingKvTokens(): number {
    return this.#waitingKvTokens;
  }

  /** Requests waiting while no replica is routable at all (0 when one is). */
  get waitingForReplica(): number {
    return this.#routable() ? 0 : this.#waiters.size;
  }

  /**
   * Takes a slot for a request of `kvTokens` estimated KV-cache tokens; rejects with `llm_aborted` if
   * `signal` aborts first. Pair with release(ep, kvTokens).
   */
  acquire(signal?: AbortSignal, avoid?: Endpoint, kvTokens = 0): Promise<Endpoint> {
    if (signal?.aborted) return Promise.reject(aborted(signal));
    if (!this.#routable() && this.#noReplicaWaitMs <= 0) return Promise.reject(this.#noEndpoint());
    const free = this.#waiters.size === 0 ? this.#pick(avoid, kvTokens) : undefined;
    if (free) {
      this.#take(free, kvTokens);
      return Promise.resolve(free);
    }
    return new Promise((resolve, reject) => {
      let unsubscribe: (() => void) | undefined;
      const waiter: Waiter = {
        avoid,
        kvTokens,
        grant: (ep) => {
          waiter.noReplica?.cancel();
          unsubscribe?.();
          resolve(ep);
        },
        fail: (e) => {
          waiter.noReplica?.cancel();
          unsubscribe?.();
          reject(e);
        },
      };
      this.#waiters.add(waiter);
      this.#waitingKvTokens += kvTokens;
      if (signal) {
        unsubscribe = onAbort(signal, () => {
          waiter.noReplica?.cancel();
          this.#unqueue(waiter);
          reject(aborted(signal));
        });
      }
      if (!this.#routable()) this.#armNoReplica(waiter);
    });
  }

  release(ep: Endpoint, kvTokens = 0): void {
    ep.inFlight--;
    ep.kvTokensInFlight -= kvTokens;
    this.#pump();
  }

  #take(ep: Endpoint, kvTokens: number): void {
    if (ep.inFlight <= 0) ep.lastProgressAt = performance.now();
    ep.inFlight++;
    ep.kvTokensInFlight += kvTokens;
  }

  /** Removes a waiter from the queue; false if it was no longer there. */
  #unqueue(waiter: Waiter): boolean {
    if (!this.#waiters.delete(waiter)) return false;
    this.#waitingKvTokens -= waiter.kvTokens;
    return true;
  }

  /** Starts the waiter's bounded wait for a routable replica (no-op when already waiting). */
  #armNoReplica(waiter: Waiter): void {
    if (waiter.noReplica) return;
    waiter.noReplica = stallAwareTimeout(this.#noReplicaWaitMs, () => {
      waiter.noReplica = undefined;
      if (!this.#unqueue(waiter)) return;
      waiter.fail(this.#noEndpoint());
    });
  }

  #pump(): void {
    if (!this.#routable()) {
      if (this.#noReplicaWaitMs <= 0) {
        const e = this.#noEndpoint();
        for (const waiter of [...this.#waiters]) waiter.fail(e);
        this.#waiters.clear();
        this.#waitingKvTokens = 0;
        return;
      }
      for (const waiter of this.#waiters) this.#armNoReplica(waiter);
      return;
    }
    for (const waiter of this.#waiters) {
      waiter.noReplica?.cancel();
      waiter.noReplica = undefined;
    }
    for (const waiter of this.#waiters) {
      const ep = this.#pick(waiter.avoid, waiter.kvTokens);
      if (!ep) {
        if (waiter.avoid === undefined || !this.#pick(undefined, waiter.kvTokens)) return; // no free slot anywhere (FIFO: the next waits too)
        continue; // only where this call just failed has a slot: leave it to the calls behind
      }
      this.#unqueue(waiter);
      this.#take(ep, waiter.kvTokens);
      waiter.grant(ep);
    }
  }

  /**
   * The free endpoint with the most headroom less server backlog (first in list order on ties), never
   * `avoid` (where the call's previous attempt failed) while another endpoint is routable, even if
   * that one is full for now: a retry waits for a slot elsewhere rather than going back to the
   * replica that just failed it.
   */
  #pick(avoid: Endpoint | undefined, kvTokens: number): Endpoint | undefined {
    let best: Endpoint | undefined;
    for (const ep of this.#endpoints) {
      if (ep.headroom <= 0 || ep === avoid || !ep.fitsKv(kvTokens)) continue;
      if (!best || ep.headroom - ep.backlog > best.headroom - best.backlog) best = ep;
    }
    if (best || !avoid || avoid.headroom <= 0 || !avoid.fitsKv(kvTokens) || !this.#endpoints.includes(avoid)) return best;
    return this.#endpoints.some((ep) => ep !== avoid && !ep.ejected) ? undefined : avoid;
  }

  #routable(): boolean {
    return this.#endpoints.some((ep) => !ep.ejected);
  }

  #noEndpoint(): GemflowError {
    const n = this.#endpoints.length;
    const reasons = this.#endpoints.map((ep) => `${ep.url}: ${ep.ejectReason ?? 'ejected'}`);
    const why =
      n === 0
        ? 'no endpoint is known (none configured, or none discovered yet)'
        : `all ${n} endpoints are ejected by the circuit breaker (${reasons.join('; ')})`;
    const waited = this.#noReplicaWaitMs > 0 ? `, and none came back within ${this.#noReplicaWaitMs} ms` : '';
    return new GemflowError('llm_no_healthy_endpoint', `no inference endpoint can take requests: ${why}${waited}`, {
      retriable: false,
      detail: { endpoints: n, reasons, waitedMs: this.#noReplicaWaitMs },
    });
  }
}
