import { buildParts, GEM_STAGES } from '../src/compose.js';
import type { PipelineConfig } from '../src/config/schema.js';
import type { Envelope } from '../src/envelope.js';
import { GemflowError } from '../src/errors.js';
import { TrajectoryGenerator, type GenerateResult } from '../src/dataflow/generate.js';
import type { Generator, PipelineParts } from '../src/dataflow/pipeline.js';
import { HttpInferenceClient } from '../src/llm/client.js';
import { ErrorRateMonitor } from '../src/llm/error-rate.js';
import type { Logger } from '../src/telemetry/logger.js';
import { Metrics } from '../src/telemetry/stage-metrics.js';
import type { Strategy } from './strategies.js';

/** One document's LLM stage, in wall-clock ms from performance.now(). */
export interface DocTiming {
  startMs: number;
  endMs: number;
  trajectories: number;
}

/**
 * Times every document's LLM stage (from taking an LLM slot to its trajectories), outermost, so a
 * baseline's own waiting (the batch barrier) is included; optionally keeps the results for a replay.
 */
export class TimedGenerator implements Generator {
  readonly timings: DocTiming[] = [];
  readonly captured = new Map<string, GenerateResult>();

  constructor(
    private readonly inner: Generator,
    private readonly capture: boolean,
  ) {}

  async generate(doc: Envelope, signal: AbortSignal): Promise<GenerateResult> {
    const startMs = performance.now();
    const r = await this.inner.generate(doc, signal);
    this.timings.push({ startMs, endMs: performance.now(), trajectories: r.outcomes.filter((o) => o.kind === 'ok').length });
    if (this.capture) this.captured.set(doc.id, r);
    return r;
  }
}

/** Answers every document from an earlier run's results: the pipeline without the LLM. */
export class ReplayGenerator implements Generator {
  constructor(private readonly results: ReadonlyMap<string, GenerateResult>) {}

  async generate(doc: Envelope): Promise<GenerateResult> {
    return this.results.get(doc.id) ?? { domain: 'none', outcomes: [] };
  }
}

export interface BenchParts {
  parts: PipelineParts;
  close(): Promise<void>;
}

/**
 * The pipeline's parts as `gemflow run` wires them (src/compose.ts buildParts), except that the
 * inference client and the generator are the strategy's, and the LLM cache is off so every call
 * reaches the simulator. `generator` replaces the LLM stage altogether (the replay pass).
 */
export async function benchParts(
  config: PipelineConfig,
  log: Logger,
  llm: { strategy: Strategy; urls: string[]; timed: (g: Generator) => Generator } | { generator: Generator },
): Promise<BenchParts> {
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    if (config.source.type !== 'files') throw new GemflowError('config_invalid', 'the benchmark reads files');
    const metrics = new Metrics();
    let generator: Generator;
    if ('generator' in llm) generator = llm.generator;
    else {
      const client = new HttpInferenceClient({
        ...llm.strategy.clientOptions(llm.urls),
        timeoutMs: config.llm.timeoutMs,
        maxRetries: config.llm.maxRetries,
        retryBaseMs: config.llm.retryBaseMs,
        retryMaxMs: config.llm.retryMaxMs,
      });
      closers.push(() => client.close());
      await client.start();
      const monitor = new ErrorRateMonitor(config.llm.errorWindow, config.llm.maxErrorRate);
      const gem = new TrajectoryGenerator(client, GEM_STAGES, {
        mode: config.llm.mode,
        stages: config.stages,
        onCall: (ok, code) => monitor.record(ok, code),
        metrics,
      });
      generator = llm.timed(llm.strategy.wrap(gem));
    }
    // Everything else exactly as `gemflow run` wires it.
    return { parts: await buildParts(config, log, generator, metrics, closers), close };
  } catch (e) {
    await close();
    throw e;
  }
}
