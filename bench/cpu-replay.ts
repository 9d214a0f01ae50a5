import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { PipelineConfig } from '../src/config/schema.js';
import { runPipeline } from '../src/dataflow/pipeline.js';
import type { ChatResult } from '../src/llm/types.js';
import { GemflowError } from '../src/errors.js';
import { createLogger } from '../src/telemetry/logger.js';
import { RelevancePool } from '../operators/relevance/index.js';
import { replayParts, ReplayClient } from './bench-pipeline.js';
import type { CpuReplay } from './strategy-result.js';

/** BFCL multi-turn data (`bash scripts/deps.sh fetch bfcl`), the reference set of the replay's decontamination step. */
export const BFCL_DATA = fileURLToPath(new URL('../../.cache/bfcl/data', import.meta.url));

/**
 * The `decontaminate:` block the replay runs with (issue 11 measures the CPU per trajectory with
 * decontamination on): the BFCL multi-turn set at `dir`, which must exist.
 */
export function replayDecontamination(dir = BFCL_DATA): { benchmarks: Array<{ type: 'bfcl'; path: string }> } {
  if (!existsSync(dir)) throw new GemflowError('bench_missing_data', `no BFCL data at ${dir}: run \`bash scripts/deps.sh fetch bfcl\` first`);
  return { benchmarks: [{ type: 'bfcl', path: dir }] };
}

/**
 * The pipeline of `config` again without the LLM (every call answered from `answers`, recorded by a
 * RecordingClient on a run over the same corpus), and its CPU per written trajectory: process CPU
 * (every thread) around the run, and the same minus scoring the corpus's relevance alone.
 * bench/worker-run.ts --cpu-replay and bench/cpu-per-trajectory.ts measure with this.
 */
export async function cpuReplay(config: PipelineConfig, answers: ReadonlyMap<string, ChatResult>, corpus: string): Promise<CpuReplay> {
  const bp = await replayParts(config, createLogger({ quiet: true }), new ReplayClient(answers));
  const never = new AbortController().signal;
  const c0 = process.cpuUsage();
  const result = await runPipeline(bp.parts, { drain: never, abort: never, commitIntervalMs: 1000 });
  const c1 = process.cpuUsage(c0);
  await bp.close();
  if (result.fatal) throw result.fatal;

  const texts = (await readFile(corpus, 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
  const rel = { threads: 2, batchSize: 64 }; // the relevance step's defaults, as the pipeline above ran it
  const pool = new RelevancePool({ threads: rel.threads });
  await pool.start();
  const r0 = process.cpuUsage();
  let next = 0;
  const lane = async () => {
    while (next < texts.length) {
      const at = next;
      next += rel.batchSize;
      await pool.score(texts.slice(at, at + rel.batchSize));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, rel.threads * 2) }, lane));
  const r1 = process.cpuUsage(r0);
  await pool.close();

  const trajectories = result.funnel.trajectories.written;
  const cpuMs = (c1.user + c1.system) / 1000;
  const relevanceCpuMs = (r1.user + r1.system) / 1000;
  const per = (ms: number) => (trajectories > 0 ? ms / trajectories : 0);
  return {
    trajectories,
    funnel: result.funnel,
    cpuMs,
    relevanceCpuMs,
    cpuMsPerTrajectory: per(cpuMs),
    cpuMsPerTrajectoryExRelevance: per(cpuMs - relevanceCpuMs),
    validateMsPerTrajectory: per(result.metrics.stage('validate').totalMs),
  };
}

/**
 * The median of several replays (by CPU per trajectory without relevance scoring), with every replay's
 * figure in `replaysExRelevance`. One replay on this shared 2-core VM varied from 1.07 to 1.86 ms per
 * trajectory within one process (bench/cpu-per-trajectory.ts, 2026-12-04), so one sample says little.
 */
export function medianReplay(replays: readonly CpuReplay[]): CpuReplay {
  if (replays.length === 0) throw new GemflowError('bench_failed', 'no CPU replay ran');
  const sorted = [...replays].sort((a, b) => a.cpuMsPerTrajectoryExRelevance - b.cpuMsPerTrajectoryExRelevance);
  return { ...sorted[(sorted.length - 1) >> 1]!, replaysExRelevance: replays.map((r) => r.cpuMsPerTrajectoryExRelevance) };
}
