/**
 * The composition root: the one place that knows the built-in steps (operators/) and wires a pipeline
 * together. Everything else in src/ sees steps only through the step interface (src/steps/step.ts).
 */
import { join, resolve } from 'node:path';
import type { ConfigIssue } from './config/interpolate-env.js';
import type { StepChecker } from './config/load.js';
import type { PipelineConfig } from './config/schema.js';
import { simulatorIssues, usesSimulator } from './config/simulator-rule.js';
import type { FunnelSnapshot } from './dataflow/funnel.js';
import type { PipelineParts, RunResult } from './dataflow/pipeline.js';
import { errorCode, GemflowError } from './errors.js';
import type { StageClient } from './llm/client.js';
import { StepRegistry, type PlannedStep, type StepSpec } from './steps/registry.js';
import type { Step, StepLlm } from './steps/step.js';
import { createStepLlm } from './steps/step-llm.js';
import { ResponseCache } from './llm/cache.js';
import { HttpInferenceClient } from './llm/client.js';
import type { AdaptiveOptions } from './llm/adaptive-controller.js';
import { ErrorRateMonitor } from './llm/error-rate.js';
import { DEAD_LETTER_FILE_NAME, FileDeadLetterSink } from './sinks/dead-letter-file.js';
import { newRunId, type RunManifest } from './sinks/manifest.js';
import { ParquetShardSink } from './sinks/parquet-sink.js';
import { DEAD_LETTERS_PATH } from './sinks/shard-index.js';
import { isS3Url } from './s3/s3-url.js';
import { ensureDir } from './ensure-dir.js';
import type { DeadLetterSink } from './sinks/types.js';
import { FileCheckpoint } from './sources/file-checkpoint.js';
import { FileSource } from './sources/file-source.js';
import { completeInterruptedRun } from './run-record.js';
import type { Source } from './sources/types.js';
import { KvStore } from './store/kv-store.js';
import { RedisStateStore } from './store/redis-state.js';
import { SqliteStateStore } from './store/sqlite-state.js';
import { lockStateDir } from './store/state-lock.js';
import { SIMULATOR_OWNED_BY } from './simulator/options.js';
import type { StateStore } from './store/state-store.js';
import type { Logger } from './telemetry/logger.js';
import { Metrics } from './telemetry/stage-metrics.js';

import { relevanceStep } from '../operators/relevance/step.js';
import { relevanceLlmStep } from '../operators/relevance-llm/step.js';
import { dedupeDocumentsStep, dedupeTrajectoriesStep } from '../operators/dedupe/step.js';
import { extractStep } from '../operators/extract/step.js';
import { groundStep } from '../operators/ground/step.js';
import { refineStep } from '../operators/refine/step.js';
import { judgeStep } from '../operators/judge/step.js';
import { synthesizeStep } from '../operators/synthesize/step.js';
import { validateStep } from '../operators/validate/step.js';
import { statsStep } from '../operators/stats/step.js';
import { keepSourcesStep } from '../operators/keep-sources/step.js';
import { decontaminateStep } from '../operators/decontaminate/step.js';
import { summarizeStats } from '../operators/stats/index.js';

/** The built-in step types. */
export const BUILTIN_STEP_TYPES = [relevanceStep, relevanceLlmStep, dedupeDocumentsStep, extractStep, groundStep, refineStep, judgeStep, synthesizeStep, validateStep, dedupeTrajectoriesStep, decontaminateStep, keepSourcesStep, statsStep];

export function stepRegistry(): StepRegistry {
  return new StepRegistry(BUILTIN_STEP_TYPES);
}

/**
 * The pipeline's steps: `steps:` as written, or GEM's default list set up by the older keys
 * (relevance, dedupe, stages, llm.mode), their paths kept for messages.
 */
/** What the step list is built from: `steps:`, or the older keys of GEM's default list. */
export type StepSource = Pick<PipelineConfig, 'steps' | 'relevance' | 'dedupe' | 'stages' | 'decontaminate'> & { llm: Pick<PipelineConfig['llm'], 'mode'> };

export function stepSpecs(config: StepSource): { specs: StepSpec[]; paths: string[] } {
  if (config.steps) return { specs: config.steps as StepSpec[], paths: config.steps.map((_, i) => `steps[${i}]`) };
  const specs: StepSpec[] = [];
  const paths: string[] = [];
  const add = (id: string, type: string, block: Record<string, unknown> | undefined, path: string) => {
    specs.push({ ...(block ?? {}), id, type });
    paths.push(path);
  };
  const st = config.stages ?? {};
  const on = (b: Record<string, unknown> | undefined, dflt: boolean) => (b?.enabled === undefined ? dflt : b.enabled === true);
  const without = (b: Record<string, unknown> | undefined) => {
    if (!b) return undefined;
    const { enabled: _enabled, ...rest } = b;
    return rest;
  };
  add('relevance', 'relevance', config.relevance, 'relevance');
  add('dedupe', 'dedupe-documents', config.dedupe, 'dedupe');
  if (config.llm.mode === 'synthesize') add('synthesize', 'synthesize', st.synthesize, 'stages.synthesize');
  else {
    add('extract', 'extract', st.extract, 'stages.extract');
    add('ground', 'ground', st.ground, 'stages.ground');
    if (on(st.refine, true)) add('refine', 'refine', without(st.refine), 'stages.refine');
  }
  if (on(st.judge, false)) add('judge', 'judge', without(st.judge), 'stages.judge');
  add('validate', 'validate', undefined, 'validate');
  add('dedupe_trajectories', 'dedupe-trajectories', undefined, 'dedupe_trajectories');
  if (config.decontaminate) add('decontaminate', 'decontaminate', config.decontaminate, 'decontaminate');
  add('stats', 'stats', undefined, 'stats');
  return { specs, paths };
}

/**
 * loadConfig's step checker: the steps of a raw (interpolated, not yet validated) pipeline file
 * against their types, every problem with its path. The rest of the file is checked by its schema.
 */
export const checkSteps: StepChecker = async (raw, baseDir) => {
  const r = (raw ?? {}) as Record<string, unknown>;
  const obj = (v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const llm = obj(r.llm);
  const steps = Array.isArray(r.steps) ? (r.steps as unknown[]).map((s) => obj(s) ?? {}) : undefined;
  // Shape errors (a step without id or type, a block that is not a map) are the schema's to report.
  if (steps?.some((s) => typeof s.id !== 'string' || typeof s.type !== 'string')) return [];
  if (r.relevance !== undefined && !obj(r.relevance)) return [];
  if (r.dedupe !== undefined && !obj(r.dedupe)) return [];
  if (r.decontaminate !== undefined && !obj(r.decontaminate)) return [];
  const stages = obj(r.stages);
  const { specs, paths } = stepSpecs({
    steps: steps?.map((s) => (typeof s.module === 'string' ? { ...s, module: resolve(baseDir, s.module) } : s)),
    relevance: obj(r.relevance),
    dedupe: obj(r.dedupe),
    decontaminate: obj(r.decontaminate),
    stages: stages && Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, obj(v)])),
    llm: { mode: llm?.mode === 'synthesize' ? 'synthesize' : 'staged' },
  } as StepSource);
  try {
    await stepRegistry().plan(specs, { paths });
    return [];
  } catch (e) {
    if (errorCode(e) === 'config_invalid') return ((e as { detail?: { issues?: ConfigIssue[] } }).detail?.issues ?? []);
    throw e;
  }
};

/** Checks the pipeline's steps (all problems at once, with paths); `gemflow validate` and `run` call it. */
export async function planSteps(config: PipelineConfig): Promise<PlannedStep[]> {
  const { specs, paths } = stepSpecs(config);
  return stepRegistry().plan(specs, { paths });
}

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
  /** The run's id (its record `_runs/<runId>.json`) and start. */
  runId: string;
  startedAt: string;
  /** A provisional record of the run from the books of what it has committed (RunManifest.provisional). */
  checkpoint(books: FunnelSnapshot): Promise<void>;
  /** Records the run (last, after every shard); returns it, the merged manifest's path, and the merged view. */
  finish(result: RunResult): Promise<RunManifest & { path: string; merged: RunManifest }>;
  close(): Promise<void>;
}

/**
 * `tune`: the benchmark's only hooks into what `gemflow run` builds. `adaptive` false keeps every
 * endpoint's limit where its config sets it (the fixed baselines), or gives control periods scaled to
 * a simulator's time scale; `wrapClient` sees every call (to record answers). Everything else comes
 * from the config, as for `gemflow run`.
 */
export async function buildRun(
  config: PipelineConfig,
  log: Logger,
  tune: { adaptive?: false | AdaptiveOptions; wrapClient?: (client: StageClient) => StageClient } = {},
): Promise<BuiltRun> {
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
    const runId = newRunId(startedAt);
    const stateDir = stateDirOf(config);
    // The output and state folders first, so that a read-only or unwritable place is named as such.
    if (!isS3Url(config.sink.dir)) await ensureDir(config.sink.dir, 'the output directory (sink.dir)');
    await ensureDir(stateDir, 'the state directory (stateDir)');
    const metrics = new Metrics();

    // Inference: configured endpoints, or the bundled simulator (a test double) where simulatorIssues
    // allows it (asked for with llm.simulate: true, or a local files pipeline without endpoints).
    const problems = simulatorIssues(config);
    if (problems.length > 0) {
      throw new GemflowError('config_invalid', `invalid configuration:\n${problems.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`, { detail: { issues: problems } });
    }
    // Fixed URLs, and DNS names whose every address is a replica (src/llm/discovery.ts).
    let endpoints = config.llm.endpoints.filter((e) => 'url' in e);
    const discover = config.llm.endpoints.filter((e) => 'discover' in e);
    const simulated = usesSimulator(config);
    if (simulated) {
      const { replicas, faultRate, ...capacity } = config.llm.simulator;
      const set = Object.fromEntries(Object.entries(capacity).filter(([, v]) => v !== undefined));
      // Loaded only when used, as the Kafka and S3 parts are: the import graph is start-up CPU for every run and benchmark worker.
      const { startSimulatorCluster } = await import('./simulator/simulator.js');
      const sims = await startSimulatorCluster(replicas, { ...set, faultRate });
      closers.push(() => Promise.all(sims.map((s) => s.close())).then(() => undefined));
      endpoints = sims.map((s) => ({ url: s.url, maxConcurrency: 1024, initialConcurrency: 16 }));
    }
    const state = await openStateStore(config, log);
    closers.push(() => state.close());
    const cache = config.llm.cache.enabled ? new ResponseCache(state.kv('llm-cache')) : undefined;
    const client = new HttpInferenceClient({
      endpoints,
      discover,
      timeoutMs: config.llm.timeoutMs,
      maxRetries: config.llm.maxRetries,
      retryBaseMs: config.llm.retryBaseMs,
      retryMaxMs: config.llm.retryMaxMs,
      cache,
      noReplicaWaitMs: config.llm.noReplicaWaitMs,
      structuredOutput: config.llm.structuredOutput,
      onNotice: (level, message, fields) => (level === 'warn' ? log.warn(message, fields) : log.info(message, fields)),
      // Breaker changes (a replica ejected or readmitted) are worth a log line; limit changes are not.
      adaptive: tune.adaptive === false ? false : {
        requeue: config.llm.requeue,
        ...tune.adaptive,
        onEvent: (e) => {
          if (tune.adaptive) tune.adaptive.onEvent?.(e); // the benchmark's limit trace
          if (e.kind === 'breaker') log.warn('inference replica state changed', { url: e.url, state: e.state, reason: e.reason });
          else if (e.kind === 'requeue') log.info('requests taken back from a replica that would queue them too long', { url: e.url, requests: e.limit });
        },
        breaker: {
          ...tune.adaptive?.breaker, // the benchmark's time-scaled probe backoff
          ...config.llm.breaker,
          healthIntervalMs: config.llm.health.intervalMs,
          healthTimeoutMs: config.llm.health.timeoutMs,
          healthFailureThreshold: config.llm.health.failureThreshold,
        },
      },
    });
    closers.push(() => client.close());
    await client.start();

    const monitor = new ErrorRateMonitor(config.llm.errorWindow, config.llm.maxErrorRate, { lastCause: () => client.lastFailure });
    // A call that failed on the state store (the cache unreachable) says nothing about the inference cluster.
    const llm = stepLlmFactory(tune.wrapClient?.(client) ?? client, () => client.contextTokens, (ok, e) => {
      if (e === undefined || errorCode(e) !== 'state_unavailable') monitor.record(ok, e === undefined ? undefined : errorCode(e), e);
    });
    const parts = await buildParts(config, log, llm, metrics, closers, state);
    const sink = parts.sink;
    // The run that wrote the checkpoint last may have been killed: its record gets the books it committed.
    if (config.source.type === 'files') {
      const completed = await completeInterruptedRun(await new FileCheckpoint(stateDir).lastRun(), sink);
      if (completed) log.warn('the previous run over this state stopped without finishing (killed?): its record now holds the books of what it had committed', { run: completed });
    }
    const simulatedOutputs = () => simulated || client.endpoints().some((ep) => ep.ownedBy === SIMULATOR_OWNED_BY);


    return {
      parts,
      simulated,
      stateDir,
      client,
      cache,
      endpointsDescription: simulated ? `simulator x${endpoints.length}` : [...endpoints.map((e) => e.url), ...discover.map((d) => d.discover)].join(','),
      completionTokens: () => Object.values(client.usage()).reduce((a, u) => a + u.completionTokens, 0),
      runId,
      startedAt,
      async checkpoint(books) {
        await sink.putRunRecord({
          version: 1,
          runId,
          startedAt,
          finishedAt: new Date().toISOString(),
          config: config as unknown as Record<string, unknown>,
          funnel: books,
          tokens: client.usage(),
          shards: sink.shards(),
          statsSummary: {},
          cache: cache?.stats(),
          simulated: simulatedOutputs(),
          provisional: true,
        });
      },
      async finish(result) {
        const manifest: RunManifest = {
          version: 1,
          runId,
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
          // Also a configured endpoint that is the simulator (`gemflow simulate`): it names itself in /v1/models.
          simulated: simulatedOutputs(),
        };
        const { path, merged } = await sink.publishRun(manifest);
        return { ...manifest, path, merged };
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Each step's view of the LLM, from a client (the benchmark passes its own clients here too). */
export function stepLlmFactory(
  client: StageClient,
  contextTokens: () => number | undefined,
  onCall?: (ok: boolean, error?: unknown) => void,
): (stepId: string, signal: AbortSignal) => StepLlm {
  return (stepId, signal) => createStepLlm(client, { contextTokens, onCall }, stepId, signal);
}

/**
 * Everything of a pipeline but the inference client: its steps (each with its state namespace under
 * stateDir), source, dead letters and sink, each registered in `closers`. `llm` gives each step its
 * view of the LLM; the benchmark passes its own.
 */
export async function buildParts(
  config: PipelineConfig,
  log: Logger,
  llm: (stepId: string, signal: AbortSignal) => StepLlm,
  metrics: Metrics,
  closers: Array<() => Promise<void> | void>,
  state?: StateStore,
): Promise<PipelineParts & { sink: ParquetShardSink }> {
  const stateDir = stateDirOf(config);
  const statePath = join(stateDir, 'state.sqlite');
  if (state === undefined) {
    const opened = await openStateStore(config, log);
    closers.push(() => opened.close());
    state = opened;
  }
  const shared = state;
  const steps: Step[] = [];
  for (const p of await planSteps(config)) {
    const stepClosers: Array<() => void | Promise<void>> = [];
    const impl = await p.type.create(p.config, {
      id: p.id,
      log,
      stateDir,
      state: () => {
        const store = KvStore.open(statePath, p.id);
        stepClosers.push(() => store.close());
        return store;
      },
      fingerprints: (opts) => shared.index(p.id, opts),
      onClose: (fn) => stepClosers.push(fn),
    });
    // The step is its type's implementation under its id; kinds come from the type (checked by the registry).
    steps.push({ usesLlm: impl.usesLlm, process: impl.process.bind(impl), close: impl.close?.bind(impl), id: p.id, type: p.type.type, input: p.type.input, output: p.type.output });
    closers.push(async () => {
      for (const c of stepClosers.reverse()) await c();
    });
  }
  closers.push(async () => {
    for (const s of steps) await s.close?.();
  });

  let source: Source;
  let deadLetters: DeadLetterSink;
  // Shards in object storage: the dead-letter file (when there is no dead-letter topic) stays local.
  const s3Sink = isS3Url(config.sink.dir);
  const dlPath = s3Sink ? join(stateDir, DEAD_LETTER_FILE_NAME) : join(config.sink.dir, DEAD_LETTERS_PATH);
  if (config.source.type === 'files') {
    // One run at a time over this checkpoint (src/store/state-lock.ts); released when the run closes.
    const lock = lockStateDir(stateDir);
    closers.push(() => lock.release());
    source = new FileSource(config.source, { stateDir, s3: config.s3 });
    deadLetters = new FileDeadLetterSink(dlPath);
  } else {
    const { KafkaSource } = await import('./sources/kafka-source.js');
    source = new KafkaSource(config.source, { logger: log, bufferRecords: Math.min(config.queueCapacity, config.llm.maxDocsInFlight) });
    if (config.source.deadLetterTopic) {
      const { KafkaDeadLetterSink } = await import('./sinks/dead-letter-kafka.js');
      deadLetters = new KafkaDeadLetterSink(config.source, config.source.deadLetterTopic, { logger: log });
    } else deadLetters = new FileDeadLetterSink(dlPath);
  }
  if (s3Sink && deadLetters instanceof FileDeadLetterSink) log.warn('shards go to object storage; dead letters go to a local file', { path: dlPath });
  closers.push(() => source.close());
  closers.push(() => deadLetters.close());

  const sink = s3Sink ? (await import('./sinks/s3-shard-sink.js')).createS3ShardSink(config.sink, config.s3) : new ParquetShardSink(config.sink);
  await sink.open();
  closers.push(() => sink.close());

  return {
    config,
    source,
    sink,
    deadLetters,
    steps,
    llm,
    metrics,
    log,
  };
}

/**
 * The run's state store (`state.backend`): the SQLite file under stateDir (the LLM cache in
 * `llm.cache.path` when set), or the shared Redis-protocol server at `state.url`.
 */
export async function openStateStore(config: PipelineConfig, log: Logger): Promise<StateStore> {
  const s = config.state;
  if (s.backend === 'redis') {
    const store = await RedisStateStore.open(
      { url: s.url!, keyPrefix: s.keyPrefix, dedupeTtlSeconds: s.dedupeTtlSeconds, cacheTtlSeconds: s.cacheTtlSeconds, timeoutMs: s.timeoutMs },
      log,
    );
    log.info('shared state store', { store: store.description });
    return store;
  }
  const statePath = join(stateDirOf(config), 'state.sqlite');
  return new SqliteStateStore(statePath, config.llm.cache.path ?? statePath);
}

function stateDirOf(config: PipelineConfig): string {
  return config.stateDir ?? join(config.sink.dir, '.gemflow');
}

/** `gemflow relevance train|eval`: the relevance step's own command, reached through the composition root. */
export { runRelevanceCli } from '../operators/relevance/command.js';
