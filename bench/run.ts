/**
 * `npm run bench`: gemflow against baselines sized from the cluster, in several scenarios, on a
 * simulated vLLM cluster.
 *
 *   node dist/bench/run.js [--quick] [--docs N] [--calibration-docs N] [--replicas N] [--time-scale X | --rig-cores C]
 *     [--max-docs-in-flight N] [--scenarios a,b] [--out-dir DIR]
 *     [--best-fixed N] [--strategies gemflow,fixed-capacity,...] [--no-relevance]
 *
 * Sweeps fixed concurrency on the homogeneous scenario (a shorter corpus) to find the best fixed
 * value, then runs every scenario (bench/scenarios.ts) with its strategies (bench/strategies.ts),
 * each run with a fresh simulator cluster and its own worker processes (bench/scenario-run.ts); runs
 * the relevance scorer benchmark (bench/relevance.ts); and writes <out-dir>/<timestamp>.json,
 * <out-dir>/latest.md and <out-dir>/latest-<scenario>.svg (default out-dir: bench/results).
 * --quick runs tiny sizes (a smoke test, not a measurement). To iterate on part of it: --best-fixed N
 * skips the sweep and takes N as the best fixed concurrency, --strategies runs only the named
 * strategies, --no-relevance skips the relevance benchmark (a partial report, not the benchmark).
 *
 * The time scale is calibrated to the machine unless --time-scale is given (bench/calibrate.ts):
 * the simulator and the engine share this machine's cores, so on a slower machine the same scale would
 * measure the test double's CPU, not the scheduler.
 *
 * GEMFLOW_BENCH_CPU_PROF=DIR writes a V8 CPU profile of every simulator process (DIR/sim) and worker
 * process (DIR/worker): where the rig's CPU per simulated second goes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GemflowError } from '../src/errors.js';
import { isKvAllocation, KV_ALLOCATIONS, maxOutputTokensPerSec, saturatingConcurrency } from '../src/simulator/capacity-model.js';
import { writeCorpus, type CorpusStats } from './corpus.js';
import { markdownReport, scenarioSvg, type BenchReport, type RelevanceFigures } from './report.js';
import { CALIBRATION_SCALE, calibrateTimeScale, RIG_SHARE, type TimeScaleCalibration } from './calibrate.js';
import { runStrategy } from './scenario-run.js';
import { scenarios, type Scenario } from './scenarios.js';
import { nodeArgs, REPLICA_MODEL } from './sim-process.js';
import { barrierStrategy, fixedStrategy, gemflowStrategy, unboundedStrategy, type StrategySpec } from './strategies.js';
import type { StrategyResult } from './strategy-result.js';

/**
 * Full sizes. 256 documents in flight: the steady window needs demand above supply throughout, and a
 * wave of new documents, all at their first call (extract) at once, offers about one call each (with
 * 160 in flight the calls offered fell below the 252 the cluster runs for a fifth of the old window,
 * for every strategy). 600 documents a run, the sweep's too: the corpus runs out well after the
 * warm-up, so the window between them (analyse.ts) is long enough to hold the scenarios' events, and
 * the sweep's windows are as long as the scenarios' (with 400 documents they were 60-90 simulated s,
 * and its best moved between 252, 320 and 512 from run to run). Every run stops at its window's end
 * (worker-run.ts --stop-at-window-end). The calibration probe needs only a CPU rate: 400 documents.
 * The sweep starts at the capacity concurrency (63 a replica): below the saturating batch decode is
 * unused by construction (48 a replica, 192 in all, measured 0.766 and 0.771 of capacity in the two
 * full runs of 2026-12-03 19:00 and 19:25, against 0.916-0.991 from 252 up) and it was the sweep's
 * slowest run.
 */
const FULL = { docs: 600, calibrationDocs: 400, replicas: 4, timeScale: 0.02, maxDocsInFlight: 256, relevanceDocs: 1000, relevanceLlmDocs: 400, sweepPerReplica: [63, 80, 128] };
/** Quick: few documents in flight, so that documents complete in a stream and the events fall between the 10th and 90th percentile of completions. */
const QUICK = { docs: 24, calibrationDocs: 16, replicas: 2, timeScale: 0.005, maxDocsInFlight: 6, relevanceDocs: 100, relevanceLlmDocs: 60, sweepPerReplica: [8, 63] };

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Runs `node <script> <args>` with stderr passed through; rejects on a non-zero exit. */
async function node(script: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [...nodeArgs(script.replace(/^.*\/|\.js$/g, '')), here(script), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new GemflowError('bench_failed', `${script} ${args.join(' ')} exited with code ${code}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      docs: { type: 'string' },
      'calibration-docs': { type: 'string' },
      replicas: { type: 'string' },
      'time-scale': { type: 'string' },
      'rig-cores': { type: 'string' },
      'max-docs-in-flight': { type: 'string' },
      scenarios: { type: 'string' },
      'out-dir': { type: 'string' },
      'best-fixed': { type: 'string' },
      strategies: { type: 'string' },
      'no-relevance': { type: 'boolean', default: false },
      'kv-allocation': { type: 'string' },
    },
  });
  const base = values.quick ? QUICK : FULL;
  const opts = {
    docs: Number(values.docs ?? base.docs),
    calibrationDocs: Number(values['calibration-docs'] ?? base.calibrationDocs),
    replicas: Number(values.replicas ?? base.replicas),
    timeScale: Number(values['time-scale'] ?? base.timeScale),
    calibrate: values['time-scale'] === undefined && !values.quick,
    maxDocsInFlight: Number(values['max-docs-in-flight'] ?? base.maxDocsInFlight),
  };
  const alloc = values['kv-allocation'] ?? 'reserve';
  if (!isKvAllocation(alloc)) throw new GemflowError('usage', `--kv-allocation: ${KV_ALLOCATIONS.join(' or ')}, got "${alloc}"`);
  // incremental: the replicas allocate KV as vLLM does, with preemption (src/simulator/options.ts).
  const m = { ...REPLICA_MODEL, kvAllocation: alloc } as const;
  const perReplica = saturatingConcurrency(m);
  const clusterConcurrency = opts.replicas * perReplica;
  const all = scenarios(m, opts.replicas);
  const wanted = values.scenarios?.split(',').map((x) => x.trim());
  const unknown = wanted?.filter((w) => !all.some((s) => s.name === w)) ?? [];
  if (unknown.length > 0) throw new GemflowError('invalid_arguments', `unknown scenario ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  const chosen = wanted ? all.filter((s) => wanted.includes(s.name)) : all;

  const outDir = values['out-dir'] ?? here('../../bench/results');
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const loadStart = loadavg()[0]!;
  const work = await mkdtemp(join(tmpdir(), 'gemflow-bench-'));
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  try {
    // A corpus's files and the LLM answers it needs without repairs: per kept procedural document one extract, and per workflow a ground and a refine.
    const corpus = async (name: string, docs: number, parts: number, mix: boolean) => {
      const files = Array.from({ length: parts }, (_, i) => join(work, `${name}-${i}.jsonl`));
      const stats: CorpusStats = await writeCorpus(files, docs, { mix });
      return { files, expectedAnswers: stats.procedural + 2 * stats.workflows };
    };
    const corpora = {
      calibration: await corpus('calibration', opts.calibrationDocs, 1, false),
      standard: await corpus('standard', opts.docs, 1, false),
      split: await corpus('split', opts.docs, 4, false),
      mix: await corpus('mix', opts.docs, 1, true),
    };
    const corpusOf = (s: Scenario) => (s.mixedWorkflows ? corpora.mix : s.workers > 1 ? corpora.split : corpora.standard);
    const homogeneous = all.find((s) => s.name === 'homogeneous')!;
    let calibration: TimeScaleCalibration | undefined;
    if (opts.calibrate) {
      log(`calibrating the time scale: homogeneous/fixed-capacity (${opts.calibrationDocs} docs) at timeScale ${CALIBRATION_SCALE}`);
      const probe = await runStrategy({ scenario: homogeneous, strategy: fixedStrategy('calibration', clusterConcurrency, 'time-scale calibration'), corpusFiles: corpora.calibration.files, expectedAnswers: corpora.calibration.expectedAnswers, workDir: join(work, 'calibration'), replicas: opts.replicas, timeScale: CALIBRATION_SCALE, maxDocsInFlight: opts.maxDocsInFlight, model: m, cpuReplay: false, stopAtWindowEnd: true });
      // The cores the machine gives: half of them, less what the hypervisor took for other guests during the probe.
      const steal = probe.steady?.cpu.machineStealShare ?? 0;
      const rigCores = values['rig-cores'] !== undefined ? Number(values['rig-cores']) : availableParallelism() * RIG_SHARE * (1 - steal);
      calibration = calibrateTimeScale(probe, CALIBRATION_SCALE, rigCores, opts.timeScale);
      opts.timeScale = calibration.timeScale;
      log(`calibration: engine ${calibration.engineCores.toFixed(2)} + simulator ${calibration.simulatorCores.toFixed(2)} cores at ${CALIBRATION_SCALE} = ${calibration.cpuMsPerSimSec.toFixed(1)} ms of CPU per simulated second; steal ${(100 * steal).toFixed(0)}%; rig budget ${rigCores.toFixed(2)} cores; timeScale ${opts.timeScale}`);
    }
    log(`${opts.docs} docs per run; ${opts.replicas} replicas; timeScale ${opts.timeScale}; capacity concurrency ${opts.replicas} x ${perReplica} = ${clusterConcurrency}`);

    let runs = 0;
    const memos = new Map<string, Map<string, number>>();
    const run = async (scenario: Scenario, strategy: StrategySpec, c: { files: string[]; expectedAnswers: number }, cpuReplay = false): Promise<StrategyResult> => {
      const t = performance.now();
      const key = c.files.join(',');
      if (!memos.has(key)) memos.set(key, new Map());
      const r = await runStrategy({ scenario, strategy, corpusFiles: c.files, expectedAnswers: c.expectedAnswers, workDir: join(work, `run-${runs++}`), replicas: opts.replicas, timeScale: opts.timeScale * (scenario.timeScaleFactor ?? 1), maxDocsInFlight: opts.maxDocsInFlight, model: m, cpuReplay, stopAtWindowEnd: true, deliverableMemo: memos.get(key) });
      log(`${scenario.name}/${strategy.name}: ${((performance.now() - t) / 1000).toFixed(0)} s wall, utilisation ${r.steady?.utilisation.toFixed(3) ?? 'n/a'} (of nominal ${r.steady?.nominalUtilisation.toFixed(3) ?? 'n/a'}), p99 queue wait ${r.server.queueWaitP99Sec.toFixed(1)} s, window ${r.steady?.startSec.toFixed(0) ?? '?'}-${r.steady?.endSec.toFixed(0) ?? '?'} s${r.events.map((e) => `, ${e.label} at ${e.atSec.toFixed(0)} s`).join('')}`);
      return r;
    };

    // The sweep: fixed totals on the homogeneous scenario and its corpus; the best is the highest
    // throughput. Its runs are also the homogeneous scenario's fixed-capacity and fixed-best: the same
    // strategy on the same corpus and cluster, so they are not run twice.
    const sweep: StrategyResult[] = [];
    for (const per of values['best-fixed'] ? [] : base.sweepPerReplica) {
      const total = per * opts.replicas;
      sweep.push(await run(homogeneous, fixedStrategy(`fixed-${total}`, total, 'sweep'), corpora.standard));
    }
    const best = sweep.reduce<StrategyResult | undefined>((a, b) => ((b.steady?.outputTokensPerSec ?? 0) > (a?.steady?.outputTokensPerSec ?? 0) ? b : a), undefined);
    const bestFixed = best ? Number(best.strategy.replace('fixed-', '')) : Number(values['best-fixed']);
    log(`best fixed concurrency ${bestFixed}`);

    const fixedCapacity = fixedStrategy('fixed-capacity', clusterConcurrency, `the cluster's capacity, ${opts.replicas} x ${perReplica}`);
    const fixedBest = fixedStrategy('fixed-best', bestFixed, 'the best value of the sweep on the homogeneous scenario');
    const results: StrategyResult[] = [];
    for (const sc of chosen) {
      // homogeneous: every baseline. Elsewhere the fixed baseline is the sweep's best, the one the
      // targets name (the same as fixed-capacity when the sweep's best is the capacity).
      const list: StrategySpec[] = [gemflowStrategy()];
      if (sc.strategies === 'all') {
        list.push(fixedCapacity);
        if (bestFixed !== clusterConcurrency) list.push(fixedBest);
        list.push(barrierStrategy(Math.min(clusterConcurrency, opts.maxDocsInFlight), `${clusterConcurrency} documents: the first call of each fills the cluster`));
        list.push(unboundedStrategy());
      } else list.push(fixedBest);
      const only = values.strategies?.split(',').map((x) => x.trim());
      for (const s of list.filter((x) => !only || only.includes(x.name))) {
        const swept = sc === homogeneous && s.kind === 'fixed' ? sweep.find((x) => x.strategy === `fixed-${s.totalInFlight}`) : undefined;
        if (swept) {
          log(`${sc.name}/${s.name}: the sweep's fixed-${s.totalInFlight} run`);
          results.push({ ...swept, strategy: s.name, description: `${s.description} (the sweep's run)` });
        } else results.push(await run(sc, s, corpusOf(sc), sc.name === 'homogeneous' && s.kind === 'gemflow'));
      }
    }

    let relevance: RelevanceFigures | undefined;
    if (!values['no-relevance']) {
      const relevanceOut = join(work, 'relevance.json');
      await node('./relevance.js', ['--docs', String(base.relevanceDocs), '--llm-docs', String(base.relevanceLlmDocs), '--out', relevanceOut]);
      relevance = JSON.parse(await readFile(relevanceOut, 'utf8')) as RelevanceFigures;
    }

    const report: BenchReport = {
      startedAt,
      node: process.version,
      cpus: availableParallelism(),
      docs: opts.docs,
      calibrationDocs: opts.calibrationDocs,
      replicas: opts.replicas,
      replicaModel: m,
      saturatingPerReplica: perReplica,
      clusterConcurrency,
      capacityTokensPerSec: opts.replicas * maxOutputTokensPerSec(m),
      timeScale: opts.timeScale,
      calibration,
      maxDocsInFlight: opts.maxDocsInFlight,
      wallMs: performance.now() - started,
      loadAverage: { start: loadStart, end: loadavg()[0]! },
      scenarios: chosen,
      sweep,
      bestFixed,
      results,
      relevance,
    };
    await mkdir(outDir, { recursive: true });
    const md = markdownReport(report);
    await writeFile(join(outDir, `${startedAt.replace(/[:.]/g, '-')}.json`), JSON.stringify(report) + '\n');
    await writeFile(join(outDir, 'latest.md'), md);
    for (const sc of chosen) await writeFile(join(outDir, `latest-${sc.name}.svg`), scenarioSvg(report, sc));
    process.stdout.write(`${md}\nreport: ${join(outDir, 'latest.md')}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
