// Measurement 2: endpoint outage, then rerun.
//   node bench/reliability/outage-rerun.mjs [workdir=/tmp/gemflow-reliability/outage] [corpus=examples/corpus.jsonl]
// 1. clean run against a simulator started here -> the reference set of written documents;
// 2. a run into a fresh output whose only endpoint is a closed port (connection refused) -> exit 2,
//    the cause in the message, nothing dead-lettered for it;
// 3. a simulator started on that port, the same pipeline rerun into the same output -> it must write
//    exactly the reference documents; `gemflow stats` must show no stale dead letters.
// Prints one JSON object with every figure.
import { spawn, execSync } from 'node:child_process';
import { readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const root = resolve(import.meta.dirname, '../..');
const { startSimulator } = await import(join(root, 'dist/src/simulator/index.js'));
const work = resolve(process.argv[2] ?? '/tmp/gemflow-reliability/outage');
const corpus = resolve(process.argv[3] ?? join(root, 'examples/corpus.jsonl'));
const timeScale = Number(process.env.SIM_TIME_SCALE ?? 0.01);
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });

const uptime = () => execSync('uptime').toString().trim();
function gemflow(args) {
  return new Promise((res) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [join(root, 'bin/gemflow.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr, seconds: +((performance.now() - t0) / 1000).toFixed(1) }));
  });
}
async function pipeline(name, url, out, model) {
  const path = join(work, `${name}.yaml`);
  const ep = model ? `{ url: "${url}", model: ${model} }` : `{ url: "${url}" }`;
  await writeFile(path, `source: { type: files, paths: [${corpus}] }\nllm: { endpoints: [${ep}] }\nsink: { dir: ${out} }\n`);
  return path;
}
async function writtenDocs(out) {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    const r = await db.runAndReadAll(`SELECT DISTINCT document_id FROM read_parquet('${join(out, 'data', '*.parquet')}')`);
    return new Set(r.getRowObjects().map((x) => String(x.document_id)));
  } catch (e) {
    if (/No files found/.test(String(e))) return new Set();
    throw e;
  }
}
const manifest = async (out) => JSON.parse(await readFile(join(out, '_gemflow', 'manifest.json'), 'utf8'));
const deadLetters = async (out) => (await readFile(join(out, '_gemflow', 'dead-letters.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
const docs = (m) => m.funnel.documents;
const closedPort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

const result = { corpus, timeScale };

// 1. Clean reference run.
const ref = await startSimulator({ timeScale });
const refOut = join(work, 'ref');
result.loadBefore = uptime();
const r1 = await gemflow(['run', await pipeline('ref', ref.url, refOut)]);
await ref.close();
const expected = await writtenDocs(refOut);
result.clean = { exit: r1.code, seconds: r1.seconds, funnel: docs(await manifest(refOut)), writtenDocs: expected.size, deadLetters: await deadLetters(refOut) };

// 2 and 3, twice: (a) endpoint without a model name, so the run must discover it from /v1/models at
// start and stops there; (b) with the model named, so discovery is skipped and every document's LLM
// calls meet the refused connection (the case: documents in flight during the outage).
for (const [variant, model] of [['discovery', undefined], ['documents', 'gemflow-sim-32b']]) {
  const r = (result[variant] = {});
  // 2. Endpoint down: connection refused.
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}`;
  const out = join(work, `out-${variant}`);
  const cfg = await pipeline(`outage-${variant}`, url, out, model);
  r.loadOutage = uptime();
  const r2 = await gemflow(['run', cfg]);
  const m2 = await manifest(out).catch(() => undefined);
  r.outage = {
    url,
    exit: r2.code,
    secondsToStop: r2.seconds,
    message: (r2.stderr.match(/gemflow: .*/g) ?? []).join(' | '),
    namesConnectionRefused: /ECONNREFUSED|connection refused/i.test(r2.stderr.match(/gemflow: .*/g)?.join(' ') ?? ''),
    funnel: m2 && docs(m2),
    deadLetters: await deadLetters(out),
    writtenDocs: (await writtenDocs(out)).size,
    checkpoint: await readFile(join(out, '.gemflow', 'checkpoint.json'), 'utf8').catch(() => null),
    warnings: [...new Set((r2.stderr.match(/ warn [^\n]*/g) ?? []).map((l) => l.replace(/document=\S+ /, '').slice(0, 200)))].slice(0, 6),
  };

  // 3. Endpoint back on the same port, rerun into the same output.
  const back = await startSimulator({ timeScale, port });
  r.loadRerun = uptime();
  const r3 = await gemflow(['run', cfg]);
  await back.close();
  const got = await writtenDocs(out);
  const stats = await gemflow(['stats', out]);
  r.rerun = {
    exit: r3.code,
    seconds: r3.seconds,
    funnel: docs(await manifest(out)),
    writtenDocs: got.size,
    sameDocsAsClean: got.size === expected.size && [...expected].every((d) => got.has(d)),
    missing: [...expected].filter((d) => !got.has(d)),
    extra: [...got].filter((d) => !expected.has(d)),
    deadLetterLines: await deadLetters(out),
    statsExit: stats.code,
    stats: stats.stdout.trim(),
  };
}
console.log(JSON.stringify(result, null, 2));
