// Measurement 4: one of two replicas hangs mid-run (accepts, never answers: faults {hung: true}).
//   node bench/reliability/hung-replica.mjs [docs=300] [timeScale=0.01] [workdir=/tmp/gemflow-reliability/hung]
// Two simulators started here; `gemflow run` with both endpoints (default llm settings; `server:
// {port: 0}` only to read gemflow_llm_requests_in_flight per endpoint). Once the first replica has
// requests in flight it is hung. Figures: exit code, books, lost documents (check-run.mjs), how long
// until gemflow's requests in flight to the hung replica reached 0 (moved), when it was ejected (log),
// and that the run completes. Prints one JSON object.
import { spawn, execSync } from 'node:child_process';
import { rm, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const { startSimulator } = await import(join(root, 'dist/src/simulator/index.js'));
const [docs = '300', timeScale = '0.01', workArg] = process.argv.slice(2);
const dir = resolve(workArg ?? '/tmp/gemflow-reliability/hung');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });
execSync(`node ${join(root, 'bench/reliability/gen-corpus.mjs')} ${dir}/corpus.jsonl ${docs} 42`);

const wedged = await startSimulator({ timeScale: Number(timeScale), replica: 0 });
const healthy = await startSimulator({ timeScale: Number(timeScale), replica: 1 });
const cfg = join(dir, 'pipeline.yaml');
await writeFile(cfg, `source: { type: files, paths: [${dir}/corpus.jsonl] }\nllm: { endpoints: [{ url: "${wedged.url}" }, { url: "${healthy.url}" }] }\nsink: { dir: ${dir}/out }\nserver: { port: 0 }\n`);
const load0 = execSync('uptime').toString().trim();
const t0 = performance.now();
const child = spawn(process.execPath, [join(root, 'bin/gemflow.js'), 'run', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d) => (stderr += d));
child.stdout.on('data', () => {});
const exited = new Promise((res) => child.on('close', (code) => res(code)));
let done = false;
exited.then(() => (done = true));

let url;
while (!url && !done) {
  url = stderr.match(/worker endpoints listening url=(\S+)/)?.[1];
  await sleep(50);
}
const inFlight = async () => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const v = (u) => Number(text.match(new RegExp(`gemflow_llm_requests_in_flight\\{endpoint="${u.replace(/[.:/]/g, '\\$&')}/?"\\} (\\d+)`))?.[1] ?? NaN);
  return { wedged: v(wedged.url), healthy: v(healthy.url) };
};
let before;
while (!done) {
  before = await inFlight().catch(() => undefined);
  if (before && before.wedged >= 20) break;
  await sleep(100);
}
wedged.setFaults({ hung: true });
const hungAt = performance.now();
const hungAtIso = new Date().toISOString();
const simRequestsAtHang = wedged.stats().requests.total;
let movedAfterS = null;
const trace = [];
while (!done) {
  const f = await inFlight().catch(() => undefined);
  if (f) trace.push([+((performance.now() - hungAt) / 1000).toFixed(1), f.wedged, f.healthy]);
  if (f && f.wedged === 0 && movedAfterS === null) movedAfterS = +((performance.now() - hungAt) / 1000).toFixed(1);
  if (movedAfterS !== null) break;
  await sleep(200);
}
const code = await exited;
const wall = (performance.now() - t0) / 1000;
const ejectLine = stderr.split('\n').find((l) => l.includes('inference replica state changed') && l.includes('state=open'));
const ejectedAfterS = ejectLine ? +((Date.parse(ejectLine.slice(0, 24)) - Date.parse(hungAtIso)) / 1000).toFixed(1) : null;
await writeFile(join(dir, 'stderr'), stderr);
const check = JSON.parse(execSync(`node ${join(root, 'bench/reliability/check-run.mjs')} ${dir}/corpus.jsonl ${dir}/out ${dir}/stderr ${code} ${wall.toFixed(1)}`).toString());
await healthy.close();
await wedged.close();
console.log(JSON.stringify({
  docs: Number(docs), timeScale: Number(timeScale), load: load0,
  inFlightAtHang: before, simRequestsAtHang, requestsOnWedgedAfterHang: wedged.stats().requests.total - simRequestsAtHang,
  stuckRequestsMovedAfterS: movedAfterS, ejectedAfterS, ejectLine: ejectLine?.slice(25, 300),
  traceSecondsWedgedHealthy: trace.filter((_, i) => i % 5 === 0).slice(0, 20),
  exit: code, wallS: +wall.toFixed(1), check,
}));
