import type { RunResult } from '../src/dataflow/pipeline.js';
import type { DocSpan, Sample, SteadyFigures } from './analyse.js';
import type { StrategyName } from './strategies.js';

/** What one strategy's process (strategy-run.ts) measured, as bench/run.ts reads it back. */
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
}

export interface StrategyResult {
  strategy: StrategyName;
  description: string;
  replicas: number;
  timeScale: number;
  capacityTokensPerSec: number;
  wallMs: number;
  simSec: number;
  funnel: RunResult['funnel'];
  fatal?: string;
  stages: ReturnType<RunResult['metrics']['toJSON']>;
  docs: DocSpan[];
  samples: Sample[];
  steady: SteadyFigures | undefined;
  /** Whole run, from the simulators (exact, over every request). */
  server: { requests: number; byStatus: Record<string, number>; generatedTokens: number; queueWaitP99Sec: number; queueWaitP50Sec: number };
  peakRssBytes: number;
  /** Engine event-loop delay p99, wall ms (a CPU-starved engine shows it first). */
  eventLoopDelayP99Ms: number;
  cpuReplay?: CpuReplay;
}

