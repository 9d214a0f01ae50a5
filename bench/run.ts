/**
 * `npm run bench`: gemflow against two baselines, side by side, on a simulated vLLM cluster.
 *
 *   node dist/bench/run.js [--quick] [--docs N] [--replicas N] [--time-scale X] [--max-docs-in-flight N] [--out-dir DIR]
 *
 * Generates a corpus (bench/corpus.ts), then runs the whole pipeline over it once per strategy
 * (bench/strategies.ts), each in its own process with a fresh simulator cluster in another
 * (bench/strategy-run.ts); runs the relevance scorer benchmark (bench/relevance.ts) with fewer
 * documents; and writes <out-dir>/<timestamp>.json, <out-dir>/latest.md and <out-dir>/latest.svg
 * (default out-dir: bench/results). --quick runs tiny sizes (a smoke test, not a measurement).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GemflowError } from '../src/errors.js';
import { writeCorpus } from './corpus.js';
import { markdownReport, utilisationSvg, type BenchReport, type RelevanceFigures } from './report.js';
import { REPLICA_MODEL } from './sim-process.js';
import { STRATEGY_NAMES } from './strategies.js';
import type { StrategyResult } from './strategy-result.js';

const FULL = { docs: 1400, replicas: 4, timeScale: 0.025, maxDocsInFlight: 128, relevanceDocs: 2000 };
const QUICK = { docs: 24, replicas: 2, timeScale: 0.01, maxDocsInFlight: 16, relevanceDocs: 100 };

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Runs `node <script> <args>` with stderr passed through; rejects on a non-zero exit. */
async function node(script: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new GemflowError('bench_failed', `${script} ${args.join(' ')} exited with code ${code}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      docs: { type: 'string' },
      replicas: { type: 'string' },
      'time-scale': { type: 'string' },
      'max-docs-in-flight': { type: 'string' },
      'out-dir': { type: 'string' },
    },
  });
  const base = values.quick ? QUICK : FULL;
  const opts = {
    docs: Number(values.docs ?? base.docs),
    replicas: Number(values.replicas ?? base.replicas),
    timeScale: Number(values['time-scale'] ?? base.timeScale),
    maxDocsInFlight: Number(values['max-docs-in-flight'] ?? base.maxDocsInFlight),
  };
  const outDir = values['out-dir'] ?? here('../../bench/results');
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const work = await mkdtemp(join(tmpdir(), 'gemflow-bench-'));
  try {
    const corpusPath = join(work, 'corpus.jsonl');
    const corpus = await writeCorpus(corpusPath, opts.docs);
    process.stderr.write(`bench: corpus ${corpus.docs} docs; ${opts.replicas} replicas; timeScale ${opts.timeScale}\n`);

    const strategies: StrategyResult[] = [];
    for (const name of STRATEGY_NAMES) {
      const t = performance.now();
      const result = join(work, `${name}.json`);
      await node('./strategy-run.js', [
        '--strategy', name,
        '--corpus', corpusPath,
        '--work-dir', join(work, name),
        '--result', result,
        '--replicas', String(opts.replicas),
        '--time-scale', String(opts.timeScale),
        '--max-docs-in-flight', String(opts.maxDocsInFlight),
        ...(name === 'gemflow' ? ['--cpu-replay'] : []),
      ]);
      const r = JSON.parse(await readFile(result, 'utf8')) as StrategyResult;
      strategies.push(r);
      process.stderr.write(`bench: ${name} done in ${((performance.now() - t) / 1000).toFixed(0)} s wall, utilisation ${r.steady?.utilisation.toFixed(3) ?? 'n/a'}\n`);
    }

    const relevanceOut = join(work, 'relevance.json');
    await node('./relevance.js', ['--docs', String(base.relevanceDocs), '--out', relevanceOut]);
    const relevance = JSON.parse(await readFile(relevanceOut, 'utf8')) as RelevanceFigures;

    const report: BenchReport = {
      startedAt,
      node: process.version,
      cpus: availableParallelism(),
      corpus,
      replicas: opts.replicas,
      replicaModel: REPLICA_MODEL,
      timeScale: opts.timeScale,
      maxDocsInFlight: opts.maxDocsInFlight,
      wallMs: performance.now() - started,
      strategies,
      relevance,
    };
    await mkdir(outDir, { recursive: true });
    const md = markdownReport(report);
    await writeFile(join(outDir, `${startedAt.replace(/[:.]/g, '-')}.json`), JSON.stringify(report) + '\n');
    await writeFile(join(outDir, 'latest.md'), md);
    await writeFile(join(outDir, 'latest.svg'), utilisationSvg(report));
    process.stdout.write(`${md}\nreport: ${join(outDir, 'latest.md')}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
