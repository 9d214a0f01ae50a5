/**
 * One strategy of the benchmark, in a process of its own (so peak RSS, CPU time and the event loop
 * are that strategy's alone): starts a fresh simulator cluster in a child process, runs the whole
 * pipeline over the corpus with the strategy's client set-up, samples the cluster every simulated
 * second or so, and writes its measurements as JSON to --result. bench/run.ts runs it once per strategy:
 *
 *   node dist/bench/strategy-run.js --strategy gemflow --corpus c.jsonl --work-dir d --result r.json
 *     [--replicas 4] [--time-scale 0.025] [--max-docs-in-flight 128] [--cpu-replay]
 *
 * With --cpu-replay it then runs the pipeline a second time over the same corpus, answering every
 * document from the first run's results instead of the LLM, and measures the CPU that costs.
 */
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { PipelineConfig } from '../src/config/schema.js';
import { runPipeline } from '../src/dataflow/pipeline.js';
import type { SimStats } from '../src/simulator/index.js';
import { createLogger } from '../src/telemetry/logger.js';
import { RelevancePool } from '../operators/relevance/index.js';
import { steadyState, type Sample } from './analyse.js';
import { benchParts, type RecordingClient, ReplayClient } from './bench-pipeline.js';
import { machineCpuMs, REPLICA_MODEL, SimProcess, type ReplicaGauges } from './sim-process.js';
import type { CpuReplay, StrategyResult } from './strategy-result.js';
import { STRATEGY_NAMES, strategy, type StrategyName } from './strategies.js';

function sumBuckets(gs: ReplicaGauges[]): Array<[number, number]> {
  return gs[0]!.queueBuckets.map(([le], i) => [le, gs.reduce((n, g) => n + (g.queueBuckets[i]?.[1] ?? 0), 0)]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      strategy: { type: 'string' },
      corpus: { type: 'string' },
      'work-dir': { type: 'string' },
      result: { type: 'string' },
      replicas: { type: 'string', default: '4' },
      'time-scale': { type: 'string', default: '0.025' },
      'max-docs-in-flight': { type: 'string', default: '128' },
      'cpu-replay': { type: 'boolean', default: false },
    },
  });
  const name = values.strategy as StrategyName;
  if (!STRATEGY_NAMES.includes(name) || !values.corpus || !values['work-dir'] || !values.result) {
    throw new Error(`usage: --strategy ${STRATEGY_NAMES.join('|')} --corpus FILE --work-dir DIR --result FILE`);
  }
  const timeScale = Number(values['time-scale']);
  const replicas = Number(values.replicas);
  const work = values['work-dir'];
  const s = strategy(name, timeScale);
  const log = createLogger({ quiet: true });
  const config = (dir: string) =>
    PipelineConfig.parse({
      source: { type: 'files', paths: [values.corpus] },
      llm: { cache: { enabled: false }, maxDocsInFlight: Number(values['max-docs-in-flight']) },
      sink: { dir: join(work, dir) },
    });

  const sim = await SimProcess.start(replicas, timeScale, REPLICA_MODEL);
  const capacityTokensPerSec = replicas * Math.min(REPLICA_MODEL.decodeTokensPerSec, REPLICA_MODEL.maxRunningSeqs * REPLICA_MODEL.maxDecodeTokensPerSecPerSeq);
  const bp = await benchParts(config('out'), log, { strategy: s, urls: sim.urls, record: values['cpu-replay']! });

  const t0 = performance.now();
  const toSim = (wallMs: number) => (wallMs - t0) / 1000 / timeScale;
  const samples: Sample[] = [];
  const sample = async () => {
    const [gs, simCpuMs, machine] = await Promise.all([sim.gauges(), sim.cpuMs(), machineCpuMs()]);
    const cpu = process.cpuUsage();
    const wallMs = performance.now();
    samples.push({
      simSec: toSim(wallMs),
      wallMs: wallMs - t0,
      generatedTokens: gs.reduce((n, g) => n + g.generatedTokens, 0),
      running: gs.reduce((n, g) => n + g.running, 0),
      waiting: gs.reduce((n, g) => n + g.waiting, 0),
      queueBuckets: sumBuckets(gs),
      engineCpuMs: (cpu.user + cpu.system) / 1000,
      simCpuMs,
      machineBusyMs: machine?.busy,
      machineTotalMs: machine?.total,
      rssBytes: process.memoryUsage.rss(),
    });
  };
  // About one sample per simulated second, but not more often than every 50 ms of wall time.
  const sampleMs = Math.max(50, 1000 * timeScale);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sample();
      await new Promise((r) => setTimeout(r, sampleMs));
    }
  })();

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const never = new AbortController().signal;
  const result = await runPipeline(bp.parts, { drain: never, abort: never, commitIntervalMs: 1000, admission: bp.admission });
  loop.disable();
  sampling = false;
  await sampler;
  await sample();
  const simStats: SimStats[] = await sim.stats();
  const wallMs = performance.now() - t0;
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  await bp.close();
  await sim.close();

  const docs = bp.timings!.timings.map((d) => ({ startSec: toSim(d.startMs), endSec: toSim(d.endMs) }));
  const out: StrategyResult = {
    strategy: name,
    description: s.description,
    replicas,
    timeScale,
    capacityTokensPerSec,
    wallMs,
    simSec: wallMs / 1000 / timeScale,
    funnel: result.funnel,
    fatal: result.fatal?.message,
    stages: result.metrics.toJSON(),
    docs,
    samples,
    steady: steadyState(docs, samples, capacityTokensPerSec),
    server: {
      requests: simStats.reduce((n, x) => n + x.requests.total, 0),
      byStatus: simStats.reduce<Record<string, number>>((acc, x) => {
        for (const [k, v] of Object.entries(x.requests.byStatus)) acc[k] = (acc[k] ?? 0) + v;
        return acc;
      }, {}),
      generatedTokens: simStats.reduce((n, x) => n + x.tokens.generated, 0),
      queueWaitP99Sec: Math.max(...simStats.map((x) => x.queueWaitSec.p99)),
      queueWaitP50Sec: Math.max(...simStats.map((x) => x.queueWaitSec.p50)),
    },
    peakRssBytes,
    eventLoopDelayP99Ms: loop.percentile(99) / 1e6,
  };
  if (values['cpu-replay']) out.cpuReplay = await cpuReplay(config('replay'), bp.recorder!, values.corpus);
  await writeFile(values.result, JSON.stringify(out));
}

/** The pipeline again without the LLM (answers replayed), and its CPU per written trajectory. */
async function cpuReplay(config: PipelineConfig, recorder: RecordingClient, corpus: string): Promise<CpuReplay> {
  const bp = await benchParts(config, createLogger({ quiet: true }), { client: new ReplayClient(recorder.answers) });
  const never = new AbortController().signal;
  const c0 = process.cpuUsage();
  const result = await runPipeline(bp.parts, { drain: never, abort: never, commitIntervalMs: 1000 });
  const c1 = process.cpuUsage(c0);
  await bp.close();

  const texts = (await readFile(corpus, 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
  const rel = { threads: 2, batchSize: 64 }; // the relevance step's defaults, as the pipeline above ran it
  const pool = new RelevancePool({ threads: rel.threads });
  await pool.start();
  const r0 = process.cpuUsage();
  const batch = rel.batchSize;
  let next = 0;
  const lane = async () => {
    while (next < texts.length) {
      const at = next;
      next += batch;
      await pool.score(texts.slice(at, at + batch));
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

main().catch((e: unknown) => {
  process.stderr.write(`bench strategy: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
