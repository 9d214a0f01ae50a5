/**
 * Export and decontamination CPU, measured on rows of a real gemflow output (default out/demo:
 * `npm run demo`), replicated into a large output so the figures are per-row costs, not start-up.
 *
 *   node dist/bench/export.js [output dir] [--rows 50000] [--repeat 3] [--only REGEX] [--out bench/results/export.md]
 *
 * Export: every format but synthesizer (it needs a run's kept sources) over the replicated output;
 * rows per CPU-second (user + system of this process, DuckDB's threads included: "per core"), wall time
 * and peak RSS (the system share in brackets: writing the output costs kernel time, which on this shared VM
 * rose from ~0.4 to ~10 ms a MB at times, independent of gemflow); with --repeat N each measurement runs N times and the row gives the median run's CPU
 * (and the range); --only keeps the measurements whose name matches REGEX (decontamination: "decontamination").
 * Decontamination: the step's index over the full BFCL multi-turn set (.cache/bfcl/data, from
 * scripts/bfcl/fetch.sh), then each trajectory's check (hashing its user and assistant text, one
 * probe per 13-gram, the tool-set probe): CPU per trajectory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Float64, Int32, Table, Utf8, type Vector, tableToIPC, vectorFromArray } from 'apache-arrow';
import { buildIndex, DecontaminateConfig } from '../operators/decontaminate/step.js';
import { chatMessagesOf, chatToolsOf } from '../src/export/chat-rows.js';
import { runExport, type ExportFormat } from '../src/export/export.js';
import { loadChatTemplate, TemplateRenderer } from '../src/export/template.js';
import { readRows, type RowRecord } from '../src/export/read-rows.js';
import { SinkConfig } from '../src/config/schema.js';
import { OUTPUT_COLUMNS } from '../src/sinks/output-columns.js';
import { ParquetShardWriter } from '../src/sinks/parquet-shard-writer.js';
import { rerunWithNodeFlags } from './sim-process.js';

const ROOT = resolve(import.meta.dirname, '../..');
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Writes `n` rows (the source rows over and over, ids made unique) as 10,000-row Parquet shards, with
 * the sink's own writer and the sink's defaults (compression, rowGroupRows, rowGroupBytes): the
 * files users export.
 */
export async function replicate(src: RowRecord[], n: number, dir: string): Promise<void> {
  await mkdir(join(dir, 'shards'), { recursive: true });
  const sink = SinkConfig.parse({});
  for (let shard = 0; shard * 10_000 < n; shard++) {
    const fh = await open(join(dir, 'shards', `bench-${String(shard).padStart(4, '0')}.parquet`), 'w');
    try {
      const w = new ParquetShardWriter((buf) => fh.write(buf), sink.rowGroupRows, sink.compression, sink.rowGroupBytes);
      for (let i = shard * 10_000; i < Math.min(n, (shard + 1) * 10_000); i++) {
        const s = src[i % src.length]!;
        const r: RowRecord = { ...s, trajectory_id: `${String(s.trajectory_id)}-${i}`, document_id: `${String(s.document_id)}-${Math.floor(i / src.length)}` };
        // The size toParquetRow gives the sink: string lengths + 8 per number.
        let approxBytes = 0;
        for (const c of OUTPUT_COLUMNS) approxBytes += typeof r[c.name] === 'string' ? (r[c.name] as string).length : 8;
        await w.appendRow(r, approxBytes);
      }
      await w.close();
    } finally {
      await fh.close();
    }
  }
}

/** The same rows as Arrow IPC files under data/ (the dataset layout), 10,000 rows per file. */
export async function replicateArrow(src: RowRecord[], n: number, dir: string): Promise<void> {
  await mkdir(join(dir, 'data'), { recursive: true });
  for (let file = 0; file * 10_000 < n; file++) {
    const rows: RowRecord[] = [];
    for (let i = file * 10_000; i < Math.min(n, (file + 1) * 10_000); i++) {
      const r = src[i % src.length]!;
      rows.push({ ...r, trajectory_id: `${String(r.trajectory_id)}-${i}`, document_id: `${String(r.document_id)}-${Math.floor(i / src.length)}` });
    }
    const cols: Record<string, Vector> = {};
    for (const c of OUTPUT_COLUMNS) cols[c.name] = vectorFromArray(rows.map((r) => r[c.name]), c.type === 'UTF8' ? new Utf8() : c.type === 'INT32' ? new Int32() : new Float64());
    await writeFile(join(dir, 'data', `bench-${String(file).padStart(4, '0')}.arrow`), tableToIPC(new Table(cols), 'file'));
  }
}

/** Runs bench/export_baseline.py: its rows, CPU and wall seconds (its own report), and its peak RSS (MB, from /proc while it runs). */
async function runPython(python: string, args: string[]): Promise<{ rows: number; cpu: number; wall: number; peakMb: number }> {
  const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let peak = 0;
  const timer = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8')
      .then((s) => (peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024)))
      .catch(() => {});
  }, 50);
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(timer);
  if (code !== 0) throw new Error(`export_baseline.py exited with ${code}`);
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { rows: number; cpuS: number; wallS: number };
  return { rows: r.rows, cpu: r.cpuS, wall: r.wallS, peakMb: peak };
}

async function main(): Promise<void> {
  if (await rerunWithNodeFlags()) return;
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const at = args.indexOf(name);
    return at >= 0 ? args.splice(at, 2)[1] : undefined;
  };
  const report = flag('--out');
  const n = Number(flag('--rows') ?? 50_000);
  const repeat = Math.max(1, Number(flag('--repeat') ?? 1));
  const only = new RegExp(flag('--only') ?? '.');
  const source = resolve(args[0] ?? join(ROOT, 'out/demo'));
  const src: RowRecord[] = [];
  // As the sink writes rows now (chat-format JSON text), whatever the source output's age.
  for await (const r of readRows(source)) src.push({ ...r, messages: JSON.stringify(chatMessagesOf(r.messages)), tools: JSON.stringify(chatToolsOf(r.tools)) });
  const dir = await mkdtemp(join(tmpdir(), 'gemflow-bench-export-'));
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    process.stdout.write(s + '\n');
  };
  try {
    const out = join(dir, 'out');
    await replicate(src, n, out);
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    say(`export of ${n} rows (${src.length} distinct rows of ${source}, replicated), one process on this machine (${process.arch}, Node ${process.version})`);
    say('');
    say(`| what | rows | CPU s${repeat > 1 ? ` (median of ${repeat})` : ''} (of it system) | rows / CPU-s${repeat > 1 ? ' (min to max)' : ''} | wall s | peak RSS MB |`);
    say('|---|---|---|---|---|---|');
    // `outDir`: removed before each run, outside the measured window. An export writes into a new
    // directory; overwriting the last run's files made the kernel free their pages inside the window
    // (0.1 to 3.8 s of system CPU for a 460 MB file, depending on the page cache).
    /** The table's row of `repeat` runs: the median run by CPU, the range of rows per CPU-second, the highest peak. */
    const sayRow = (what: string, runs: Array<{ rows: number; cpu: number; sys?: number; wall: number; peakMb: number }>) => {
      runs.sort((a, b) => a.cpu - b.cpu);
      const m = runs[(runs.length - 1) >> 1]!;
      const range = runs.length > 1 ? ` (${Math.round(m.rows / runs.at(-1)!.cpu)} to ${Math.round(m.rows / runs[0]!.cpu)})` : '';
      const sys = m.sys === undefined ? '' : ` (${m.sys.toFixed(2)})`;
      say(`| ${what} | ${m.rows} | ${m.cpu.toFixed(2)}${sys} | ${Math.round(m.rows / m.cpu)}${range} | ${m.wall.toFixed(2)} | ${Math.round(Math.max(...runs.map((r) => r.peakMb)))} |`);
    };
    const measure = async (what: string, fn: () => Promise<number>, outDir?: string) => {
      if (!only.test(what)) return;
      const runs: Array<{ rows: number; cpu: number; sys: number; wall: number; peakMb: number }> = [];
      for (let k = 0; k < repeat; k++) {
        if (outDir) await rm(outDir, { recursive: true, force: true });
        global.gc?.();
        peak = process.memoryUsage().rss;
        const c0 = cpuMs();
        const s0 = process.cpuUsage().system;
        const t0 = performance.now();
        const rows = await fn();
        runs.push({ rows, cpu: (cpuMs() - c0) / 1000, sys: (process.cpuUsage().system - s0) / 1e6, wall: (performance.now() - t0) / 1000, peakMb: peak / 1e6 });
      }
      sayRow(what, runs);
    };
    await measure('read only (Parquet decode)', async () => {
      let k = 0;
      for await (const _ of readRows(out)) k++;
      return k;
    });
    await measure('read only (Parquet, the 3 columns export openai reads)', async () => {
      let k = 0;
      for await (const _ of readRows(out, { columns: ['document_id', 'messages', 'tools'] })) k++;
      return k;
    });
    const arrowOut = join(dir, 'arrow-out');
    await replicateArrow(src, n, arrowOut);
    await measure('read only (Arrow IPC, same rows)', async () => {
      let k = 0;
      for await (const _ of readRows(arrowOut)) k++;
      return k;
    });
    for (const format of ['openai', 'sharegpt', 'hermes'] as const) {
      await measure(`export ${format} from Arrow IPC, validation 0.05`, async () => {
        const r = await runExport({ output: arrowOut, format, outDir: join(dir, `${format}-arrow`), validation: 0.05 });
        return r.written.train + r.written.validation;
      }, join(dir, `${format}-arrow`));
    }
    await measure('read + normalise messages/tools', async () => {
      let k = 0;
      for await (const r of readRows(out)) {
        chatMessagesOf(r.messages);
        chatToolsOf(r.tools);
        k++;
      }
      return k;
    });
    // template: the compiled renderer (src/export/template-compile.ts) and, side by side, the interpreter it is checked against.
    const qwen = join(ROOT, 'tests/export/fixtures/qwen2.5-tools.jinja');
    const formats: Array<[ExportFormat, string, { template?: string; templateEngine?: 'auto' | 'interpreter' }]> = [
      ['openai', '', {}],
      ['sharegpt', '', {}],
      ['hermes', '', {}],
      ['template', ' (Qwen2.5-style template, compiled)', { template: qwen }],
      ['template', ' (Qwen2.5-style template, interpreter)', { template: qwen, templateEngine: 'interpreter' }],
      ['template', ' (Llama-3.1-style template, compiled)', { template: join(ROOT, 'tests/fixtures/templates/llama3.1.jinja') }],
      ['template', ' (Hermes-style template, compiled)', { template: join(ROOT, 'tests/fixtures/templates/hermes.jinja') }],
    ];
    for (const [format, label, extra] of formats) {
      await measure(`export ${format}${label} from Parquet, validation 0.05`, async () => {
        const r = await runExport({ output: out, format, outDir: join(dir, format), validation: 0.05, ...extra });
        if (extra.templateEngine !== 'interpreter' && r.template && r.template.engine !== 'compiled') throw new Error(`the template did not compile: ${r.template.notCompiled}`);
        return r.written.train + r.written.validation;
      }, join(dir, format));
    }
    // Baselines: what a user would write instead, in Python over the same shards (bench/export_baseline.py;
    // pyarrow + jinja2 from the venv of `bash scripts/deps.sh fetch`): ShareGPT by the export's own rules
    // (its lines compared with the export's), and transformers' apply_chat_template (jinja2 as
    // transformers configures it) for the template export.
    const python = join(ROOT, '.cache/python/venv/bin/python');
    for (const [format, label, template] of [
      ['sharegpt', 'ShareGPT by the same rules', '-'],
      ['template', 'jinja2 as transformers apply_chat_template (Qwen2.5-style template)', qwen],
    ] as const) {
      const what = `baseline: Python ${label} from Parquet`;
      if (!only.test(what)) continue;
      if (!existsSync(python)) {
        say(`| ${what} | not run: no ${python} (bash scripts/deps.sh fetch) | | | | |`);
        continue;
      }
      const shards = (await readdir(join(out, 'shards'))).filter((f) => f.endsWith('.parquet')).map((f) => join(out, 'shards', f));
      const lines = join(dir, `baseline-${format}.jsonl`);
      const runs: Array<{ rows: number; cpu: number; wall: number; peakMb: number }> = [];
      for (let k = 0; k < repeat; k++) {
        await rm(lines, { force: true });
        runs.push(await runPython(python, [join(ROOT, 'bench/export_baseline.py'), format, template, lines, ...shards]));
      }
      let same = '';
      if (format === 'sharegpt' && existsSync(join(dir, 'sharegpt', 'train.jsonl'))) {
        // The export's train + validation lines (its last measured run) against the baseline's, as multisets.
        const ours = (await Promise.all(['train', 'validation'].map((s) => readFile(join(dir, 'sharegpt', `${s}.jsonl`), 'utf8').catch(() => ''))))
          .join('\n').split('\n').filter(Boolean).sort();
        const theirs = (await readFile(lines, 'utf8')).split('\n').filter(Boolean).sort();
        const differ = theirs.filter((l, i) => l !== ours[i]).length;
        same = `; lines ${ours.length === theirs.length && differ === 0 ? 'identical to the export\'s' : `differ from the export's (${theirs.length} against ${ours.length}, ${differ} unlike)`}`;
      }
      sayRow(`${what}${same}`, runs);
      await rm(lines, { force: true });
    }
    // Rendering alone, as the template export renders (TemplateRenderer: context, render, the sampled
    // checks against the interpreter), without reading, parsing or writing: each engine on the same rows.
    for (const [label, file] of [
      ['Qwen2.5-style', qwen],
      ['Llama-3.1-style', join(ROOT, 'tests/fixtures/templates/llama3.1.jinja')],
      ['Hermes-style', join(ROOT, 'tests/fixtures/templates/hermes.jinja')],
    ] as const) {
      const t = await loadChatTemplate(file);
      const rows = src.map((r) => ({ messages: chatMessagesOf(r.messages), tools: chatToolsOf(r.tools) }));
      for (const engine of ['auto', 'interpreter'] as const) {
        await measure(`template render only (${label}, ${engine === 'auto' ? 'compiled' : 'interpreter'})`, async () => {
          const r = new TemplateRenderer(t, engine);
          let chars = 0;
          for (let i = 0; i < n; i++) {
            const row = rows[i % rows.length]!;
            try {
              chars += r.render(row.messages, row.tools).length;
            } catch {
              // a row the template rejects (Llama 3.1: one call per turn), as the export skips it
            }
          }
          if (chars === 0) throw new Error('nothing rendered');
          return n;
        });
      }
    }
    clearInterval(timer);
    if (!only.test('decontamination')) {
      if (report) await writeFile(report, lines.join('\n') + '\n');
      return;
    }

    // Decontamination: index once, then CPU per trajectory.
    const bfcl = join(ROOT, '.cache/bfcl/data');
    const c0 = cpuMs();
    const { index } = await buildIndex(DecontaminateConfig.parse({ benchmarks: [{ type: 'bfcl', path: bfcl }] }));
    const buildCpu = cpuMs() - c0;
    const trajectories = src.map((r) => {
      const ms = chatMessagesOf(r.messages);
      return { texts: ms.filter((m) => (m.role === 'user' || m.role === 'assistant') && m.content !== '').map((m) => m.content), tools: chatToolsOf(r.tools).map((t) => t.function.name), chars: ms.reduce((a, m) => a + m.content.length, 0), messages: ms.length };
    });
    const reps = Math.max(1, Math.ceil(20_000 / trajectories.length));
    let hits = 0;
    const c1 = cpuMs();
    for (let k = 0; k < reps; k++) for (const t of trajectories) if (index.check(t.texts, t.tools, 1)) hits++;
    const perTraj = (cpuMs() - c1) / (reps * trajectories.length);
    const s = index.size;
    const avg = (f: (t: (typeof trajectories)[number]) => number) => (trajectories.reduce((a, t) => a + f(t), 0) / trajectories.length).toFixed(1);
    say('');
    say(`decontamination against BFCL multi-turn (${s.items} items incl. API tool sets; ${s.ngrams} distinct 13-grams, ${s.shortTexts} short texts, ${s.toolSets} tool sets): index built in ${buildCpu.toFixed(0)} ms CPU`);
    say(`checks: ${reps * trajectories.length} trajectories (${trajectories.length} distinct, avg ${avg((t) => t.messages)} messages, ${avg((t) => t.chars)} characters), ${hits} hits: ${(perTraj * 1000).toFixed(1)} us CPU per trajectory`);
    if (report) await writeFile(report, lines.join('\n') + '\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
