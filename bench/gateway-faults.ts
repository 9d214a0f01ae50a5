/**
 * Load-independent 429/503 (a gateway in front of idle replicas): gemflow's utilisation with a share
 * of chat calls refused at random, against the same run without refusals.
 *
 *   node dist/bench/gateway-faults.js [--docs 400] [--replicas 2] [--time-scale 0.025]
 *     [--fault-rate 0.2] [--max-docs-in-flight 128] [--out FILE.json]
 *
 * Writes one corpus, then runs the whole pipeline over it (the `gemflow` strategy of bench/strategies.ts,
 * built like bench/strategy-run.ts does) twice, each against a fresh simulator cluster in its own
 * process: once without faults, once with `--fault-rate` of the calls answered 429 or 503 (half each,
 * Retry-After 0) whatever the load. The refusals come while the replicas' gauges may show an empty
 * queue, as a gateway's do. Prints each run's steady-state utilisation (bench/analyse.ts) and their ratio;
 * issue 12's target is >= 0.9. The client's retry backoff is scaled by the time scale like the
 * controller's periods (500 ms base at real time).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PipelineConfig } from '../src/config/schema.js';
import { runPipeline } from '../src/dataflow/pipeline.js';
import { createLogger } from '../src/telemetry/logger.js';
import { steadyState, type Sample, type SteadyFigures } from './analyse.js';
import { benchParts } from './bench-pipeline.js';
import { writeCorpus } from './corpus.js';
import { parseMetrics, REPLICA_MODEL } from './sim-process.js';
import { strategy } from './strategies.js';

interface RunFigures {
  faultRate: number;
  wallMs: number;
  steady: SteadyFigures | undefined;
  byStatus: Record<string, number>;
  /** Limit cuts by 429/503, by reason (overload: one refusal under load; overload_rate: refusals outnumbering answers). */
  limitCuts: Record<string, number>;
  written: number;
  fatal: string | undefined;
}

/** A simulator cluster in a child process with load-independent 429/503 at `faultRate`. */
async function startSim(replicas: number, timeScale: number, faultRate: number): Promise<{ urls: string[]; close: () => Promise<void> }> {
  const main = fileURLToPath(new URL('../src/simulator/main.js', import.meta.url));
  const m = REPLICA_MODEL;
  const args = [
    main,
    '--port', '0',
    '--replicas', String(replicas),
    '--time-scale', String(timeScale),
    '--max-running-seqs', String(m.maxRunningSeqs),
    '--prefill-tokens-per-sec', String(m.prefillTokensPerSec),
    '--decode-tokens-per-sec', String(m.decodeTokensPerSec),
    '--max-decode-tokens-per-sec-per-seq', String(m.maxDecodeTokensPerSecPerSeq),
    '--kv-cache-tokens', String(m.kvCacheTokens),
    ...(faultRate > 0 ? ['--fault-rate', String(faultRate), '--fault-kinds', 'rate_limit,unavailable', '--retry-after-sec', '0'] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  let urls: string[] | undefined;
  for await (const line of lines) {
    urls = (JSON.parse(line) as { urls: string[] }).urls;
    break;
  }
  if (!urls) throw new Error('simulator exited before listening');
  return {
    urls,
    close: async () => {
      if (child.exitCode !== null) return;
      const exit = once(child, 'exit');
      child.kill('SIGTERM');
      await exit;
    },
  };
}

async function run(corpus: string, work: string, o: { replicas: number; timeScale: number; faultRate: number; maxDocsInFlight: number }): Promise<RunFigures> {
  const sim = await startSim(o.replicas, o.timeScale, o.faultRate);
  const config = PipelineConfig.parse({
    source: { type: 'files', paths: [corpus] },
    llm: { cache: { enabled: false }, maxDocsInFlight: o.maxDocsInFlight, retryBaseMs: Math.max(1, Math.round(500 * o.timeScale)), maxRetries: 8 },
    sink: { dir: join(work, `out-${o.faultRate}`) },
  });
  const limitCuts: Record<string, number> = {};
  const s = strategy('gemflow', o.timeScale);
  const withEvents = {
    ...s,
    clientOptions: (urls: string[]) => {
      const c = s.clientOptions(urls);
      const adaptive = typeof c.adaptive === 'object' ? c.adaptive : {};
      return { ...c, adaptive: { ...adaptive, onEvent: (e: { kind: string; reason: string }) => {
            if (e.kind === 'limit' && e.reason.startsWith('overload')) limitCuts[e.reason] = (limitCuts[e.reason] ?? 0) + 1;
          },
        },
       };
    },
  };
  const bp = await benchParts(config, createLogger({ quiet: true }), { strategy: withEvents, urls: sim.urls, record: false });
  const capacityTokensPerSec = o.replicas * Math.min(REPLICA_MODEL.decodeTokensPerSec, REPLICA_MODEL.maxRunningSeqs * REPLICA_MODEL.maxDecodeTokensPerSecPerSeq);
  const t0 = performance.now();
  const toSim = (wallMs: number) => (wallMs - t0) / 1000 / o.timeScale;
  const samples: Sample[] = [];
  const sample = async () => {
    const gs = await Promise.all(sim.urls.map(async (u) => parseMetrics(await (await fetch(`${u}/metrics`)).text())));
    const wallMs = performance.now();
    samples.push({
      simSec: toSim(wallMs),
      wallMs: wallMs - t0,
      generatedTokens: gs.reduce((n, g) => n + g.generatedTokens, 0),
      running: gs.reduce((n, g) => n + g.running, 0),
      waiting: gs.reduce((n, g) => n + g.waiting, 0),
      queueBuckets: gs[0]!.queueBuckets.map(([le], i) => [le, gs.reduce((n, g) => n + (g.queueBuckets[i]?.[1] ?? 0), 0)]),
      engineCpuMs: 0,
      simCpuMs: undefined,
      machineBusyMs: undefined,
      machineTotalMs: undefined,
      rssBytes: 0,
    });
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sample();
      await new Promise((r) => setTimeout(r, Math.max(50, 1000 * o.timeScale)));
    }
  })();
  const never = new AbortController().signal;
  const result = await runPipeline(bp.parts, { drain: never, abort: never, commitIntervalMs: 1000, admission: bp.admission });
  sampling = false;
  await sampler;
  await sample();
  const byStatus: Record<string, number> = {};
  for (const u of sim.urls) {
    const st = (await (await fetch(`${u}/sim/stats`)).json()) as { requests: { byStatus: Record<string, number> } };
    for (const [k, v] of Object.entries(st.requests.byStatus)) byStatus[k] = (byStatus[k] ?? 0) + v;
  }
  const wallMs = performance.now() - t0;
  await bp.close();
  await sim.close();
  const docs = bp.timings!.timings.map((d) => ({ startSec: toSim(d.startMs), endSec: toSim(d.endMs) }));
  return {
    faultRate: o.faultRate,
    wallMs,
    steady: steadyState(docs, samples, capacityTokensPerSec),
    byStatus,
    limitCuts,
    written: result.funnel.documents.written,
    fatal: result.fatal?.message,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      docs: { type: 'string', default: '400' },
      replicas: { type: 'string', default: '2' },
      'time-scale': { type: 'string', default: '0.025' },
      'fault-rate': { type: 'string', default: '0.2' },
      'max-docs-in-flight': { type: 'string', default: '128' },
      out: { type: 'string' },
    },
  });
  const o = { replicas: Number(values.replicas), timeScale: Number(values['time-scale']), maxDocsInFlight: Number(values['max-docs-in-flight']) };
  const work = await mkdtemp(join(tmpdir(), 'gemflow-gateway-'));
  try {
    const corpus = join(work, 'corpus.jsonl');
    await writeCorpus(corpus, Number(values.docs));
    const clean = await run(corpus, work, { ...o, faultRate: 0 });
    const faulty = await run(corpus, work, { ...o, faultRate: Number(values['fault-rate']) });
    const ratio = clean.steady && faulty.steady ? faulty.steady.utilisation / clean.steady.utilisation : undefined;
    const line = (r: RunFigures) =>
      `fault rate ${r.faultRate}: utilisation ${r.steady?.utilisation.toFixed(3) ?? 'n/a'}, p99 queue wait <= ${r.steady?.queueWaitP99UpperBoundSec ?? 'n/a'} s, ` +
      `docs written ${r.written}, overload cuts ${JSON.stringify(r.limitCuts)}, statuses ${JSON.stringify(r.byStatus)}, wall ${(r.wallMs / 1000).toFixed(1)} s${r.fatal ? `, FATAL ${r.fatal}` : ''}`;
    process.stdout.write(`${line(clean)}\n${line(faulty)}\nutilisation with faults / without: ${ratio?.toFixed(3) ?? 'n/a'} (target >= 0.9)\n`);
    if (values.out) await writeFile(values.out, JSON.stringify({ options: { ...o, docs: Number(values.docs) }, clean, faulty, ratio }, null, 2) + '\n');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`gateway-faults: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
