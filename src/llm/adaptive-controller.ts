import { performance } from 'node:perf_hooks';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.js';
import type { Endpoint, RequestOutcome } from './endpoint.js';
import { MetricsScraper, type CapabilityChange, type ServerGauges } from './metrics-scraper.js';

/**
 * Per-replica adaptive concurrency: sets each endpoint's `limit` (requests in flight) so that every
 * vLLM replica keeps its continuous batch full with a small server-side queue, and no more.
 *
 * Control law, applied every `intervalMs` to each replica whose circuit breaker is closed
 * (L = limit, F = our requests in flight there, R / W / K = the replica's running / waiting gauges and
 * KV-cache usage from /metrics, C = its batch capacity). The gauges count every client's requests
 * (several gemflow workers share replicas), so each worker acts on its share s = F / max(F, R + W):
 *
 *   target queue   T = min(ceil(targetQueueFraction * R), floor(server completions/s * maxQueueWaitMs))
 *                  (a few percent of the batch, bounded so the wait in the queue stays under maxQueueWaitMs:
 *                  0 on a replica that completes fewer than one request per maxQueueWaitMs; 1 while the
 *                  rate is unknown; the server's completions/s are estimated as ours / s)
 *   queue too long W > T                        -> L = min(L, F - round(s (W - T)))   (shed our share of the excess:
 *                                                  N workers shed it once between them, not N times)
 *   KV cache full  K >= kvCacheHigh             -> L = min(F - round-up(s W), R)     (what runs, no more)
 *   not full       W <= T, K < kvCacheHigh; the server takes about
 *                    H = min(C + T, V), V = R + floor((kvCacheHigh - K) * R / (K * max(1, Z)))
 *                                          (K here: the larger of the gauge and the usage projected to
 *                                           the requests' stationary sizes, ControlInput.kvProjected)
 *                                          (batch slots plus the target queue, and the requests that fit
 *                                           below kvCacheHigh: those running, plus the free room over the
 *                                           size of the next ones: each running one holds K / R of the
 *                                           cache, those about to be sent are Z times ours in flight, Z = the
 *                                           mean estimated KV size of the client's waiting requests over
 *                                           that of its requests in flight at this replica)
 *                    Z > 1, V < load (V binding)      -> L = min(L, F - round(s (load - V)))   (more in flight
 *                                           than the free room holds at the size about to go: shed our
 *                                           share now, before they are sent)
 *                    demand below the limit (F < L)   -> L = min(L, F + ceil((H - load) / 4))   (no slack beyond the
 *                                           step growth would take: N idle clients would burst N times it)
 *                    F >= L (we are the bottleneck), no load-related 429/503 lately, with load = max(F, R + W):
 *                      H unknown (no C, no K)         -> L = 1.5 L, or L + 5% after any cut (slow start, probing)
 *                      H > load, C unknown            -> the same, but at most L + ceil((H - load) / 4)
 *                      H > load, C known              -> L = L + ceil((H - load) / 4)
 *                      H <= load                      -> L unchanged when the KV term binds, or when we are alone on
 *                                                        the replica and it queues (W > 0: the batch is full, R is its
 *                                                        size), else L + 1 (probe: with other clients, the equal step
 *                                                        up of AIMD)
 *   otherwise                                   -> L unchanged
 *
 * Growth (any rule that raises L) waits for gauges from a scrape sent after the last raise: older ones
 * do not show the requests it sent, and with other clients load = R + W does not count ours in flight,
 * so the same room would be taken twice. Alone on the replica (s = 1) the step rounds up; with others it
 * is dithered (floor(step + u), u uniform in [0, 1)), so N clients take a room smaller than N between
 * them, not one request each.
 *
 * KV budget: while K >= kvCacheHigh, the estimated KV tokens of ours in flight at the replica are bounded
 * by what fills the cache at the last scrape's usage (ours in flight as it was sent, less our share s W of
 * the queue, times 1 / K): a request that would go beyond it waits in the client (Endpoint.kvBudget,
 * enforced by the scheduler; one request always goes when none are in flight there). A count alone lets
 * a large request replace a small finished one and wait in the server's queue for KV to free.
 *
 * Growth steps are the same for every worker whatever its share (a quarter of the room: up to four
 * workers fill it at once without overshoot) and cuts are proportional to the share: AIMD, so unequal
 * limits converge to fair shares of each replica.
 *
 * No cut takes more than half of L in one tick. When the KV cache is full the server starts no more
 * requests until some finish, so anything in flight beyond R only queues, and not for a slot but until
 * requests holding enough KV space for it have finished: possibly several, so the target queue (sized
 * in completions) does not bound that wait, and none is kept. The limit follows what actually runs,
 * whichever resource (batch slots or KV cache) binds; kvCacheHigh below 1 leaves room for the next
 * request's KV so that it is admitted at once (and, on a vLLM that allocates KV as sequences grow,
 * for their growth, short of preemption). C is `maxRunningSeqs` when configured, else learnt as the
 * requests running at the last scrape that showed a queue (a queue forms only when the batch or the
 * KV cache is full). The latest such figure, not the most ever seen: how many requests fit in the KV
 * cache depends on the mix of their sizes, and a peak reached with small requests overestimates the
 * capacity once large ones dominate. The queue rule is idempotent on stale data: F - (W - T) names
 * the same limit until the excess has drained, so a slow drain does not compound the cut.
 *
 * Between ticks, a 429 or 503 cuts L to 0.7 L at once (at most once per interval), and L does not
 * grow for the next OVERLOAD_HOLD_TICKS ticks, unless the replica's fresh gauges show its queue within
 * the target (W <= T, the KV cache full or not): then the refusal is not about load (a gateway's random 429/503) and only
 * the call is retried, with backoff. Such forgiven refusals still cut once they are more than half of
 * 50 consecutive answers (something in front of the replica limits what it lets through). vLLM itself
 * sends neither status; a gateway in front of it does.
 *
 * Gauges that go stale on a replica that exports them hold L (no growth on old news). On a replica
 * without gauges, latency is the congestion signal instead: each
 * success gives a per-output-token latency; a short EWMA of it is compared with a baseline (the lowest
 * EWMA seen, drifting up slowly so a changed workload is relearnt). Inflation beyond
 * `latencyTolerance` cuts L to 0.8 L, and a timeout halves it (the request sat in a queue we cannot
 * see, and a server that does not cancel abandoned work still has it); otherwise, when we are the
 * bottleneck and a limit's worth of requests completed since the last step, L grows 1.5x (slow start,
 * until the first cut) then by 5%. With gauges, latency is not used: in vLLM per-token latency grows
 * with the batch by design, and the queue gauge says directly whether more requests would help.
 *
 * Requests already sent are taken back from a queue that would hold them far beyond the target wait
 * (requeueCount, Endpoint.requeueNewest): the limit stops new sends, this undoes what was sent before
 * the capacity fell or the requests grew.
 *
 * No signal ever takes L below `minConcurrency` (nor above the endpoint's maxConcurrency); routing
 * additionally ranks replicas by headroom minus their server backlog (W - T), so a replica reporting a
 * long queue gets less work even before its limit comes down.
 */

/** Options of the AdaptiveController; every field has a default. */
export interface AdaptiveOptions {
  /** Control period; default 500 ms. */
  intervalMs?: number;
  /** Period of /metrics scrapes; default 300 ms. */
  scrapeIntervalMs?: number;
  /** Timeout of one /metrics request; default 1000 ms (the /health timeout is the breaker's healthTimeoutMs). */
  scrapeTimeoutMs?: number;
  /** Floor of every replica's limit: no transient signal goes below it. Default 4. */
  minConcurrency?: number;
  /** Batch capacity (vLLM --max-num-seqs) of every replica; default: learnt from the gauges. */
  maxRunningSeqs?: number;
  /** Target server queue as a fraction of the running batch; default 0.08. */
  targetQueueFraction?: number;
  /** Bound of the target queue, as the time the queue takes to drain; default 1000 ms. */
  maxQueueWaitMs?: number;
  /**
   * KV-cache usage from which a replica counts as full (its limit follows what runs); default 0.97.
   * Below it the count law aims at it, so it sets where KV-bound phases run. At 0.95 they ran 2-3%
   * below a fixed limit that keeps a queue (homogeneous utilisation 0.984-0.988 in five full
   * benchmarks; 0.989-0.993 in three at 0.97, with 99.0-99.8% of requests queued <= 2 s and 99.6-99.9%
   * in the heterogeneous scenario). At 0.98 (gemflow-only runs): 0.994-0.996, but heterogeneous 99.0-99.6% (the slow
   * replica frees KV slowly, and a request that meets a full cache there waits for it). 2026-12-02.
   */
  kvCacheHigh?: number;
  /**
   * Take back requests a replica's queue would hold far beyond the target wait (requeueCount); default
   * true. Needs a server that drops a request whose client went away (vLLM does).
   */
  requeue?: boolean;
  /** Latency inflation (short EWMA / baseline) taken as congestion when gauges are missing; default 2. */
  latencyTolerance?: number;
  breaker?: CircuitBreakerOptions;
  /** Observes limit changes and breaker transitions (for logs). */
  onEvent?: (e: AdaptiveEvent) => void;
  /** Told once what an operator should know: a replica without vLLM gauges or without /health. */
  onNotice?: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
  /** Where the limit of a replica found without gauges starts (it grows on measured latency); default 2. */
  noGaugesInitialConcurrency?: number;
}

export interface AdaptiveEvent {
  url: string;
  kind: 'limit' | 'breaker' | 'requeue';
  /** The new limit; for `requeue`, how many requests were taken back. */
  limit: number;
  state: BreakerState;
  /** Why: the rule that fired (e.g. "queue", "slow_start", "overload") or the breaker's reason. */
  reason: string;
  /** Our requests in flight at the replica when it happened. */
  inFlight: number;
}

/** What the controller needs from the client whose endpoints it steers. */
export interface ClientHooks {
  /** Sends `ep` one trial request (see CircuitBreaker's TrialRequest) through the client's request path. */
  trial(ep: Endpoint, signal: AbortSignal, timeoutMs: number): Promise<RequestOutcome>;
  /** The requests waiting for a slot (the next to be sent) and their estimated KV-cache tokens. */
  waiting(): { requests: number; kvTokens: number };
}

/** One replica as the controller sees it. */
export interface ReplicaReport {
  url: string;
  state: BreakerState;
  limit: number;
  inFlight: number;
  /** Batch capacity (configured or learnt); undefined until a queue has been seen. */
  capacity: number | undefined;
  gauges: ServerGauges | undefined;
  /** The rule behind the last limit change. */
  reason: string;
  /** Failed /metrics scrapes so far, and whether the replica exports vLLM gauges (undefined: not known yet). */
  scrapeErrors: number;
  gaugesAvailable: boolean | undefined;
}

/** What the control law needs to know about one replica at a tick. */
export interface ControlInput {
  limit: number;
  inFlight: number;
  /** Fresh gauges, or undefined when the replica exports none or the last scrape is stale. */
  gauges: Omit<ServerGauges, 'at'> | undefined;
  capacity: number | undefined;
  /** Our successful requests per second on this replica (smoothed). */
  completionsPerSec: number;
  /**
   * The same over a longer horizon (~20 ticks), for the target queue: a rate near one completion per
   * maxQueueWaitMs must not flip the target between 0 and 1 from tick to tick. Undefined: completionsPerSec.
   */
  steadyCompletionsPerSec?: number;
  /** Short-term per-token latency over its baseline; undefined before enough samples. */
  latencyRatio: number | undefined;
  /** Still ramping up: no congestion signal seen yet. */
  slowStart: boolean;
  /** A 429 or 503 came back recently: do not grow. */
  overloaded: boolean;
  /**
   * Requests are in flight but none has completed for a while (or ever): no evidence the replica takes
   * more. Without gauges this holds the limit, so a replica that hangs does not draw ever more work.
   */
  stalled?: boolean;
  /**
   * Without gauges: whether a limit's worth of requests has completed since the limit last grew. Growth
   * waits for it (one step per round trip, as TCP's window does), so latency can show the effect of a
   * step before the next; a server that queues internally would otherwise be overrun before its
   * latency says so.
   */
  roundDone?: boolean;
  /** The replica exports gauges but the latest scrape is stale (a slow or failed /metrics): no growth on old news. */
  gaugesStale?: boolean;
  /**
   * The fresh gauges were read before our last growth here took effect: they do not show the
   * requests that growth sent. Growth waits for a newer scrape (with other clients on the replica the
   * gauges' load, not ours, is the load, so growing again on the same gauges would count the same
   * room twice).
   */
  grewSinceScrape?: boolean;
  /**
   * A number in [0, 1) to round growth steps with when other clients share the replica (floor(step +
   * dither)): each takes a quarter of the room on average, so four take the room, not four times one
   * request when the room is smaller than four. Undefined: steps round up.
   */
  dither?: number;
  /**
   * The replica's KV usage projected to its requests' stationary sizes (prompt + half the expected
   * completion; AdaptiveController #projected), when it states its KV cache's size. vLLM allocates
   * KV as tokens are decoded, so its usage gauge shows what requests hold now, not what they will:
   * grown on the gauge alone, a limit over-commits the cache and the server preempts (2026-12-04,
   * simulator kvAllocation incremental: a slow replica grew to 151 requests at 39-97% usage, then
   * ~35 preempted requests waited there up to minutes; whole-run p99 queue wait 112 s). The growth
   * room (kvFit) counts on the larger of the gauge and this. Requests finish at different times, so
   * their full sizes (all at once) are not the mark: counted on full sizes, utilisation fell to
   * 0.89-0.97.
   */
  kvProjected?: number;
  /**
   * Mean estimated KV-cache size of the requests waiting to be sent over that of ours in flight at
   * this replica (undefined or 1: the same). Above 1, fewer requests will fit in the KV cache once
   * those about to go replace those running.
   */
  kvSizeRatio?: number;
  /**
   * Alone on the replica, the last probe past its learnt batch met a queue not long ago: do not probe
   * yet. Each probe that meets a queue doubles the wait before the next (up to MAX_PROBE_BACKOFF_TICKS
   * ticks), so a batch that is full stays at its size without a request queued every other tick; room
   * found resets it.
   */
  probeBackoff?: boolean;
}

export interface ControlDecision {
  limit: number;
  /** Server queue beyond the target (0 when none or unknown). */
  backlog: number;
  reason: string;
}

export type ControlLawOptions = Required<Pick<AdaptiveOptions, 'minConcurrency' | 'targetQueueFraction' | 'maxQueueWaitMs' | 'kvCacheHigh' | 'latencyTolerance'>>;

const SLOW_START_GROWTH = 1.5;
/** With gauges and room on the server, each client grows by the room over this. */
const GROWTH_DIVISOR = 4;
const PROBE_GROWTH = 0.05;
const PRESSURE_CUT = 0.8;
const OVERLOAD_CUT = 0.7;
/** A timeout on a replica without gauges halves its limit. */
const TIMEOUT_CUT = 0.5;
const MAX_CUT = 0.5;
/** Ticks after a 429/503 during which the limit does not grow. */
const OVERLOAD_HOLD_TICKS = 5;
/**
 * 429/503 that come while the gauges show room are forgiven one by one, but when they are more than
 * MAX_REFUSED_SHARE of REFUSAL_SAMPLE consecutive answers they cut as overload (independent 20% refusals
 * reach that with odds of about 1 in a million; refusals come back faster than answers, so bursts of
 * them are likelier, and the sample is kept large).
 */
const MAX_REFUSED_SHARE = 0.5;
const REFUSAL_SAMPLE = 50;
/** Weight of the newest sample in the per-token latency EWMA. */
const LATENCY_ALPHA = 0.1;
/** Samples before the latency ratio is trusted. */
const LATENCY_MIN_SAMPLES = 8;
/** Per-tick upward drift of the latency baseline. */
const BASELINE_DRIFT = 0.002;
/** Weight of the newest tick in the completion-rate EWMA (what the queue's drain time and take-backs use: quick to follow a cut). */
const RATE_ALPHA = 0.3;
/**
 * The same for the rate that sets the target queue (floor(rate x maxQueueWaitMs)): 0.05, about the
 * last 20 ticks. At 0.3 a replica completing 0.64 requests a second read 1 or more in ~15% of ticks, so
 * its target flipped between 0 and 1 and a request queued behind its full batch at every flip (bench
 * 11:03, capacity-change); at 0.05, in ~0.3% of ticks.
 */
const TARGET_RATE_ALPHA = 0.05;
/** With other clients on the replica, scrapes in a row that must show a long queue before requests are taken back from it. */
const REQUEUE_SCRAPES_SHARED = 2;
/** Longest wait, in ticks, between probes past a full batch (see ControlInput.probeBackoff). */
const MAX_PROBE_BACKOFF_TICKS = 32;
/** A queue whose newest request would wait more than this many times maxQueueWaitMs gives back the excess (requeueCount). */
const REQUEUE_WAIT_FACTOR = 2;

/** The control law described above: one replica, one tick. Pure. */
export function controlLaw(x: ControlInput, o: ControlLawOptions): ControlDecision {
  const cut = (factor: number) => Math.max(o.minConcurrency, Math.floor(x.limit * factor));
  const settled = x.inFlight <= x.limit;
  const demand = x.inFlight >= x.limit;
  const hold = (reason: string): ControlDecision => ({ limit: x.limit, backlog: 0, reason });
  const grow = (): ControlDecision =>
    x.slowStart
      ? { limit: Math.ceil(x.limit * SLOW_START_GROWTH), backlog: 0, reason: 'slow_start' }
      : { limit: x.limit + Math.max(1, Math.round(x.limit * PROBE_GROWTH)), backlog: 0, reason: 'probe' };
  const g = x.gauges;
  if (g?.running !== undefined && g.waiting !== undefined) {
    // The gauges count every client's requests, not only ours. Our share of what the server holds
    // (F may include requests still on the wire, which the gauges do not show yet):
    const share = x.inFlight <= 0 ? 0 : x.inFlight / Math.max(x.inFlight, g.running + g.waiting);
    // The server drains its queue at every client's pace: ours over our share.
    const ours = x.steadyCompletionsPerSec ?? x.completionsPerSec;
    const serverRate = share > 0 ? ours / share : ours;
    // Unknown rate (nothing completed yet): one. A slow replica's target can be 0: one queued request
    // there would wait a whole completion gap (seconds on a cut or slow replica), beyond maxQueueWaitMs.
    const target = ours > 0 ? Math.min(Math.ceil(o.targetQueueFraction * g.running), Math.floor((serverRate * o.maxQueueWaitMs) / 1000)) : 1;
    const backlog = Math.max(0, g.waiting - target);
    const lowest = Math.max(o.minConcurrency, Math.ceil(x.limit * MAX_CUT));
    // Each client sheds its share of the excess, so N clients together shed it once, not N times
    // (rounded, not rounded up: a ceiling would take relatively more from small clients).
    if (backlog > 0) return { limit: Math.max(lowest, Math.min(x.limit, x.inFlight - Math.round(backlog * share))), backlog, reason: 'queue' };
    const kv = g.kvCacheUsage;
    const kvGrow = kv === undefined ? undefined : Math.max(kv, x.kvProjected ?? 0);
    if (kv !== undefined && kv >= o.kvCacheHigh) {
      // F - share x W: ours that are not queued (some may still be on the wire); R: what the server runs.
      return { limit: Math.max(lowest, Math.min(x.inFlight - Math.ceil(g.waiting * share), g.running)), backlog: 0, reason: 'kv_cache' };
    }
    // What the server can take: its batch slots plus the target queue, and the requests that fit below
    // kvCacheHigh (no queue: see above): those running plus as many of the size about to be sent as
    // the free room holds (each running request holds K / R of the cache on average, the next ones
    // kvSizeRatio times ours in flight; only larger counts, smaller ones leave the estimate as it is).
    // Either may be unknown.
    const slots = x.capacity === undefined ? Infinity : x.capacity + target;
    const larger = Math.max(1, x.kvSizeRatio ?? 1);
    const kvFit = kvGrow !== undefined && kvGrow > 0 ? g.running + Math.floor(((o.kvCacheHigh - kvGrow) * g.running) / (kvGrow * larger)) : Infinity;
    const fit = Math.min(slots, kvFit);
    // The load is ours in flight, or what the server shows if more (its gauges include other clients).
    const load = Math.max(x.inFlight, g.running + g.waiting);
    // More in flight than the KV cache will hold once the requests about to go (larger ones, when the
    // mix shifts) replace those running: shed our share of the excess now, before they are sent, since
    // a request sent cannot be taken back and would wait in the server's queue for KV space.
    if (larger > 1 && kvFit < load && kvFit <= slots) {
      const limit = Math.max(lowest, Math.min(x.limit, x.inFlight - Math.round((load - kvFit) * share)));
      if (limit < x.limit) return { limit, backlog: 0, reason: 'kv_next' };
    }
    // A quarter of the room left, the same step for every client whatever its share: up to four
    // clients growing at once fill the room without overshoot; more overshoot once, and the queue
    // rule sheds the excess in proportion to their shares. Equal steps up with proportional cuts
    // down (AIMD) make unequal limits converge to fair shares. Alone on the replica the step rounds
    // up; with other clients it is dithered, so that they take the room between them and not one
    // request each when it holds fewer than four.
    const quarter = Math.max(0, fit - load) / GROWTH_DIVISOR;
    const step = share < 1 && x.dither !== undefined ? Math.floor(quarter + x.dither) : Math.ceil(quarter);
    // Demand below the limit: no slack beyond the step growth would take. An unused limit is a burst
    // in waiting: several clients each holding the whole room would send N times it at once when
    // their next wave of calls comes (and a request sent cannot be taken back).
    if (!demand) return { limit: Math.max(lowest, Math.min(x.limit, x.inFlight + step)), backlog: 0, reason: 'idle' };
    if (x.overloaded) return hold('overload_hold');
    // The gauges predate our last step: the room they show is the room that step took.
    if (x.grewSinceScrape) return hold('scrape_pending');
    if (fit > load) {
      if (x.capacity !== undefined) return step > 0 ? { limit: x.limit + step, backlog: 0, reason: 'headroom' } : hold('headroom');
      const growth = grow();
      return growth.limit <= x.limit + step ? growth : step > 0 ? { limit: x.limit + step, backlog: 0, reason: 'kv_room' } : hold('kv_room');
    }
    // Full by the KV estimate: wait for the gauge. Full by the learnt slots with no queue: probe, they
    // may have grown. Alone on the replica with a queue (the KV cache not full) the batch is full and
    // what runs is its size (C was just learnt from it): a probe would only lengthen the queue. With
    // other clients the probe stays: it is the equal step up that, with the queue rule's proportional
    // cuts, moves unequal shares of a full batch toward fair ones.
    if (kvFit <= slots) return hold('kv_room');
    if (share >= 1 && (g.waiting > 0 || x.probeBackoff)) return hold(g.waiting > 0 ? 'batch_full' : 'probe_backoff');
    return { limit: x.limit + 1, backlog: 0, reason: 'probe' };
  }
  if (x.latencyRatio !== undefined && x.latencyRatio > o.latencyTolerance) {
    return settled ? { limit: cut(PRESSURE_CUT), backlog: 0, reason: 'latency' } : hold('latency_draining');
  }
  if (!demand) return hold('idle');
  if (x.overloaded) return hold('overload_hold');
  if (x.stalled) return hold('no_progress');
  if (x.gaugesStale) return hold('stale_gauges');
  if (x.roundDone === false) return hold('round_trip');
  return grow();
}

/**
 * How many of ours in flight at a replica to take back (Endpoint.requeueNewest) because its queue
 * would hold them far longer than the target wait. The queue drains at the server's completion rate
 * (ours over our share s); its newest request waits about W / rate. Beyond REQUEUE_WAIT_FACTOR x
 * maxQueueWaitMs, each client takes back its share of what the server cannot start within
 * maxQueueWaitMs: round(s (W - floor(rate x maxQueueWaitMs))), newest first (vLLM admits first come
 * first served, so the newest are the ones waiting). The limit rules stop new sends to such a queue;
 * this moves what was already sent back to the client, where any replica with room takes it: after a
 * replica's capacity is cut, or when several clients grew into a KV cache that the next, larger
 * requests then overfilled. The queue the gauges show is counted less what the server started since
 * the scrape was sent (`sinceScrapeMs` at its rate): taking back requests it has just admitted would cut
 * off their generation. With other clients our newest need not be the queued ones (theirs may have come
 * later), so only requests sent within the queue's span (`youngerThanMs`: what is waiting over the rate,
 * about the time its requests took to arrive) are taken: an older one has been admitted. Unknown rate
 * (nothing completed yet) or no queue: none.
 */
export function requeueCount(
  x: Pick<ControlInput, 'inFlight' | 'completionsPerSec'> & { gauges: Omit<ServerGauges, 'at'> | undefined; sinceScrapeMs?: number },
  o: Pick<ControlLawOptions, 'maxQueueWaitMs'>,
): { requests: number; youngerThanMs: number } {
  const g = x.gauges;
  if (g?.running === undefined || g.waiting === undefined || g.waiting <= 0 || x.inFlight <= 0 || x.completionsPerSec <= 0) return NO_REQUEUE;
  const share = x.inFlight / Math.max(x.inFlight, g.running + g.waiting);
  const rate = x.completionsPerSec / share;
  // What is still waiting now: the queue drained at the server's rate since the scrape was sent.
  const waiting = g.waiting - (rate * Math.max(0, x.sinceScrapeMs ?? 0)) / 1000;
  const spanMs = (waiting / rate) * 1000;
  if (spanMs <= REQUEUE_WAIT_FACTOR * o.maxQueueWaitMs) return NO_REQUEUE;
  const startsSoon = Math.floor((rate * o.maxQueueWaitMs) / 1000);
  return { requests: Math.min(x.inFlight, Math.max(0, Math.round(share * (waiting - startsSoon)))), youngerThanMs: spanMs };
}
const NO_REQUEUE = { requests: 0, youngerThanMs: 0 };

/**
 * Whether a replica's gauges say a 429/503 from it is not about load: its queue within the target (a
 * few percent of the batch). A full KV cache with a short queue is the operating point the limit aims
 * at (the KV-bound phases of a run), not overload: sending less would only idle the GPU. Counting it as
 * load cut the limit on every random refusal there (bench 08:03, gateway-faults: 108 overload cuts,
 * utilisation 0.956 against 0.989 without faults). Without gauges: unknown, so false.
 */
export function refusalNotLoad(g: Omit<ServerGauges, 'at'> | undefined, o: Pick<ControlLawOptions, 'targetQueueFraction'>): boolean {
  if (g?.waiting === undefined || g.running === undefined) return false;
  return g.waiting <= Math.max(1, Math.ceil(o.targetQueueFraction * g.running));
}

/** One endpoint's controller state. */
class Replica {
  capacity: number | undefined;
  slowStart = true;
  reason = 'initial';
  okSinceTick = 0;
  /** Successes since the limit last grew (see ControlInput.roundDone). */
  okSinceGrowth = 0;
  /** Chat attempts answered (any outcome), and of them 429/503, since the refusal share was last judged. */
  answered = 0;
  refused = 0;
  completionsPerSec = 0;
  /** The same, smoothed over ~20 ticks (ControlInput.steadyCompletionsPerSec). */
  steadyCompletionsPerSec = 0;
  /** When its last request completed (undefined: none yet). */
  lastOkAt: number | undefined;
  latencyShort: number | undefined;
  latencyBase: number | undefined;
  samples = 0;
  lastOverloadCutAt = -Infinity;
  /** When its limit last grew (see ControlInput.grewSinceScrape). */
  lastGrowthAt = -Infinity;
  /** When requests were last taken back from its queue (see requeueCount), the last scrape judged, and how many in a row showed a long queue. */
  lastRequeueAt = -Infinity;
  requeueJudgedAt = -Infinity;
  longQueueScrapes = 0;
  /** Probes past a full batch while alone: ticks to wait after the next one, no probe before nextProbeAt, and whether one is out. */
  probeTicks = 1;
  nextProbeAt = -Infinity;
  probing = false;
  /** Ours in flight here, requests, estimated KV tokens and of them completion tokens, as the latest scrapes were sent: [sentAt, requests, tokens, completion]. */
  atScrape: Array<[number, number, number, number]> = [];
  /** The scrape the KV budget was last set from (its sentAt). */
  budgetFrom = -Infinity;
  /** The replica exports no vLLM gauges: its limit may go down to 1. */
  noGauges = false;
  /** One /health check (at start: learns whether the route exists). */
  probeHealth: () => Promise<void> = () => Promise.resolve();

  constructor(
    readonly ep: Endpoint,
    readonly metricsUrl: string,
    readonly breaker: CircuitBreaker,
  ) {}

  recordLatency(o: RequestOutcome): void {
    const perToken = o.latencyMs / Math.max(1, o.completionTokens ?? 1);
    this.latencyShort = this.latencyShort === undefined ? perToken : this.latencyShort + LATENCY_ALPHA * (perToken - this.latencyShort);
    this.samples++;
  }

  /** Updates the baseline and returns the short EWMA over it. */
  latencyRatio(): number | undefined {
    if (this.latencyShort === undefined || this.samples < LATENCY_MIN_SAMPLES) return undefined;
    this.latencyBase = this.latencyBase === undefined ? this.latencyShort : Math.min(this.latencyShort, this.latencyBase * (1 + BASELINE_DRIFT));
    return this.latencyShort / this.latencyBase;
  }
}

/**
 * Drives the concurrency limits of a set of endpoints (see the control law above) from their
 * /metrics gauges, request outcomes and latencies, and guards each with a CircuitBreaker. attach()
 * endpoints, start(), and close() when done; endpoints can be attached and detached at any time.
 */
export class AdaptiveController {
  readonly #o: Required<Omit<AdaptiveOptions, 'maxRunningSeqs' | 'breaker' | 'onEvent' | 'onNotice'>> & Pick<AdaptiveOptions, 'maxRunningSeqs' | 'breaker' | 'onEvent' | 'onNotice'>;
  readonly #scraper: MetricsScraper;
  readonly #replicas = new Map<Endpoint, Replica>();
  #timer: NodeJS.Timeout | undefined;
  #lastTickAt = performance.now();
  #started = false;
  readonly #client: ClientHooks;

  /** `client`: what the controller needs from the client that owns the endpoints. */
  constructor(client: ClientHooks, opts: AdaptiveOptions = {}) {
    this.#client = client;
    this.#o = {
      intervalMs: opts.intervalMs ?? 500,
      scrapeIntervalMs: opts.scrapeIntervalMs ?? 300,
      scrapeTimeoutMs: opts.scrapeTimeoutMs ?? 1000,
      minConcurrency: opts.minConcurrency ?? 4,
      targetQueueFraction: opts.targetQueueFraction ?? 0.08,
      maxQueueWaitMs: opts.maxQueueWaitMs ?? 1000,
      kvCacheHigh: opts.kvCacheHigh ?? 0.97,
      latencyTolerance: opts.latencyTolerance ?? 2,
      requeue: opts.requeue ?? true,
      maxRunningSeqs: opts.maxRunningSeqs,
      breaker: opts.breaker,
      onEvent: opts.onEvent,
      onNotice: opts.onNotice,
      noGaugesInitialConcurrency: opts.noGaugesInitialConcurrency ?? 2,
    };
    this.#scraper = new MetricsScraper({
      intervalMs: this.#o.scrapeIntervalMs,
      timeoutMs: this.#o.scrapeTimeoutMs,
      onCapability: (c) => this.#onCapability(c),
      onSend: (key, sentAt) => {
        const r = [...this.#replicas.values()].find((x) => x.ep.url === key);
        if (!r) return;
        r.atScrape.push([sentAt, r.ep.inFlight, r.ep.kvTokensInFlight, r.ep.completionTokensInFlight]);
        if (r.atScrape.length > 4) r.atScrape.shift();
      },
    });
  }

  /** Takes over `ep`: scrapes its gauges, steers its limit, and ejects it when it fails. */
  attach(ep: Endpoint): void {
    if (this.#replicas.has(ep)) return;
    const origin = new URL(ep.url).origin;
    const healthUrl = origin + ep.path('/health');
    const modelsUrl = origin + ep.path('/v1/models');
    const breaker = new CircuitBreaker(
      ep,
      (signal, timeoutMs) => this.#scraper.health(healthUrl, signal, timeoutMs, modelsUrl),
      (signal, timeoutMs) => this.#client.trial(ep, signal, timeoutMs),
      this.#o.breaker,
      (state, reason) => {
        // Healthy again: scrape it at once (its scrapes backed off while it was down), so the limit
        // it gets on closing grows from fresh gauges rather than waiting on stale ones.
        if (state === 'half_open') this.#scraper.resume(ep.url);
        this.#o.onEvent?.({ url: ep.url, kind: 'breaker', limit: ep.limit, state, reason, inFlight: ep.inFlight });
      },
    );
    const r = new Replica(ep, origin + ep.path('/metrics'), breaker);
    r.probeHealth = () => this.#scraper.health(healthUrl, undefined, this.#o.scrapeTimeoutMs, modelsUrl).then(() => undefined);
    r.capacity = this.#o.maxRunningSeqs;
    this.#replicas.set(ep, r);
    this.#scraper.add(ep.url, r.metricsUrl);
    ep.onOutcome = (o) => this.#onOutcome(r, o);
    if (this.#started) r.breaker.start();
  }

  /** Lets go of `ep` (its limit stays as it is). */
  detach(ep: Endpoint): void {
    const r = this.#replicas.get(ep);
    if (!r) return;
    r.breaker.close();
    ep.kvBudget = Infinity;
    this.#scraper.remove(ep.url);
    ep.onOutcome = () => {};
    this.#replicas.delete(ep);
  }

  /** Starts scraping, health checks and the control loop; resolves once the first scrape round is in. */
  start(): Promise<void> {
    if (this.#started) return Promise.resolve();
    this.#started = true;
    this.#scraper.start();
    for (const r of this.#replicas.values()) r.breaker.start();
    this.#lastTickAt = performance.now();
    this.#timer = setInterval(() => this.#tick(), this.#o.intervalMs);
    this.#timer.unref();
    // One scrape and one /health check per replica before work starts: what the server lacks is known
    // (and reported) before the first limit matters.
    return Promise.all([this.#scraper.firstRound(), ...[...this.#replicas.values()].map((r) => r.probeHealth())]).then(() => undefined);
  }

  /**
   * A replica's capabilities changed. Without vLLM gauges the limit follows latency alone, starting
   * low (a server without gauges may serve one request at a time) and growing as latency allows.
   */
  #onCapability(c: CapabilityChange): void {
    if (c.what === 'health') {
      this.#o.onNotice?.('warn', `no /health at ${c.url} (${c.reason}): liveness is checked on /v1/models instead`, { url: c.url, reason: c.reason });
      return;
    }
    const r = [...this.#replicas.values()].find((x) => x.ep.url === c.key);
    if (!c.available) {
      this.#o.onNotice?.('warn', `no vLLM gauges at ${c.url}: latency control only (${c.reason}); scraping backs off`, { url: c.url, reason: c.reason });
      if (r && r.ep.ok === 0 && r.breaker.state === 'closed') {
        r.noGauges = true;
        r.slowStart = true;
        this.#setLimit(r, Math.min(r.ep.limit, this.#o.noGaugesInitialConcurrency), 'no_gauges');
      }
    } else {
      if (r) r.noGauges = false;
      this.#o.onNotice?.('info', `vLLM gauges at ${c.url} again: gauge control`, { url: c.url });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const ep of [...this.#replicas.keys()]) this.detach(ep);
    await this.#scraper.close();
  }

  report(): ReplicaReport[] {
    return [...this.#replicas.values()].map((r) => ({
      url: r.ep.url,
      state: r.breaker.state,
      limit: r.ep.limit,
      inFlight: r.ep.inFlight,
      capacity: r.capacity,
      gauges: this.#scraper.latest(r.ep.url),
      reason: r.reason,
      scrapeErrors: this.#scraper.status(r.ep.url)?.errors ?? 0,
      gaugesAvailable: this.#scraper.status(r.ep.url)?.gaugesAvailable,
    }));
  }

  #onOutcome(r: Replica, o: RequestOutcome): void {
    r.breaker.record(o);
    r.answered++;
    if (o.ok) {
      r.okSinceTick++;
      r.okSinceGrowth++;
      r.lastOkAt = performance.now();
      r.recordLatency(o);
      return;
    }
    const now = performance.now();
    if (o.code === 'llm_timeout') {
      // Without gauges, a timeout is the strongest congestion signal there is: the request sat too long
      // in a queue we cannot see, and a server that does not cancel abandoned work still has it (the
      // retry would be queued behind it). Halve the limit; not when gemflow's own loop caused it.
      const ownStall = (o.stalledMs ?? 0) > Math.max(500, 0.2 * o.latencyMs);
      if (ownStall || this.#freshGauges(r, now) !== undefined || r.breaker.state !== 'closed' || now - r.lastOverloadCutAt < this.#o.intervalMs) return;
      r.lastOverloadCutAt = now;
      r.slowStart = false;
      this.#setLimit(r, Math.max(r.noGauges ? 1 : this.#o.minConcurrency, Math.floor(r.ep.limit * TIMEOUT_CUT)), 'timeout');
      return;
    }
    const overload = o.code === 'llm_rate_limited' || o.code === 'llm_unavailable';
    if (!overload) return;
    r.refused++;
    if (r.breaker.state !== 'closed' || now - r.lastOverloadCutAt < this.#o.intervalMs) return;
    // The server's own gauges say it has room: the refusal is not about load (a gateway's random
    // 429/503, a flaky proxy). The call is retried with backoff; the limit stays, and keeps growing.
    if (refusalNotLoad(this.#freshGauges(r, now), this.#o)) return;
    this.#overloadCut(r, now, 'overload');
  }

  /** A 429/503 that says the replica (or what is in front of it) takes less: 0.7 L, and no growth for a while. */
  #overloadCut(r: Replica, now: number, reason: string): void {
    r.lastOverloadCutAt = now;
    r.slowStart = false;
    this.#setLimit(r, Math.max(r.noGauges ? 1 : this.#o.minConcurrency, Math.floor(r.ep.limit * OVERLOAD_CUT)), reason);
  }

  /** The replica's latest gauges, unless stale. */
  #freshGauges(r: Replica, now: number): ServerGauges | undefined {
    const g = this.#scraper.latest(r.ep.url);
    return g && now - g.at <= 3 * this.#o.scrapeIntervalMs + this.#o.scrapeTimeoutMs ? g : undefined;
  }

  #tick(): void {
    const now = performance.now();
    const dtSec = Math.max(1e-3, (now - this.#lastTickAt) / 1000);
    this.#lastTickAt = now;
    const waiting = this.#client.waiting();
    for (const r of this.#replicas.values()) {
      const tickRate = r.okSinceTick / dtSec;
      r.completionsPerSec += RATE_ALPHA * (tickRate - r.completionsPerSec);
      r.steadyCompletionsPerSec += TARGET_RATE_ALPHA * (tickRate - r.steadyCompletionsPerSec);
      r.okSinceTick = 0;
      const latencyRatio = r.latencyRatio();
      r.breaker.watch();
      if (r.breaker.state !== 'closed') {
        r.ep.kvBudget = Infinity; // its KV is not what it was once it is back
        continue; // ejected or on trial: the breaker owns the replica
      }
      const gauges = this.#freshGauges(r, now);
      // Refusals forgiven one by one (idle gauges) still cut once they outnumber the answers: something
      // in front of the replica limits what it lets through, whatever the gauges behind it say.
      if (r.answered >= REFUSAL_SAMPLE) {
        if (r.refused / r.answered > MAX_REFUSED_SHARE) this.#overloadCut(r, now, 'overload_rate');
        r.answered = 0;
        r.refused = 0;
      }
      this.#batchGrew(r, gauges);
      if (gauges?.waiting !== undefined && gauges.waiting > 0 && gauges.running !== undefined && this.#o.maxRunningSeqs === undefined) {
        r.capacity = gauges.running;
      }
      const d = controlLaw(
        {
          limit: r.ep.limit,
          inFlight: r.ep.inFlight,
          gauges,
          capacity: r.capacity,
          completionsPerSec: r.completionsPerSec,
          steadyCompletionsPerSec: r.steadyCompletionsPerSec,
          latencyRatio,
          slowStart: r.slowStart,
          overloaded: now - r.lastOverloadCutAt < OVERLOAD_HOLD_TICKS * this.#o.intervalMs,
          roundDone: gauges === undefined ? r.okSinceGrowth >= r.ep.limit : undefined,
          grewSinceScrape: gauges !== undefined && (gauges.sentAt ?? gauges.at) <= r.lastGrowthAt,
          dither: Math.random(),
          gaugesStale: gauges === undefined && !r.noGauges && this.#scraper.status(r.ep.url)?.gaugesAvailable === true,
          stalled: r.ep.inFlight > 0 && (r.lastOkAt === undefined || now - r.lastOkAt > Math.max(1000, 2 * (r.ep.latencyEwmaMs ?? 0))),
          probeBackoff: now < r.nextProbeAt,
          kvProjected: this.#projected(r, gauges),
          kvSizeRatio: waiting.requests > 0 && r.ep.inFlight > 0 && r.ep.kvTokensInFlight > 0 ? waiting.kvTokens / waiting.requests / (r.ep.kvTokensInFlight / r.ep.inFlight) : undefined,
        },
        r.noGauges ? { ...this.#o, minConcurrency: 1 } : this.#o,
      );
      r.ep.backlog = d.backlog;
      if (d.limit < r.ep.limit) r.slowStart = false;
      this.#probeBackoff(r, d.reason, now);
      this.#setLimit(r, d.limit, d.reason);
      this.#setKvBudget(r, gauges);
      // Judged once per scrape, on scrapes sent after the last take-back only (older gauges still count
      // what was taken). Alone on the replica, our newest are its newest: acted on at once. With other
      // clients, when two scrapes in a row show the long queue: our newest may have been admitted
      // before theirs, and a burst the server drains by the next scrape is left to it (one scrape was
      // enough to cut off 174 running generations in the n-workers warm-up, bench at timeScale 0.08;
      // two, 119).
      const scrapedAt = gauges === undefined ? undefined : (gauges.sentAt ?? gauges.at);
      if (this.#o.requeue && gauges !== undefined && scrapedAt! > r.requeueJudgedAt) {
        r.requeueJudgedAt = scrapedAt!;
        const n = requeueCount({ inFlight: r.ep.inFlight, gauges, completionsPerSec: r.completionsPerSec, sinceScrapeMs: now - scrapedAt! }, this.#o);
        r.longQueueScrapes = n.requests > 0 ? r.longQueueScrapes + 1 : 0;
        const alone = r.ep.inFlight >= (gauges.running ?? 0) + (gauges.waiting ?? 0);
        if (r.longQueueScrapes >= (alone ? 1 : REQUEUE_SCRAPES_SHARED) && scrapedAt! > r.lastRequeueAt) {
          r.lastRequeueAt = now;
          r.longQueueScrapes = 0;
          const taken = r.ep.requeueNewest(n.requests, n.youngerThanMs, `${gauges.waiting} waiting, ${gauges.running} running`);
          if (taken > 0) this.#o.onEvent?.({ url: r.ep.url, kind: 'requeue', limit: taken, state: r.breaker.state, reason: 'queue_wait', inFlight: r.ep.inFlight });
        }
      }
    }
  }

  /**
   * The KV budget (Endpoint.kvBudget) from a new scrape: while the replica's KV cache is at or above
   * kvCacheHigh, the estimated KV tokens of ours in flight may not exceed what held kvCacheHigh of the
   * cache at the scrape. A request count alone lets a large request replace a small one that
   * finished, and the large one then waits in the server's queue until enough KV has freed (several
   * completions, seconds on a slow replica); bounded in tokens it waits in the client instead, where
   * any replica with room can take it. Ours then admitted: those in flight as the scrape was sent,
   * less our share of the server's queue; they held our share of the usage K, so 1 / K of them is our
   * part of the whole cache. The budget fills the cache, not kvCacheHigh of it: bounded at kvCacheHigh
   * (0.95) it left ~5% of the KV cache idle in KV-bound phases (bench 07:48, homogeneous utilisation
   * 0.981 vs 0.986 at the whole cache, lost-replica 0.963 vs 0.972, capacity-change 0.978 vs 0.990,
   * the share of requests queued <= 2 s 100.0 / 100.0 / 97.5% vs 99.9 / 99.6 / 97.1%). Below
   * kvCacheHigh: no bound (the count law steers, counting the room in requests of the next size).
   */
  #setKvBudget(r: Replica, g: ServerGauges | undefined): void {
    const k = g?.kvCacheUsage;
    if (g === undefined || k === undefined || g.running === undefined || g.waiting === undefined || k < this.#o.kvCacheHigh) {
      r.ep.kvBudget = Infinity;
      return;
    }
    const sent = r.atScrape.find(([at]) => at === g.sentAt);
    if (!sent || g.sentAt === r.budgetFrom) return;
    r.budgetFrom = g.sentAt!;
    const [, requests, tokens] = sent;
    if (requests <= 0 || tokens <= 0) return;
    const share = requests / Math.max(requests, g.running + g.waiting);
    const admitted = (tokens * Math.max(0, requests - share * g.waiting)) / requests;
    r.ep.kvBudget = Math.floor(admitted / k);
  }

  /**
   * The replica's KV usage projected to its requests' stationary sizes (ControlInput.kvProjected): the
   * estimated KV tokens of ours in flight when the scrape was sent (prompts, and half the expected
   * completions: requests finish at different times, so on average each holds half of its own), over
   * our share of the requests it counted, over the KV cache's size it states (vllm:cache_config_info:
   * num_gpu_blocks x block_size). Undefined without that size or without requests of ours there.
   */
  #projected(r: Replica, g: ServerGauges | undefined): number | undefined {
    if (g?.kvCacheTokens === undefined || g.running === undefined || g.waiting === undefined) return undefined;
    const sent = r.atScrape.find(([at]) => at === g.sentAt);
    if (!sent || sent[1] <= 0 || sent[2] <= 0) return undefined;
    const [, requests, tokens, completion] = sent;
    return ((tokens - completion / 2) * Math.max(requests, g.running + g.waiting)) / requests / g.kvCacheTokens;
  }

  /**
   * Probes past a full batch back off while they meet a queue (ControlInput.probeBackoff): a probe
   * answered by a queue cut doubles the wait before the next; a batch seen running more than was
   * learnt resets it (#batchGrew).
   */
  #probeBackoff(r: Replica, reason: string, now: number): void {
    if (reason === 'probe') {
      r.probing = true;
      r.nextProbeAt = now + r.probeTicks * this.#o.intervalMs;
    } else if (reason === 'queue' && r.probing) {
      r.probing = false;
      r.probeTicks = Math.min(MAX_PROBE_BACKOFF_TICKS, r.probeTicks * 2);
      r.nextProbeAt = now + r.probeTicks * this.#o.intervalMs;
    }
  }

  /** The batch runs more than was learnt (its max sequences grew back): probes past it may go again at once. */
  #batchGrew(r: Replica, g: ServerGauges | undefined): void {
    if (g?.running === undefined || r.capacity === undefined || g.running <= r.capacity) return;
    r.probing = false;
    r.probeTicks = 1;
    r.nextProbeAt = -Infinity;
  }

  #setLimit(r: Replica, limit: number, reason: string): void {
    const before = r.ep.limit;
    r.ep.limit = limit;
    if (r.ep.limit === before) return;
    if (r.ep.limit > before) {
      r.okSinceGrowth = 0;
      r.lastGrowthAt = performance.now();
    }
    r.reason = reason;
    this.#o.onEvent?.({ url: r.ep.url, kind: 'limit', limit: r.ep.limit, state: r.breaker.state, reason, inFlight: r.ep.inFlight });
  }
}
