/**
 * The benchmark's "CPU per written trajectory outside the LLM" figure alone, quickly: the homogeneous
 * scenario's corpus (bench/corpus.ts, 400 documents), one recording run against a simulator cluster
 * in its own processes (the gemflow strategy, built by src/compose.ts buildRun as bench/worker-run.ts
 * builds it), then `--runs` replays of the same pipeline with every call answered from the recorded
 * answers (bench/cpu-replay.ts, the same measurement as worker-run.ts --cpu-replay), each into a fresh
 * output directory, with the decontamination step on (BFCL multi-turn, .cache/bfcl/data from
 * `scripts/deps.sh fetch bfcl`) unless --no-decontaminate.
 *
 *   npm run build && node dist/bench/cpu-per-trajectory.js [--docs 400] [--runs 5] [--warmup 1] [--answers FILE]
 *     [--profile FILE.cpuprofile] [--heap-profile FILE.heapprofile] [--no-decontaminate] [--bfcl DIR] [--json FILE]
 *     [--keep-output DIR]
 *
 * The first --warmup replays (default 1) are not counted: in the benchmark the replay follows the
 * recorded run in the same process, so the code it runs is already compiled (JIT) by then.
 * --answers FILE: load the recorded answers from FILE when it exists (no simulator), else record and
 * save them there, so two builds can be compared on identical answers. --profile: a V8 CPU profile of
 * the main thread over the last replay (open in Chrome DevTools or summarise it). --heap-profile
 * FILE.heapprofile: a sampling allocation profile of the last replay, counting garbage too (what the GC
 * has to clear). --keep-output DIR: the last replay's output directory (shards, state) is moved to DIR,
 * to compare two builds' rows and dedupe state.
 * Prints each run's CPU ms per written trajectory and the median (process CPU, user + system).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PipelineConfig } from '../src/config/schema.js';
import { runPipeline } from '../src/dataflow/pipeline.js';
import type { ChatResult } from '../src/llm/types.js';
import { createLogger } from '../src/telemetry/logger.js';
import { benchRun } from './bench-pipeline.js';
import { writeCorpus } from './corpus.js';
import { BFCL_DATA, cpuReplay, replayDecontamination } from './cpu-replay.js';
import { REPLICA_MODEL, rerunWithNodeFlags, SimProcess } from './sim-process.js';
import { clientSetup, gemflowStrategy, scaledAdaptiveOptions } from './strategies.js';
import type { CpuReplay } from './strategy-result.js';

async function record(config: PipelineConfig, timeScale: number): Promise<Map<string, ChatResult>> {
  const bench = await benchRun(config, createLogger({ quiet: true }), { adaptive: scaledAdaptiveOptions(timeScale), admission: undefined, record: true });
  const never = new AbortController().signal;
  const result = await runPipeline(bench.run.parts, { drain: never, abort: never, commitIntervalMs: 1000, admission: bench.admission });
  await bench.run.finish(result);
  await bench.run.close();
  if (result.fatal) throw result.fatal;
  return bench.recorder!.answers;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  if (await rerunWithNodeFlags()) return;
  const { values } = parseArgs({
    options: {
      docs: { type: 'string', default: '400' },
      runs: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      answers: { type: 'string' },
      profile: { type: 'string' },
      'heap-profile': { type: 'string' },
      'no-decontaminate': { type: 'boolean', default: false },
      bfcl: { type: 'string', default: BFCL_DATA },
      json: { type: 'string' },
      'keep-output': { type: 'string' },
      'time-scale': { type: 'string', default: '0.002' },
    },
  });
  const decontaminate = values['no-decontaminate'] ? undefined : replayDecontamination(values.bfcl);
  const work = await mkdtemp(join(tmpdir(), 'gemflow-cpu-'));
  try {
    const corpus = join(work, 'corpus.jsonl');
    await writeCorpus(corpus, Number(values.docs));
    const config = (dir: string, urls: string[], withDecontamination: boolean) =>
      PipelineConfig.parse({
        source: { type: 'files', paths: [corpus] },
        llm: { cache: { enabled: false }, maxDocsInFlight: 160, endpoints: clientSetup(gemflowStrategy(), urls, 1).endpoints },
        ...(withDecontamination && decontaminate ? { decontaminate } : {}),
        sink: { dir: join(work, dir) },
      });

    let answers: Map<string, ChatResult>;
    if (values.answers && existsSync(values.answers)) {
      answers = new Map(JSON.parse(await readFile(values.answers, 'utf8')) as Array<[string, ChatResult]>);
    } else {
      const sim = await SimProcess.start(4, Number(values['time-scale']), REPLICA_MODEL);
      try {
        answers = await record(config('recorded', sim.urls, false), Number(values['time-scale']));
      } finally {
        await sim.close();
      }
      if (values.answers) await writeFile(values.answers, JSON.stringify([...answers]));
    }

    const runs: CpuReplay[] = [];
    const warmup = Number(values.warmup);
    const n = warmup + Number(values.runs);
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      const profile = values.profile && last;
      const heapProfile = values['heap-profile'] && last;
      const session = profile || heapProfile ? new Session() : undefined;
      session?.connect();
      if (session && profile) {
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 200 });
        await session.post('Profiler.start');
      }
      if (session && heapProfile) {
        await session.post('HeapProfiler.enable');
        // Every allocation sampled, also of objects the GC has collected since: where the garbage comes from.
        await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      const r = await cpuReplay(config(`replay-${i}`, ['http://127.0.0.1:9'], true), answers, corpus);
      if (session && profile) {
        const { profile: p } = await session.post('Profiler.stop');
        await writeFile(values.profile!, JSON.stringify(p));
      }
      if (session && heapProfile) {
        const { profile: p } = await session.post('HeapProfiler.stopSampling');
        await writeFile(values['heap-profile']!, JSON.stringify(p));
      }
      session?.disconnect();
      if (last && values['keep-output']) await rename(join(work, `replay-${i}`), values['keep-output']);
      else await rm(join(work, `replay-${i}`), { recursive: true, force: true });
      if (i >= warmup) runs.push(r);
      const f = r.funnel;
      process.stdout.write(
        `${i < warmup ? 'warm-up' : 'run'} ${i + 1}: ${r.trajectories} trajectories, CPU ${r.cpuMs.toFixed(0)} ms = ${r.cpuMsPerTrajectory.toFixed(3)} ms each; ` +
          `ex relevance (${r.relevanceCpuMs.toFixed(0)} ms) ${r.cpuMsPerTrajectoryExRelevance.toFixed(3)} ms; funnel ${JSON.stringify(f)}\n`,
      );
    }
    const m = { cpuMsPerTrajectory: median(runs.map((r) => r.cpuMsPerTrajectory)), cpuMsPerTrajectoryExRelevance: median(runs.map((r) => r.cpuMsPerTrajectoryExRelevance)) };
    process.stdout.write(
      `median of ${runs.length} after ${warmup} warm-up (decontamination ${decontaminate ? 'on' : 'off'}): ${m.cpuMsPerTrajectory.toFixed(3)} ms CPU per written trajectory, ${m.cpuMsPerTrajectoryExRelevance.toFixed(3)} ms ex relevance\n`,
    );
    if (values.json) await writeFile(values.json, JSON.stringify({ decontaminate: decontaminate !== undefined, runs, median: m }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`cpu-per-trajectory: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
