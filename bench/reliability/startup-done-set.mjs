// Start-up with 200,000 documents already in the output: how long `gemflow run` takes to its first
// document, and its RSS then.
//   node bench/reliability/startup-done-set.mjs <checkout root> [trials=3] [workdir=/tmp/gemflow-startup]
// The output is synthetic (made once, reused): two input files of 100,000 and 100,010 tiny records,
// 2,000 shards of 100 documents (an index as the sink writes it beside a placeholder Parquet file),
// and a checkpoint: the first file complete, the second committed below line 99,995 with shards up to
// 99,999 (a crash after the last shard, before its commit). Each trial copies it and runs the
// checkout's CLI on it (bundled simulator); the time is from spawn to the first progress line that
// shows a document received (logIntervalMs 50). Prints one JSON line per trial.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

const [rootArg, trials = '3', workArg] = process.argv.slice(2);
if (!rootArg) throw new Error('usage: startup-done-set.mjs <checkout root> [trials] [workdir]');
const root = resolve(rootArg);
const work = resolve(workArg ?? '/tmp/gemflow-startup');
const seed = join(work, 'seed');

const pad = (n) => String(n).padStart(12, '0');
/** The sink's shard name prefix for a file partition (src/sinks/parquet-sink.ts partitionSlug). */
const slugOf = (file) => {
  const safe = basename(file).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 64) || 'partition';
  return `${safe}-${createHash('sha256').update(file).digest('hex').slice(0, 6)}`;
};

async function makeSeed() {
  if (await stat(join(seed, 'ready')).catch(() => undefined)) return;
  await rm(seed, { recursive: true, force: true });
  // The checkout's own layout: data/ + _gemflow/index/ (dataset layout), or shards/ with indexes beside (older).
  const dataset = (await readFile(join(root, 'dist', 'src', 'sinks', 'shard-index.js'), 'utf8')).includes('_gemflow');
  const shards = join(seed, 'out', dataset ? 'data' : 'shards');
  const indexes = dataset ? join(seed, 'out', '_gemflow', 'index') : shards;
  await mkdir(shards, { recursive: true });
  await mkdir(indexes, { recursive: true });
  // The input paths stay the same in every trial (the partition is the absolute path).
  const files = [[join(work, 'in', 'a.jsonl'), 100_000, 100_000, true], [join(work, 'in', 'c.jsonl'), 100_010, 99_995, false]];
  await mkdir(join(work, 'in'), { recursive: true });
  const checkpoint = { version: 1, files: {} };
  for (const [file, lines, nextOffset, complete] of files) {
    const text = Array.from({ length: lines }, (_, i) => JSON.stringify({ id: `${basename(file)}-${i}`, text: `t${i}` })).join('\n') + '\n';
    await writeFile(file, text);
    const st = await stat(file);
    checkpoint.files[file] = { nextOffset, size: st.size, mtimeMs: st.mtimeMs, complete };
    for (let first = 0; first < 100_000; first += 100) {
      const offsets = Array.from({ length: 100 }, (_, i) => first + i);
      const last = first + 99;
      const name = `${slugOf(file)}-${pad(first)}-${pad(last)}-${createHash('sha256').update(offsets.join(',')).digest('hex').slice(0, 8)}`;
      const docs = offsets.map((offset) => ({ partition: file, offset, documentId: `${basename(file)}-${offset}`, rows: 1 }));
      await writeFile(join(indexes, `${name}.docs.json`), JSON.stringify({ version: 1, name, partition: file, firstOffset: first, lastOffset: last, rows: 100, bytes: 4, docs }));
      await writeFile(join(shards, `${name}.parquet`), 'PAR1');
    }
  }
  await mkdir(join(seed, 'out', '.gemflow'), { recursive: true });
  await writeFile(join(seed, 'out', '.gemflow', 'checkpoint.json'), JSON.stringify(checkpoint));
  await writeFile(join(seed, 'ready'), '');
}

function rssMb(pid) {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024, () => undefined);
}

await makeSeed();
for (let t = 1; t <= Number(trials); t++) {
  const dir = join(work, `trial-${t}`);
  await rm(dir, { recursive: true, force: true });
  await cp(seed, dir, { recursive: true });
  const cfg = join(dir, 'pipeline.yaml');
  await writeFile(cfg, `source: { type: files, paths: [${join(work, 'in', 'a.jsonl')}, ${join(work, 'in', 'c.jsonl')}] }\nrelevance: { threads: 0 }\nllm: { simulate: true }\nsink: { dir: ${join(dir, 'out')} }\nlogIntervalMs: 50\n`);
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(root, 'bin/gemflow.js'), 'run', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let firstDocMs;
  let rssAtFirstDoc;
  let peak = 0;
  const sampler = setInterval(async () => (peak = Math.max(peak, (await rssMb(child.pid)) ?? 0)), 20);
  child.stderr.on('data', async (d) => {
    stderr += d;
    if (firstDocMs === undefined && /progress \S+ docs [1-9]/.test(stderr)) {
      firstDocMs = performance.now() - t0;
      rssAtFirstDoc = await rssMb(child.pid);
    }
  });
  const code = await new Promise((res) => child.on('close', (c) => res(c)));
  clearInterval(sampler);
  const m = JSON.parse(await readFile(join(dir, 'out', '_gemflow', 'manifest.json'), 'utf8').catch(() => readFile(join(dir, 'out', 'manifest.json'), 'utf8')));
  // From the run's own log: "run started" to the first progress line with a document (process start excluded).
  const at = (re) => Date.parse(stderr.match(re)?.[1] ?? '');
  const fromRunStartS = (at(/^(\S+) .*run started/m) && (at(/^(\S+) progress \S+ docs [1-9]/m) - at(/^(\S+) .*run started/m)) / 1000);
  const d = m.funnel.documents;
  console.log(JSON.stringify({
    root, trial: t, exit: code, firstDocumentS: +(firstDocMs / 1000).toFixed(2), runStartedToFirstDocumentS: fromRunStartS, rssAtFirstDocumentMb: rssAtFirstDoc && Math.round(rssAtFirstDoc),
    peakRssMb: Math.round(peak), wallS: +((performance.now() - t0) / 1000).toFixed(2),
    received: d.received, written: d.written, dropped: d.dropped, balanced: m.funnel.balanced,
  }));
}
