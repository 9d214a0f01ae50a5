import { maxOutputTokensPerSec, type RuntimeCapacity } from '../src/simulator/capacity-model.js';
import type { SimulatorRuntimeConfig } from '../src/simulator/options.js';
import type { CapacityTimeline } from './analyse.js';
import type { SimCapacity } from './sim-process.js';

/**
 * The benchmark's scenarios: the same corpus size and the same simulated cluster, changed in one way
 * each. Changes are applied to replicas through the simulator's runtime control (POST /_sim/config):
 * `initial` before the run starts, `events` once the run has made a given share of its progress (LLM
 * answers, see scenario-run.ts), so that they land inside the measured window however fast or slow
 * the machine is; the simulated time at which each one happened is recorded (FiredEvent).
 */
export interface ReplicaChange {
  replica: number;
  config: SimulatorRuntimeConfig;
}

export interface ScenarioEvent extends ReplicaChange {
  /** Applied once this share of the run's expected LLM answers (first answers, repairs excluded) is in. */
  atShare: number;
  label: string;
}

/** A scenario event as it happened in one run. */
export interface FiredEvent extends ScenarioEvent {
  /** Simulated seconds after the run started at which the replica had taken the change. */
  atSec: number;
  /** LLM answers counted when it was triggered (of `expectedAnswers` in the run's result). */
  answers: number;
}

export interface Scenario {
  name: string;
  description: string;
  /** Worker processes sharing the cluster (each reads its own part of the corpus). */
  workers: number;
  /** 1-5 workflows per document (else 3), and the extract step allowed 5. */
  mixedWorkflows: boolean;
  initial: ReplicaChange[];
  events: ScenarioEvent[];
  /**
   * Which strategies run here: every one (homogeneous, whose fixed-capacity and fixed-best are the
   * sweep's runs); or gemflow against the best fixed concurrency, the baseline the targets name.
   */
  strategies: 'all' | 'pair';
  /**
   * Wall time per simulated second, as a multiple of the benchmark's timeScale (default 1): a scenario
   * that runs more engine processes than the machine has cores runs slower, so that the machine's own
   * CPU does not become part of the cluster under test (see n-workers).
   */
  timeScaleFactor?: number;
}

/**
 * n-workers runs at twice the benchmark's timeScale. Four worker processes and four simulator
 * replicas on 2 cores saturate the machine at the stage waves (hundreds of calls sent within half a
 * second of wall time when a wave of extract answers comes in): measured at timeScale 0.02, a call took
 * 127 ms wall (median) and up to 494 ms to reach the simulator in that half-second, i.e. 6 and 25
 * simulated seconds; the replicas' gauges did not show those calls yet, so each worker's controller
 * saw room that the calls already on their way had taken (a real vLLM's front end takes such a
 * burst in milliseconds). At 0.04 a call reached the simulator in ~2 ms (median) throughout.
 */
const N_WORKERS_TIME_SCALE_FACTOR = 2;

/**
 * When the mid-run events happen: shares of the run's expected LLM answers. Answers lead completed
 * documents by the calls of the documents in flight: the steady window (10th percentile of completed
 * documents to the corpus running out, see analyse.ts) runs from about 30% of the answers to about
 * 75% with 600 documents and 256 in flight, so events at 40% and 60% sit inside it with a margin.
 */
export const EVENT_SHARES = { at: 0.4, back: 0.6 };
/** Invalid first answers in the answer-mix scenario. */
export const INVALID_ANSWER_RATE = 0.1;
/** Load-independent gateway errors: 10% 429 + 10% 503. */
export const GATEWAY_FAULTS = { rates: { rate_limit: 0.1, unavailable: 0.1 }, retryAfterSec: 1 };

/** One replica slowed 3x: every rate divided by 3 (its saturating concurrency stays the same). */
const slow = (m: SimCapacity): SimulatorRuntimeConfig => ({
  prefillTokensPerSec: m.prefillTokensPerSec / 3,
  decodeTokensPerSec: m.decodeTokensPerSec / 3,
  maxDecodeTokensPerSecPerSeq: m.maxDecodeTokensPerSecPerSeq / 3,
});

/**
 * The capacity-change scenario's new max sequences. Halving the default 256 would change nothing the
 * capacity model can show (a replica saturates decode at ceil(2500 / 40) = 63 sequences), so the cut
 * goes to about half the saturating batch: the replica's output capacity halves.
 */
export const CAPACITY_CUT_SEQS = 32;

export function scenarios(m: SimCapacity, replicas: number, t = EVENT_SHARES): Scenario[] {
  const pc = (x: number) => `${Math.round(100 * x)}%`;
  const last = replicas - 1;
  return [
    { name: 'homogeneous', description: `${replicas} identical replicas (the previous benchmark's set-up)`, workers: 1, mixedWorkflows: false, initial: [], events: [], strategies: 'all' },
    {
      name: 'heterogeneous',
      description: `replica ${last} is 3x slower (prefill, aggregate decode and per-sequence decode rates all / 3)`,
      workers: 1,
      mixedWorkflows: false,
      initial: [{ replica: last, config: slow(m) }],
      events: [],
      strategies: 'pair',
    },
    {
      name: 'lost-replica',
      description: `replica ${last} dies once ${pc(t.at)} of the run's LLM answers are in (its queued and running requests lost, connections reset) and is back, empty, at ${pc(t.back)}`,
      workers: 1,
      mixedWorkflows: false,
      initial: [],
      events: [
        { atShare: t.at, replica: last, config: { down: true }, label: 'replica lost' },
        { atShare: t.back, replica: last, config: { down: false }, label: 'replica back' },
      ],
      strategies: 'pair',
    },
    {
      name: 'capacity-change',
      description:
        `once ${pc(t.at)} of the run's LLM answers are in, replica ${last}'s max running sequences drop from ${m.maxRunningSeqs} to ${CAPACITY_CUT_SEQS}, about half its saturating batch, ` +
        `so its output capacity halves (${maxOutputTokensPerSec(m)} -> ${maxOutputTokensPerSec({ ...m, maxRunningSeqs: CAPACITY_CUT_SEQS })} tok/s)`,
      workers: 1,
      mixedWorkflows: false,
      initial: [],
      events: [{ atShare: t.at, replica: last, config: { maxRunningSeqs: CAPACITY_CUT_SEQS }, label: 'max sequences cut' }],
      strategies: 'pair',
    },
    {
      name: 'n-workers',
      description: `4 worker processes share the ${replicas} replicas, each with a quarter of the corpus and its own client`,
      workers: 4,
      mixedWorkflows: false,
      initial: [],
      events: [],
      strategies: 'pair',
      timeScaleFactor: N_WORKERS_TIME_SCALE_FACTOR,
    },
    {
      name: 'answer-mix',
      description: `1-5 workflows per document (extract allowed 5) and ${100 * INVALID_ANSWER_RATE}% of first answers fail the stage's checks, each costing a repair call`,
      workers: 1,
      mixedWorkflows: true,
      initial: Array.from({ length: replicas }, (_, replica) => ({ replica, config: { invalidAnswerRate: INVALID_ANSWER_RATE } })),
      events: [],
      strategies: 'pair',
    },
    {
      name: 'gateway-faults',
      description: `every replica answers a random 10% of requests 429 (Retry-After 1 s) and 10% 503, independent of load (its gauges show the real, unloaded queue)`,
      workers: 1,
      mixedWorkflows: false,
      initial: Array.from({ length: replicas }, (_, replica) => ({ replica, config: { faults: GATEWAY_FAULTS } })),
      events: [],
      strategies: 'pair',
    },
  ];
}


/**
 * The scenario's capacity over time, from the replica model, the initial changes and the events as
 * they happened in the run; `rate` is one replica's output capacity in a given state (default: the
 * nominal one, maxOutputTokensPerSec).
 */
export function capacityTimeline(s: Scenario, m: SimCapacity, replicas: number, fired: readonly FiredEvent[], rate: (r: RuntimeCapacity) => number = maxOutputTokensPerSec): CapacityTimeline {
  const state = Array.from({ length: replicas }, () => ({ ...m, down: false }) as RuntimeCapacity & { down: boolean });
  const apply = (c: ReplicaChange) => {
    const { faults: _f, invalidAnswerRate: _i, ...rest } = c.config;
    Object.assign(state[c.replica]!, rest);
  };
  const total = () => state.reduce((n, r) => n + (r.down ? 0 : rate(r)), 0);
  s.initial.forEach(apply);
  const out: CapacityTimeline = [[0, total()]];
  for (const e of [...fired].sort((a, b) => a.atSec - b.atSec)) {
    apply(e);
    out.push([e.atSec, total()]);
  }
  return out;
}
