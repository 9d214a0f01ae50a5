/**
 * Staged (extract -> ground -> refine) vs synthesize (one call per document, a distilled synthesizer
 * model) on the same corpus, against the bundled simulator (a test double: token counts follow its
 * answer rules, not a model's). For each mode: LLM calls, prompt and completion tokens, and simulated
 * GPU-seconds, each per written trajectory. GPU-seconds are the simulator's capacity model priced
 * whole: prompt tokens / prefill rate + completion tokens / aggregate decode rate of one replica
 * (DEFAULT_SIMULATOR_OPTIONS: the GPU time a token costs when the batch is full).
 *
 *   node dist/bench/synth-compare.js [corpus.jsonl] [--out bench/results/synth-compare.md]
 */
import { MANIFEST_PATH } from '../src/sinks/shard-index.js';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_SIMULATOR_OPTIONS } from '../src/simulator/options.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface Usage {
  calls: number;
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
}

interface ModeResult {
  mode: string;
  docs: number;
  docsWritten: number;
  trajectories: number;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  gpuSeconds: number;
}

async function runMode(corpus: string, mode: 'staged' | 'synthesize', dir: string): Promise<ModeResult> {
  const out = join(dir, mode);
  const cfg = join(dir, `${mode}.json`);
  // JSON is YAML: the pipeline file as the CLI reads it.
  await writeFile(cfg, JSON.stringify({ source: { type: 'files', paths: [corpus] }, relevance: { threshold: 0.35, threads: 1 }, llm: { mode, simulate: true }, sink: { dir: out } }));
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gemflow.js'), 'run', cfg, '--quiet'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${mode} run failed (${r.status}): ${r.stderr}`);
  const m = JSON.parse(await readFile(join(out, MANIFEST_PATH), 'utf8')) as {
    tokens: Record<string, Usage>;
    funnel: { documents: { received: number; written: number }; trajectories: { written: number } };
  };
  const u = Object.values(m.tokens).reduce((a, x) => ({ calls: a.calls + x.calls - x.cachedCalls, promptTokens: a.promptTokens + x.promptTokens, completionTokens: a.completionTokens + x.completionTokens }), { calls: 0, promptTokens: 0, completionTokens: 0 });
  const sim = DEFAULT_SIMULATOR_OPTIONS;
  return {
    mode,
    docs: m.funnel.documents.received,
    docsWritten: m.funnel.documents.written,
    trajectories: m.funnel.trajectories.written,
    ...u,
    gpuSeconds: u.promptTokens / sim.prefillTokensPerSec + u.completionTokens / sim.decodeTokensPerSec,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const report = outAt >= 0 ? args.splice(outAt, 2)[1] : undefined;
  const corpus = resolve(args[0] ?? join(ROOT, 'examples/corpus.jsonl'));
  const dir = await mkdtemp(join(tmpdir(), 'gemflow-synth-compare-'));
  try {
    const results = [await runMode(corpus, 'staged', dir), await runMode(corpus, 'synthesize', dir)];
    const per = (r: ModeResult, v: number) => (r.trajectories === 0 ? 'n/a' : (v / r.trajectories).toFixed(v / r.trajectories < 10 ? 3 : 0));
    const lines = [
      `corpus ${corpus}: ${results[0]!.docs} documents; simulator (a test double) with ${DEFAULT_SIMULATOR_OPTIONS.prefillTokensPerSec} prefill tok/s, ${DEFAULT_SIMULATOR_OPTIONS.decodeTokensPerSec} decode tok/s per replica`,
      '',
      '| mode | docs written | trajectories | LLM calls / traj | prompt tokens / traj | completion tokens / traj | simulated GPU-s / traj |',
      '|---|---|---|---|---|---|---|',
      ...results.map((r) => `| ${r.mode} | ${r.docsWritten} | ${r.trajectories} | ${per(r, r.calls)} | ${per(r, r.promptTokens)} | ${per(r, r.completionTokens)} | ${per(r, r.gpuSeconds)} |`),
    ];
    const text = lines.join('\n');
    process.stdout.write(text + '\n');
    if (report) await writeFile(report, text + '\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
