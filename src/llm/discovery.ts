import { Resolver } from 'node:dns/promises';
import { isIPv6 } from 'node:net';
import type { DiscoveredEndpointsConfig, EndpointConfig } from '../config/schema.js';
import { GemflowError, errorCode, errorMessage } from '../errors.js';

/** What discovery changes: the client's live replica list (HttpInferenceClient implements it). */
export interface ReplicaSet {
  /** Starts routing to a new replica (after learning its model and structured-output dialect). */
  addEndpoint(config: EndpointConfig, signal?: AbortSignal): Promise<unknown>;
  /** Stops routing to a replica; resolves once its requests in flight have finished or moved on. */
  removeEndpoint(url: string): Promise<void>;
}

/** A name's addresses (A and AAAA records); rejects when the lookup failed (not when there are none). */
export type AddressLookup = (name: string) => Promise<string[]>;

export type DiscoveredReplicaState = 'adding' | 'live' | 'draining';

/** One discovery's view, for /metrics and logs. */
export interface DiscoveryReport {
  /** The `discover` URL. */
  source: string;
  replicas: { url: string; state: DiscoveredReplicaState }[];
  /** Resolutions so far, and how many of them failed (the last good set was kept). */
  resolutions: number;
  failedResolutions: number;
  /** Replicas added and removed (drained) so far. */
  added: number;
  removed: number;
}

export interface DnsReplicaDiscoveryOptions {
  /** Things an operator should know once: a failed resolution (until it recovers), replicas added and drained. */
  onNotice?: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
  /** Default: A + AAAA queries through node:dns (c-ares) to `dnsServers` or the system's servers. */
  lookup?: AddressLookup;
}

/** How long start() waits for the first answer's replicas to be added (a hanging replica must not hold up the run). */
const START_WAIT_MS = 10_000;

/** Answers that mean "this name has no records of this type": an empty set, not a failure. */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * A and AAAA queries for a name, in parallel, through a c-ares Resolver (not getaddrinfo: no thread
 * pool, its own timeouts, every record rather than the system's preferred address). No search
 * domains are applied, so names must be fully qualified (the config schema checks).
 */
export function dnsLookup(servers?: readonly string[], timeoutMs = 2000): AddressLookup {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers) {
    try {
      resolver.setServers(servers);
    } catch (e) {
      throw new GemflowError('config_invalid', `dnsServers ${servers.join(', ')}: ${errorMessage(e)}`, { cause: e });
    }
  }
  const family = (p: Promise<string[]>) => p.catch((e: unknown) => (NO_RECORDS.has(codeOf(e)) ? [] : Promise.reject(e)));
  return async (name) => {
    const [v4, v6] = await Promise.all([family(resolver.resolve4(name)), family(resolver.resolve6(name))]);
    return [...v4, ...v6];
  };
}

/** A DNS error's code as the resolver gives it (ESERVFAIL, ETIMEOUT, ...), else gemflow's. */
function codeOf(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' && !(e instanceof GemflowError) ? c : errorCode(e);
}

interface Replica {
  state: DiscoveredReplicaState;
}

/**
 * The replicas behind a DNS name (a Kubernetes headless Service: one A/AAAA record per ready pod),
 * kept in step with a ReplicaSet. The name is resolved at start() and then every
 * `resolveIntervalMs` (one resolution at a time); each answer is the wanted set:
 * - an address not yet known is added (`addEndpoint`, in the background; a failure is logged once
 *   per address and tried again at the next resolution);
 * - a known address that is no longer in the answer is drained: no new work goes to it, requests in
 *   flight finish (or fail and are retried on another replica), then it is removed. An address that
 *   comes back while draining is added again once the drain is over.
 * An answer without records (NXDOMAIN, no data) is an empty set: every replica drains, as the
 * headless Service has no ready pod. A failed resolution (timeout, SERVFAIL, refused) keeps the last
 * good set; it is logged once, and once more when resolution recovers.
 */
export class DnsReplicaDiscovery {
  readonly source: string;
  readonly #config: DiscoveredEndpointsConfig;
  readonly #target: ReplicaSet;
  readonly #lookup: AddressLookup;
  readonly #onNotice: NonNullable<DnsReplicaDiscoveryOptions['onNotice']>;
  readonly #host: string;
  readonly #port: string;
  readonly #path: string;
  readonly #replicas = new Map<string, Replica>();
  /** Background adds and drains, awaited by close(). */
  readonly #ops = new Set<Promise<void>>();
  /** Addresses whose add failed, logged once until they succeed or leave the answer. */
  readonly #addFailed = new Set<string>();
  readonly #stop = new AbortController();
  #want = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #running: Promise<void> | undefined;
  #failStreak = 0;
  #empty = false;
  #resolutions = 0;
  #failedResolutions = 0;
  #added = 0;
  #removed = 0;

  constructor(config: DiscoveredEndpointsConfig, target: ReplicaSet, opts: DnsReplicaDiscoveryOptions = {}) {
    const u = new URL(config.discover);
    this.source = config.discover;
    this.#config = config;
    this.#target = target;
    this.#host = u.hostname;
    this.#port = u.port;
    this.#path = u.pathname.replace(/\/+$/, '');
    this.#lookup = opts.lookup ?? dnsLookup(config.dnsServers);
    this.#onNotice = opts.onNotice ?? (() => {});
  }

  /**
   * Resolves the name once and waits (up to START_WAIT_MS) for the replicas it names to be added or
   * to fail being added, then re-resolves every `resolveIntervalMs` until close(). A failed first
   * resolution is not an error: it is logged and tried again at the interval.
   */
  async start(): Promise<void> {
    if (this.#started || this.#stop.signal.aborted) return;
    this.#started = true;
    await this.refresh();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#settled(), new Promise<void>((r) => (timer = setTimeout(r, START_WAIT_MS)))]);
    clearTimeout(timer);
    this.#schedule();
  }

  /** One resolution now, applied in the background (adds and drains run on after it resolves). */
  refresh(): Promise<void> {
    this.#running ??= this.#resolve().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Stops resolving; pending adds are abandoned, drains run to their end. */
  async close(): Promise<void> {
    this.#stop.abort();
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
    await this.#settled();
  }

  report(): DiscoveryReport {
    return {
      source: this.source,
      replicas: [...this.#replicas].map(([url, r]) => ({ url, state: r.state })),
      resolutions: this.#resolutions,
      failedResolutions: this.#failedResolutions,
      added: this.#added,
      removed: this.#removed,
    };
  }

  #schedule(): void {
    if (this.#stop.signal.aborted) return;
    this.#timer = setTimeout(() => void this.refresh().finally(() => this.#schedule()), this.#config.resolveIntervalMs);
    this.#timer.unref();
  }

  async #settled(): Promise<void> {
    while (this.#ops.size > 0) await Promise.all([...this.#ops]);
  }

  async #resolve(): Promise<void> {
    let addresses: string[];
    try {
      addresses = await this.#lookup(this.#host);
      this.#resolutions++;
    } catch (e) {
      this.#resolutions++;
      this.#failedResolutions++;
      if (this.#failStreak++ === 0) {
        this.#onNotice('warn', `replica discovery: resolving ${this.#host} failed (${codeOf(e)}: ${errorMessage(e)}); keeping the last ${this.#replicas.size} replica(s), trying again every ${this.#config.resolveIntervalMs} ms (logged once until it recovers)`, {
          source: this.source,
          code: codeOf(e),
        });
      }
      return;
    }
    if (this.#stop.signal.aborted) return;
    if (this.#failStreak > 0) {
      this.#onNotice('info', `replica discovery: ${this.#host} resolves again after ${this.#failStreak} failed attempt(s)`, { source: this.source, failed: this.#failStreak });
      this.#failStreak = 0;
    }
    if (addresses.length === 0 && !this.#empty) {
      this.#onNotice('warn', `replica discovery: ${this.#host} has no A/AAAA records: no replica to send work to until one appears`, { source: this.source });
    }
    this.#empty = addresses.length === 0;
    this.#want = new Set(addresses.sort().map((a) => this.#urlOf(a)));
    for (const url of this.#addFailed) if (!this.#want.has(url)) this.#addFailed.delete(url);
    this.#apply();
  }

  /** Starts the adds and drains that bring the replicas to the wanted set. */
  #apply(): void {
    if (this.#stop.signal.aborted) return;
    for (const url of this.#want) if (!this.#replicas.has(url)) this.#add(url);
    for (const [url, r] of this.#replicas) if (r.state === 'live' && !this.#want.has(url)) this.#drain(url, r);
  }

  #add(url: string): void {
    const r: Replica = { state: 'adding' };
    this.#replicas.set(url, r);
    const { discover: _d, resolveIntervalMs: _i, dnsServers: _s, ...settings } = this.#config;
    this.#track(
      this.#target.addEndpoint({ ...settings, url }, this.#stop.signal).then(
        () => {
          r.state = 'live';
          this.#added++;
          this.#addFailed.delete(url);
          this.#onNotice('info', `replica discovery: added ${url} (${this.#host})`, { source: this.source, url });
          this.#apply(); // gone again while it was being added: drain it now
        },
        (e: unknown) => {
          this.#replicas.delete(url); // tried again at the next resolution
          if (this.#stop.signal.aborted || this.#addFailed.has(url)) return;
          this.#addFailed.add(url);
          this.#onNotice('warn', `replica discovery: cannot add ${url} (${errorCode(e)}: ${errorMessage(e)}); trying again at each resolution (logged once)`, {
            source: this.source,
            url,
            code: errorCode(e),
          });
        },
      ),
    );
  }

  #drain(url: string, r: Replica): void {
    r.state = 'draining';
    this.#onNotice('info', `replica discovery: ${url} left ${this.#host}: draining it (no new work; requests in flight finish)`, { source: this.source, url });
    this.#track(
      this.#target
        .removeEndpoint(url)
        .catch((e: unknown) => this.#onNotice('warn', `replica discovery: removing ${url} failed: ${errorMessage(e)}`, { source: this.source, url }))
        .finally(() => {
          this.#replicas.delete(url);
          this.#removed++;
          this.#apply(); // back in the answer while it drained: add it again
        }),
    );
  }

  #track(p: Promise<void>): void {
    this.#ops.add(p);
    void p.finally(() => this.#ops.delete(p));
  }

  #urlOf(address: string): string {
    return `http://${isIPv6(address) ? `[${address}]` : address}:${this.#port}${this.#path}`;
  }
}
