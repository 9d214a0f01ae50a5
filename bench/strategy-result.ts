import type { RunResult } from '../src/dataflow/pipeline.js';
import type { DocSpan, Sample, SteadyFigures, UnfinishedDoc } from './analyse.js';
import type { DocTiming } from './bench-pipeline.js';
import type { FiredEvent } from './scenarios.js';
import type { StrategyKind } from './strategies.js';

/** What the CPU replay (worker-run.ts --cpu-replay) measured. */
export interface CpuReplay {
  trajectories: number;
  /** The replayed run's funnel (the same corpus and answers: it should match the measured run's). */
  funnel: RunResult['funnel'];
  /** Process CPU (every thread) of the replayed pipeline: source, relevance, dedupe, validate, stats, Parquet. */
  cpuMs: number;
  /** CPU of scoring the corpus's relevance alone (same pool set-up), to take it out. */
  relevanceCpuMs: number;
  cpuMsPerTrajectory: number;
  /** Without relevance scoring: validate, dedupe, stats, Parquet, plus reading the source and the runtime. */
  cpuMsPerTrajectoryExRelevance: number;
  /** Main-thread time of the validate stage per trajectory (the pipeline's own stage metric). */
  validateMsPerTrajectory: number;
  /**
   * When several replays ran (bench/worker-run.ts: CPU_REPLAYS), the figures above are the median one's
   * (by cpuMsPerTrajectoryExRelevance) and this lists every replay's cpuMsPerTrajectoryExRelevance, in order.
   */
  replaysExRelevance?: number[];
  /** The warm-up replays' cpuMsPerTrajectoryExRelevance, in order (run first, not counted: worker-run.ts CPU_WARMUP_REPLAYS). */
  warmupExRelevance?: number[];
}

/** One worker process's measurements (worker-run.ts), as scenario-run.ts reads them back. */
export interface WorkerResult {
  funnel: RunResult['funnel'];
  fatal?: string;
  stages: ReturnType<RunResult['metrics']['toJSON']>;
  /** Each document's LLM part, wall-clock epoch ms. */
  docs: DocTiming[];
  /** Starts (epoch ms) of documents whose LLM part was cut off when the run stopped at the window's end. */
  unfinished?: number[];
  peakRssBytes: number;
  eventLoopDelayP99Ms: number;
  cpuReplay?: CpuReplay;
  /** The adaptive controller's limit changes: [epoch ms, replica index, new limit, the rule that set it] (empty without adaptation). */
  limits?: Array<[number, number, number, string, number?]>;
  /** Requests taken back from a replica's queue and sent again (the adaptive controller's requeues). */
  requeued?: number;
}

/** One strategy in one scenario: the cluster's figures and every worker's. */
export interface StrategyResult {
  scenario: string;
  strategy: string;
  kind: StrategyKind;
  toldCapacity: boolean;
  description: string;
  replicas: number;
  workers: number;
  timeScale: number;
  /** The scenario's cluster capacity over simulated time (from the events as they happened). */
  capacity: Array<[number, number]>;
  /**
   * What the cluster can deliver over simulated time for this run's requests: each replica's capacity
   * model replayed with its queue never empty on the run's request sizes (KV-cache reservations can
   * keep decode below its nominal rate; see saturatedOutputTokensPerSec).
   */
  deliverable: Array<[number, number]>;
  /** LLM answers the run needed without repairs; the scenario's events were triggered at shares of it. */
  expectedAnswers: number;
  /** The scenario's events as they happened (an event whose share was never reached is missing). */
  events: FiredEvent[];
  wallMs: number;
  simSec: number;
  /** Summed over the workers; `balanced` only when every worker's funnel balanced. */
  totals: { received: number; written: number; trajectories: number; balanced: boolean; deadLettered: Record<string, number>; dropped: Record<string, number>; abandoned: number };
  fatal: string[];
  docs: DocSpan[];
  /** Documents whose LLM part had started when the run stopped at the window's end (no end). */
  unfinished: UnfinishedDoc[];
  samples: Sample[];
  steady: SteadyFigures | undefined;
  /** Whole run, from the simulators (exact, over every request). */
  server: {
    requests: number;
    byStatus: Record<string, number>;
    generatedTokens: number;
    /** Prompt tokens of the answered requests (with generatedTokens: the mean KV-cache reservation). */
    promptTokens: number;
    queueWaitP99Sec: number;
    queueWaitP50Sec: number;
    ttftP99Sec: number;
    invalidAnswers: number;
    faults: number;
    /** Generations dropped because their client went away. */
    abortedGenerations: number;
    /** Of those, requests that left a server's queue before being admitted (their wait counts in the queue-wait figures). */
    abandonedWaiting?: number;
    /** Output tokens decoded, counted per step (abandoned and lost generations included). */
    decodedTokens: number;
    /** Replica-seconds the KV cache held a queue back while batch slots were free. */
    kvBlockedSec: number;
  };
  /** Largest over the workers. */
  peakRssBytes: number;
  eventLoopDelayP99Ms: number;
  stages: WorkerResult['stages'][];
  cpuReplay?: CpuReplay;
  /** Each worker's adaptive limit per replica over the run: [simulated s, worker, replica, limit, rule, its requests in flight there]. */
  limits: Array<[number, number, number, number, string, number?]>;
  /** Requests the adaptive controller took back from a replica's queue and sent again, summed over the workers. */
  requeued?: number;
}
