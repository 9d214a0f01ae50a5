import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { loadConfig } from './config/load.js';
import { PipelineConfig } from './config/schema.js';
import { buildRun, checkSteps } from './compose.js';
import { errorMessage } from './errors.js';
import { formatFunnel } from './dataflow/funnel.js';
import { runPipeline } from './dataflow/pipeline.js';
import type { ProgressSnapshot } from './dataflow/pipeline.js';
import { startWorkerEndpoints } from './telemetry/http-endpoints.js';
import { createLogger } from './telemetry/logger.js';
import { consumerGroupLag, createWorkerRegistry } from './telemetry/prometheus.js';
import { ProgressReporter } from './telemetry/progress.js';

/** Built-in defaults for `gemflow run` with no file: the sample corpus, local shards, the simulator. */
export function demoConfig(): PipelineConfig {
  const root = resolve(new URL('../..', import.meta.url).pathname);
  return PipelineConfig.parse({
    source: { type: 'files', paths: [resolve(root, 'examples/corpus.jsonl')] },
    sink: { dir: resolve(process.cwd(), 'out') },
  });
}

/** A files source that has not read all of its input (bytes read < total). */
function unread(source: { kind: string; progress?(): { done: number; total: number } | undefined }): boolean {
  const p = source.kind === 'files' ? source.progress?.() : undefined;
  return p !== undefined && p.done < p.total;
}

/** Least time between two refreshes of a running run's provisional record (`_runs/<runId>.json`). */
const RECORD_REFRESH_MS = 5000;

export interface JobOptions {
  configPath?: string;
  quiet: boolean;
  /** Seconds to finish in-flight work after SIGINT/SIGTERM before abandoning it. */
  graceMs?: number;
}

/**
 * `gemflow run`: build the pipeline from its config, run it with graceful drain on SIGINT/SIGTERM
 * (a second signal abandons in-flight work, which stays uncommitted), write the manifest, print the
 * funnel. Returns the exit code.
 */
export async function runJob(opts: JobOptions): Promise<number> {
  const log = createLogger({ quiet: opts.quiet });
  // Inputs and step files are checked before anything starts (as `gemflow validate` does): a missing
  // input is a config error (exit 1), not a run that starts a simulator and writes an empty record.
  const config = opts.configPath ? await loadConfig(opts.configPath, { checkSteps, checkInputs: true }) : demoConfig();
  const run = await buildRun(config, log);

  const drain = new AbortController();
  const abort = new AbortController();
  const graceMs = opts.graceMs ?? config.server?.drainGraceMs ?? Number(process.env.GEMFLOW_GRACE_MS ?? 30_000);
  let signals = 0;
  let firstSignal: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    firstSignal ??= sig;
    if (signals === 1) {
      log.warn(`${sig}: draining (no new records; finishing in-flight work for up to ${graceMs} ms; signal again to stop now)`);
      drain.abort(new Error(sig));
      setTimeout(() => {
        log.warn(`drain grace period of ${graceMs} ms is over: abandoning the in-flight work left (uncommitted; replayed by the next run)`);
        abort.abort(new Error('grace period over'));
      }, graceMs).unref();
    } else {
      log.warn(`${sig}: abandoning in-flight work (it stays uncommitted and is replayed by the next run)`);
      abort.abort(new Error(sig));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const reporter = new ProgressReporter(process.stderr, { plainIntervalMs: config.logIntervalMs, tokens: run.completionTokens });
  if (run.simulated) log.warn('no inference endpoint configured: using the bundled vLLM SIMULATOR — every trajectory in this run is synthetic test data, not model output');
  log.info('run started', { source: config.source.type, sink: config.sink.dir, llm: run.endpointsDescription });

  let code = 0;
  let latest: ProgressSnapshot | undefined;
  let recordRefreshedAt = 0;
  const server = config.server ? await startServer(config, run, () => latest, drain.signal, log) : undefined;
  try {
    const result = await runPipeline(run.parts, {
      drain: drain.signal,
      abort: abort.signal,
      commitIntervalMs: config.source.type === 'kafka' ? config.source.commitIntervalMs : 1000,
      onProgress: (p) => {
        latest = p;
        if (!opts.quiet) reporter.update(p);
      },
      progressIntervalMs: 500,
      loseDocumentIds: process.env.GEMFLOW_TEST_LOSE_DOCUMENTS ? new Set(process.env.GEMFLOW_TEST_LOSE_DOCUMENTS.split(',')) : undefined,
      run: { id: run.runId, startedAt: run.startedAt },
      // The run's provisional record, refreshed at most every RECORD_REFRESH_MS: a run killed before it
      // finishes still has one (a file source's checkpoint completes it; see src/run-record.ts).
      onCommitted: (books) => {
        const now = Date.now();
        if (now - recordRefreshedAt < RECORD_REFRESH_MS) return;
        recordRefreshedAt = now;
        return run.checkpoint(books);
      },
    });
    reporter.finish();
    process.stdout.write(`\n${formatFunnel(result.funnel)}\n`);
    let manifest: Awaited<ReturnType<typeof run.finish>>;
    try {
      manifest = await run.finish(result);
    } catch (e) {
      // The run's record (manifest, dataset card) could not be written, e.g. a full disk: the shards and
      // the checkpoint are as durable as they were; say so (the books are printed above), and stop.
      process.stderr.write(`gemflow: the run's manifest and dataset card could not be written to ${config.sink.dir}: ${errorMessage(e)}${result.fatal ? ` (after the run stopped early: ${result.fatal.message})` : ''}\n`);
      return 2;
    }
    if (result.funnel.documents.received === 0 && config.source.type === 'files' && !result.fatal) {
      const p = run.parts.source.progress?.();
      process.stdout.write(
        p?.total === 0
          ? 'nothing to do: the input files are empty (0 bytes)\n'
          : `nothing to do: every input record is already committed in ${run.stateDir}/checkpoint.json (delete ${run.stateDir} and the shards to start over)\n`,
      );
    }
    const all = manifest.merged.shards;
    process.stdout.write(
      `shards ${manifest.shards.length} written by this run; ${all.length} in ${config.sink.dir} (${all.reduce((a, s) => a + s.rows, 0)} rows) ` +
        `after ${manifest.merged.runs?.length ?? 1} run(s); manifest ${manifest.path}\n`,
    );
    if (run.simulated) process.stdout.write('outputs are SIMULATED (bundled vLLM simulator): configure llm.endpoints to use a real vLLM server\n');
    else if (manifest.simulated) process.stdout.write('outputs are SIMULATED: the endpoint is the gemflow simulator (it names itself gemflow-simulator in /v1/models), not a model server\n');
    if (result.fatal) {
      process.stderr.write(`gemflow: run stopped early: ${result.fatal.message}\n`);
      code = 2;
    } else if (signals > 0 && (result.funnel.documents.abandoned > 0 || unread(run.parts.source))) {
      // Stopped by a signal before its work was done: the documents that did finish are the ones that fail
      // fastest (a dead letter can come from the first answer), so they say nothing about the share the LLM
      // loses. A files run did not reach the end of its input: it exits 128 + the signal's number, as a
      // shell does, so a script does not take the output for complete; a Kafka worker's stop is its
      // normal end (exit 0).
      const d = result.funnel.documents;
      process.stderr.write(
        `gemflow: stopped by ${firstSignal}${d.abandoned > 0 ? `: ${d.abandoned} documents in flight abandoned (uncommitted; the next run replays them)` : ''}` +
          `${config.source.type === 'files' ? `; the input is not finished: run the same command again to resume from ${run.stateDir}/checkpoint.json` : ''}\n`,
      );
      if (config.source.type === 'files') code = 128 + (osConstants.signals[firstSignal!] ?? 15);
    } else if (lostToLlm(result.funnel.documents)) {
      const d = result.funnel.documents;
      const lost = Object.entries(d.deadLettered).filter(([c]) => c.startsWith('llm_'));
      const n = lost.reduce((a, [, v]) => a + v, 0);
      process.stderr.write(
        `gemflow: the run lost most of its documents: ${n} of the ${n + d.written + sumOf(d.rejected)} documents the LLM steps worked on were dead-lettered ` +
          `(${lost.map(([c, v]) => `${c}: ${v}`).join(', ')}); each dead letter names every attempt's error\n`,
      );
      code = 4;
    } else if (!result.funnel.balanced) {
      const d = result.funnel.documents;
      process.stderr.write(`gemflow: the funnel does not balance: ${d.inFlight} of ${d.received} documents received left in no known way (${JSON.stringify(d)}); this is a bug, please report it with the manifest\n`);
      code = 3;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server?.close();
    await run.close();
  }
  return code;
}

/** /healthz, /readyz and /metrics for Kubernetes probes and Prometheus; values are read at scrape time. */
async function startServer(
  config: PipelineConfig,
  run: Awaited<ReturnType<typeof buildRun>>,
  latest: () => ProgressSnapshot | undefined,
  draining: AbortSignal,
  log: ReturnType<typeof createLogger>,
): Promise<{ close(): Promise<void> }> {
  const src = config.source;
  let admin: import('kafkajs').Admin | undefined;
  if (src.type === 'kafka') {
    const { Kafka } = await import('kafkajs');
    const { kafkaClientConfig } = await import('./kafka/client-options.js');
    admin = new Kafka(kafkaClientConfig(src, log)).admin();
    await admin.connect();
  }
  const registry = createWorkerRegistry({
    funnel: () => latest()?.funnel,
    stages: run.parts.metrics,
    llm: run.client,
    cache: () => run.cache?.stats(),
    queues: () => ({ documents_in_flight: latest()?.inFlight ?? 0, llm_documents_in_flight: latest()?.llmInFlight ?? 0 }),
    consumerLag: admin && src.type === 'kafka' ? () => consumerGroupLag(admin!, src.groupId, src.topics) : undefined,
  });
  const source = run.parts.source as { assignedCount?: number };
  const endpoints = await startWorkerEndpoints({
    port: config.server!.port,
    registry,
    readiness: {
      sourceAssigned: () => src.type !== 'kafka' || (source.assignedCount ?? 0) > 0,
      inferenceAnswering: () => run.client.endpoints().some((e) => !e.ejected),
      notDraining: () => !draining.aborted,
    },
  });
  log.info('worker endpoints listening', { url: endpoints.url });
  return {
    async close() {
      await endpoints.close();
      await admin?.disconnect();
    },
  };
}

function sumOf(t: Record<string, number>): number {
  return Object.values(t).reduce((a, b) => a + b, 0);
}

/**
 * Most of the documents the LLM steps worked on (written, rejected by validation, or dead-lettered for
 * an LLM reason) were dead-lettered for an LLM reason: the run is not a success, whatever else it did.
 */
function lostToLlm(d: { written: number; rejected: Record<string, number>; deadLettered: Record<string, number> }): boolean {
  const lost = Object.entries(d.deadLettered).reduce((a, [c, v]) => a + (c.startsWith('llm_') ? v : 0), 0);
  return lost > 0 && lost * 2 > lost + d.written + sumOf(d.rejected);
}
