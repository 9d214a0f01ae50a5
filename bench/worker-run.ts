/**
 * One worker process of a benchmark run: builds the pipeline through the composition root (as
 * `gemflow run` does) with a strategy's set-up against the given replica URLs, says `{"ready":true}`
 * on stdout, waits for a line on stdin (so every worker of a run starts together, on the clock the
 * parent samples the cluster with), runs the pipeline over its corpus file, and writes what it
 * measured as JSON to --result. bench/scenario-run.ts starts one or more of these per run:
 *
 *   node dist/bench/worker-run.js --strategy '{"name":"gemflow",...}' --corpus c.jsonl --work-dir d --result r.json
 *     --urls http://127.0.0.1:1,http://127.0.0.1:2 [--time-scale 0.025] [--max-docs-in-flight 256]
 *     [--worker 0 --workers 1] [--mixed] [--cpu-replay]
 *
 * With --cpu-replay it then runs the pipeline a second time over the same corpus, answering every
 * call from the first run's answers instead of the LLM, with the decontamination step on (BFCL, from
 * `scripts/deps.sh fetch bfcl`), and measures the CPU that costs (bench/cpu-replay.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { AdaptiveEvent } from '../src/llm/adaptive-controller.js';
import { PipelineConfig } from '../src/config/schema.js';
import { runPipeline } from '../src/dataflow/pipeline.js';
import { createLogger } from '../src/telemetry/logger.js';
import type { Source, SourceHooks } from '../src/sources/types.js';
import { benchRun, type Timings } from './bench-pipeline.js';
import { cpuReplay, medianReplay, replayDecontamination } from './cpu-replay.js';
import { admission, clientSetup, type StrategySpec } from './strategies.js';
import type { WorkerResult } from './strategy-result.js';

/**
 * CPU replays after the measured run (--cpu-replay): CPU_WARMUP_REPLAYS first, reported but not counted,
 * then CPU_REPLAYS, whose median the report gives. A worker runs for hours; the first replays of a
 * process cost more and fall for a few replays (on 2026-12-04, 400 documents, the first replay of a
 * process 1.74-1.78 ms per trajectory, the next ones 1.03-1.16, from the fourth on 0.87-1.05; in this
 * worker, after its measured run, 1.115 / 1.062 / 0.968): the steady figure is what a run pays.
 */
const CPU_WARMUP_REPLAYS = 2;
const CPU_REPLAYS = 3;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      strategy: { type: 'string' },
      corpus: { type: 'string' },
      'work-dir': { type: 'string' },
      result: { type: 'string' },
      urls: { type: 'string' },
      'time-scale': { type: 'string', default: '0.025' },
      'max-docs-in-flight': { type: 'string', default: '256' },
      worker: { type: 'string', default: '0' },
      workers: { type: 'string', default: '1' },
      mixed: { type: 'boolean', default: false },
      'cpu-replay': { type: 'boolean', default: false },
      'stop-at-window-end': { type: 'boolean', default: false },
    },
  });
  if (!values.strategy || !values.corpus || !values['work-dir'] || !values.result || !values.urls) {
    throw new Error('usage: --strategy JSON --corpus FILE --work-dir DIR --result FILE --urls URL,URL');
  }
  const s = JSON.parse(values.strategy) as StrategySpec;
  const timeScale = Number(values['time-scale']);
  const work = values['work-dir'];
  const setup = clientSetup(s, values.urls.split(','), timeScale, Number(values.worker), Number(values.workers));
  const config = (dir: string, endpoints: typeof setup.endpoints, decontaminate?: unknown) =>
    PipelineConfig.parse({
      source: { type: 'files', paths: [values.corpus] },
      // The retry waits in simulated time, as every other period here: unscaled, a 503's 500 ms backoff
      // was 25 simulated seconds at timeScale 0.02 (and the simulator's Retry-After is scaled likewise).
      llm: {
        cache: { enabled: false },
        maxDocsInFlight: Number(values['max-docs-in-flight']),
        endpoints,
        retryBaseMs: Math.max(1, Math.round(500 * timeScale)),
        retryMaxMs: Math.max(1, Math.round(30_000 * timeScale)),
      },
      ...(values.mixed ? { stages: { extract: { maxWorkflows: 5 } } } : {}),
      ...(decontaminate ? { decontaminate } : {}),
      sink: { dir: join(work, dir) },
    });
  // Checked before the measured run, so a missing reference set fails at once.
  const decontaminate = values['cpu-replay'] ? replayDecontamination() : undefined;
  const log = createLogger({ quiet: true });
  // The adaptive controller's limit changes and breaker transitions, for the report's trace: [epoch ms, replica, limit, rule, ours in flight].
  const urls = values.urls.split(',');
  const limits: Array<[number, number, number, string, number]> = [];
  /** Requests the controller took back from a replica's queue and sent again (AdaptiveEvent kind `requeue`). */
  let requeued = 0;
  // Breaker transitions go in as rule `breaker_<state>` (the limit is the replica's at that moment),
  // requests taken back from a queue as rule `requeue` (the figure is how many).
  const adaptive = setup.adaptive && {
    ...setup.adaptive,
    onEvent: (e: AdaptiveEvent) => {
      if (e.kind === 'requeue') requeued += e.limit;
      limits.push([performance.timeOrigin + performance.now(), urls.indexOf(e.url), e.limit, e.kind === 'breaker' ? `breaker_${e.state}` : e.kind === 'requeue' ? 'requeue' : e.reason, e.inFlight]);
    },
  };
  const bench = await benchRun(config('out', setup.endpoints), log, { adaptive, admission: admission(s, timeScale), record: values['cpu-replay']! });

  process.stdout.write('{"ready":true}\n');
  for await (const _ of createInterface({ input: process.stdin })) break;

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const never = new AbortController().signal;
  const abort = new AbortController();
  let parts = bench.run.parts;
  if (values['stop-at-window-end']) parts = { ...parts, source: stopAtWindowEnd(parts.source, bench.timings, Number(values['max-docs-in-flight']), timeScale, abort) };
  const result = await runPipeline(parts, { drain: never, abort: abort.signal, commitIntervalMs: 1000, admission: bench.admission });
  loop.disable();
  await bench.run.finish(result);
  await bench.run.close();

  const out: WorkerResult = {
    funnel: result.funnel,
    fatal: result.fatal?.message,
    stages: result.metrics.toJSON(),
    docs: bench.timings.timings,
    unfinished: bench.timings.unfinished,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    eventLoopDelayP99Ms: loop.percentile(99) / 1e6,
    limits,
    requeued,
  };
  if (bench.recorder) {
    // Several replays, each into its own output directory (a replay into the same one would skip what
    // the previous wrote); the report gives their median and each figure.
    const replays = [];
    for (let i = 0; i < CPU_WARMUP_REPLAYS + CPU_REPLAYS; i++) replays.push(await cpuReplay(config(`replay-${i}`, setup.endpoints, decontaminate), bench.recorder.answers, values.corpus));
    out.cpuReplay = { ...medianReplay(replays.slice(CPU_WARMUP_REPLAYS)), warmupExRelevance: replays.slice(0, CPU_WARMUP_REPLAYS).map((r) => r.cpuMsPerTrajectoryExRelevance) };
  }
  await writeFile(values.result, JSON.stringify(out));
}

/**
 * --stop-at-window-end: the measured window ends when the corpus runs out (the last document takes its
 * LLM slot, see analyse.ts steadyState); what follows is the drain, documents in flight finishing on an
 * emptying cluster, which no figure of the window uses. So once the source has been read to its end,
 * STOP_SLOTS_SHARE of the LLM slots stand empty and no document has taken a slot for STOP_QUIET_SIM_SEC
 * (a shard made durable ends dozens of documents at once, and their successors take the slots a few
 * milliseconds later: an empty slot alone is no sign), the run is stopped as a second SIGTERM stops it:
 * the documents in flight are abandoned (left uncommitted; the books still balance) and their starts
 * reported as unfinished. About a quarter of each run's simulated time (the drain) is not spent.
 */
function stopAtWindowEnd(source: Source, timings: Timings, maxDocsInFlight: number, timeScale: number, abort: AbortController): Source {
  const emptySlots = Math.max(2, Math.ceil(STOP_SLOTS_SHARE * maxDocsInFlight));
  const quietMs = Math.max(50, STOP_QUIET_SIM_SEC * 1000 * timeScale);
  let eof = false;
  let timer: NodeJS.Timeout | undefined;
  const drained = () => eof && timings.inFlight <= maxDocsInFlight - emptySlots;
  const check = () => {
    if (timer !== undefined || abort.signal.aborted || !drained()) return;
    const admitted = timings.admitted;
    timer = setTimeout(() => {
      timer = undefined;
      if (timings.admitted === admitted && drained()) {
        timings.stopping = true;
        abort.abort();
      } else check();
    }, quietMs);
  };
  timings.onDone = check;
  abort.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return new Proxy(source, {
    get(target, prop) {
      if (prop === 'read') {
        return async function* (signal: AbortSignal, hooks: SourceHooks) {
          for await (const item of target.read(signal, hooks)) yield item;
          eof = true;
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
/** Simulated seconds without a document taking an LLM slot before the run counts its corpus as run out. */
const STOP_QUIET_SIM_SEC = 5;
/** Share of the LLM slots that must stand empty after the end of input before the run stops (3%: 8 of 256, 2 of a worker's 64). */
const STOP_SLOTS_SHARE = 0.03;

main().catch((e: unknown) => {
  process.stderr.write(`bench worker: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
