/**
 * The composition root: the one place that wires the built-in operators (operators/) into the engine.
 * Everything else in src/ sees operators only through the interfaces in dataflow/pipeline.ts and
 * dataflow/generate.ts.
 */
import { join } from 'node:path';
import type { PipelineConfig } from './config/schema.js';
import { type GemStages, TrajectoryGenerator } from './dataflow/generate.js';
import type { Generator, PipelineParts, RunResult } from './dataflow/pipeline.js';
import { ResponseCache } from './llm/cache.js';
import { HttpInferenceClient } from './llm/client.js';
import { ErrorRateMonitor } from './llm/error-rate.js';
import { FileDeadLetterSink } from './sinks/dead-letter-file.js';
import type { RunManifest } from './sinks/manifest.js';
import { ParquetShardSink } from './sinks/parquet-sink.js';
import { createS3ShardSink } from './sinks/s3-shard-sink.js';
import { isS3Url } from './s3/s3-url.js';
import type { DeadLetterSink } from './sinks/types.js';
import { FileSource } from './sources/file-source.js';
import type { Source } from './sources/types.js';
import { KvStore } from './store/kv-store.js';
import type { Logger } from './telemetry/logger.js';
import { Metrics } from './telemetry/stage-metrics.js';
import { startSimulatorCluster } from './simulator/simulator.js';

import { extractStage } from '../operators/extract/index.js';
import { groundStage } from '../operators/ground/index.js';
import { refineStage } from '../operators/refine/index.js';
import { judgeStage, judgeFailures } from '../operators/judge/index.js';
import { synthesizeStage } from '../operators/synthesize/index.js';
import { validateTrajectory } from '../operators/validate/index.js';
import { summarizeStats, trajectoryStats } from '../operators/stats/index.js';
import { DocDedupe } from '../operators/dedupe/doc-dedupe.js';
import { TrajectoryDedupe } from '../operators/dedupe/trajectory-dedupe.js';
import { RelevancePool } from '../operators/relevance/index.js';

export interface BuiltRun {
  parts: PipelineParts;
  /** True when the bundled simulator stands in for vLLM. */
  simulated: boolean;
  endpointsDescription: string;
  /** Checkpoint, LLM cache and dedupe state. */
  stateDir: string;
  client: HttpInferenceClient;
  cache?: ResponseCache;
  completionTokens(): number;
  /** Writes the run manifest (last, after every shard). */
  finish(result: RunResult): Promise<RunManifest & { path: string }>;
  close(): Promise<void>;
}

export async function buildRun(config: PipelineConfig, log: Logger): Promise<BuiltRun> {
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn('close failed', { error: (e as Error).message });
      }
    }
  };
  try {
    const startedAt = new Date().toISOString();
    const stateDir = stateDirOf(config);
    const statePath = join(stateDir, 'state.sqlite');
    const metrics = new Metrics();

    // Inference: configured endpoints, or the bundled simulator (a test double) when there are none.
    let endpoints = config.llm.endpoints;
    const simulated = endpoints.length === 0;
    if (simulated) {
      const { replicas, faultRate, ...capacity } = config.llm.simulator;
      const set = Object.fromEntries(Object.entries(capacity).filter(([, v]) => v !== undefined));
      const sims = await startSimulatorCluster(replicas, { ...set, faultRate });
      closers.push(() => Promise.all(sims.map((s) => s.close())).then(() => undefined));
      endpoints = sims.map((s) => ({ url: s.url, maxConcurrency: 1024, initialConcurrency: 16 }));
    }
    const cacheStore = config.llm.cache.enabled ? KvStore.open(config.llm.cache.path ?? statePath, 'llm-cache') : undefined;
    if (cacheStore) closers.push(() => cacheStore.close());
    const cache = cacheStore ? new ResponseCache(cacheStore) : undefined;
    const client = new HttpInferenceClient({
      endpoints,
      timeoutMs: config.llm.timeoutMs,
      maxRetries: config.llm.maxRetries,
      retryBaseMs: config.llm.retryBaseMs,
      retryMaxMs: config.llm.retryMaxMs,
      cache,
      // Breaker changes (a replica ejected or readmitted) are worth a log line; limit changes are not.
      adaptive: { onEvent: (e) => e.kind === 'breaker' && log.warn('inference replica state changed', { url: e.url, state: e.state, reason: e.reason }) },
    });
    closers.push(() => client.close());
    await client.start();

    const monitor = new ErrorRateMonitor(config.llm.errorWindow, config.llm.maxErrorRate);
    const generator = new TrajectoryGenerator(client, GEM_STAGES, {
      mode: config.llm.mode,
      stages: config.stages,
      onCall: (ok, code) => monitor.record(ok, code),
      metrics,
    });
    const parts = await buildParts(config, log, generator, metrics, closers);
    const sink = parts.sink;


    return {
      parts,
      simulated,
      stateDir,
      client,
      cache,
      endpointsDescription: simulated ? `simulator x${endpoints.length}` : endpoints.map((e) => e.url).join(','),
      completionTokens: () => Object.values(client.usage()).reduce((a, u) => a + u.completionTokens, 0),
      async finish(result) {
        const manifest: RunManifest = {
          version: 1,
          startedAt,
          finishedAt: new Date().toISOString(),
          config: config as unknown as Record<string, unknown>,
          funnel: result.funnel,
          tokens: client.usage(),
          shards: sink.shards(),
          statsSummary: summarizeStats(result.statsSample) as unknown as Record<string, unknown>,
          stages: result.metrics.toJSON(),
          cache: cache?.stats(),
          fatal: result.fatal ? { code: result.fatal.code, message: result.fatal.message } : undefined,
          simulated,
        };
        const path = await sink.writeManifest(manifest);
        return { ...manifest, path };
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The GEM LLM stages, as the generator takes them. */
export const GEM_STAGES: GemStages = {
  extract: extractStage,
  ground: groundStage,
  refine: refineStage,
  judge: judgeStage,
  judgeFailures,
  synthesize: synthesizeStage,
};

/**
 * Everything of a pipeline but its LLM part: relevance pool, dedupe state, source, dead letters and
 * sink, each registered in `closers`. The benchmark uses it with its own generators.
 */
export async function buildParts(
  config: PipelineConfig,
  log: Logger,
  generator: Generator,
  metrics: Metrics,
  closers: Array<() => Promise<void> | void>,
): Promise<PipelineParts & { sink: ParquetShardSink }> {
  const stateDir = stateDirOf(config);
  const statePath = join(stateDir, 'state.sqlite');
  const relevance = new RelevancePool({ threads: config.relevance.threads });
  await relevance.start();
  closers.push(() => relevance.close());

  const dedupeStore = KvStore.open(statePath, 'doc-dedupe');
  closers.push(() => dedupeStore.close());
  const trajStore = KvStore.open(statePath, 'trajectory-dedupe');
  closers.push(() => trajStore.close());

  let source: Source;
  let deadLetters: DeadLetterSink;
  // Shards in object storage: the dead-letter file (when there is no dead-letter topic) stays local.
  const s3Sink = isS3Url(config.sink.dir);
  const dlPath = join(s3Sink ? stateDir : config.sink.dir, 'dead-letters.jsonl');
  if (config.source.type === 'files') {
    source = new FileSource(config.source, { stateDir, s3: config.s3 });
    deadLetters = new FileDeadLetterSink(dlPath);
  } else {
    const { KafkaSource } = await import('./sources/kafka-source.js');
    source = new KafkaSource(config.source, { logger: log, bufferRecords: config.queueCapacity });
    if (config.source.deadLetterTopic) {
      const { KafkaDeadLetterSink } = await import('./sinks/dead-letter-kafka.js');
      deadLetters = new KafkaDeadLetterSink(config.source, config.source.deadLetterTopic, { logger: log });
    } else deadLetters = new FileDeadLetterSink(dlPath);
  }
  if (s3Sink && deadLetters instanceof FileDeadLetterSink) log.warn('shards go to object storage; dead letters go to a local file', { path: dlPath });
  closers.push(() => source.close());
  closers.push(() => deadLetters.close());

  const sink = s3Sink ? createS3ShardSink(config.sink, config.s3) : new ParquetShardSink(config.sink);
  await sink.open();
  closers.push(() => sink.close());

  return {
    config,
    source,
    sink,
    deadLetters,
    relevance,
    docDedupe: new DocDedupe({ store: dedupeStore, nearDuplicate: config.dedupe.nearDuplicate, threshold: config.dedupe.jaccardThreshold }),
    trajectoryDedupe: new TrajectoryDedupe({ store: trajStore }),
    generator,
    validate: validateTrajectory,
    stats: trajectoryStats,
    metrics,
    log,
  };
}

function stateDirOf(config: PipelineConfig): string {
  return config.stateDir ?? join(config.sink.dir, '.gemflow');
}
