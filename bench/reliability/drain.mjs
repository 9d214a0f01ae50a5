// Measurement 3: what a default SIGTERM drain finishes.
//   node bench/reliability/drain.mjs [trials=3] [burners=0] [timeScale=0.02] [workdir=/tmp/gemflow-reliability/drain]
// Each trial: a fresh 1,500-document corpus through `gemflow run` (bundled simulator, default settings
// but for `server: {port: 0}`, which exposes /metrics so the in-flight figures can be read at the
// instant of the signal; drainGraceMs keeps its default of 30 s), SIGTERM after 10 s, then the manifest.
// LLM documents finished by the drain = documents that left with an LLM outcome (written, no_workflows,
// rejected, dead-lettered) after the signal, minus those already past the LLM at the signal
// (none when trajectories_generated was 0 at the signal: every document that finishes its LLM work
// with rows generates trajectories at once). Prints one JSON line per trial.
import { spawn, execSync } from 'node:child_process';
import { readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const [trials = '3', burners = '0', timeScale = '0.02', workArg] = process.argv.slice(2);
const work = resolve(workArg ?? `/tmp/gemflow-reliability/drain-b${burners}-s${timeScale}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseMetrics(text) {
  const m = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return m;
}
const pick = (m, name) => Object.entries(m).filter(([k]) => k === name || k.startsWith(name + '{')).reduce((a, [, v]) => a + v, 0);
const llmOutcomes = (m) =>
  pick(m, 'gemflow_documents_written_total') + (m['gemflow_documents_dropped_total{reason="no_workflows"}'] ?? 0) +
  pick(m, 'gemflow_documents_rejected_total') + pick(m, 'gemflow_documents_dead_lettered_total');
const manifestOutcomes = (d) => d.written + (d.dropped.no_workflows ?? 0) + Object.values(d.rejected).reduce((a, b) => a + b, 0) + Object.values(d.deadLettered).reduce((a, b) => a + b, 0);

for (let t = 1; t <= Number(trials); t++) {
  const dir = join(work, `trial-${t}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  execSync(`node ${join(root, 'bench/reliability/gen-corpus.mjs')} ${dir}/corpus.jsonl 1500 ${100 + t}`);
  const cfg = join(dir, 'pipeline.yaml');
  await writeFile(cfg, `source: { type: files, paths: [${dir}/corpus.jsonl] }\nllm: { simulate: true, simulator: { timeScale: ${timeScale} } }\nsink: { dir: ${dir}/out }\nserver: { port: 0 }\nlogIntervalMs: 1000\n`);
  const burn = Array.from({ length: Number(burners) }, () => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  const child = spawn(process.execPath, [join(root, 'bin/gemflow.js'), 'run', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise((res) => child.on('close', (code, signal) => res({ code, signal })));
  const t0 = performance.now();
  let url;
  while (!url && performance.now() - t0 < 30_000) {
    url = stderr.match(/worker endpoints listening url=(\S+)/)?.[1];
    await sleep(50);
  }
  await sleep(Math.max(0, 10_000 - (performance.now() - t0)));
  const scrape = async () => parseMetrics(await (await fetch(`${url}/metrics`)).text());
  const at = await scrape();
  const loadAtSignal = execSync('uptime').toString().trim();
  const sigAt = performance.now();
  child.kill('SIGTERM');
  const { code, signal } = await exited;
  const exitS = (performance.now() - sigAt) / 1000;
  for (const b of burn) b.kill('SIGKILL');
  const m = JSON.parse(await readFile(join(dir, 'out', '_gemflow', 'manifest.json'), 'utf8'));
  const d = m.funnel.documents;
  const llmAtSignal = at['gemflow_queue_depth{queue="llm_documents_in_flight"}'];
  const pastLlmAtSignal = at['gemflow_trajectories_generated_total'] > 0 ? 'unknown (>0 trajectories generated before the signal)' : 0;
  const finished = manifestOutcomes(d) - llmOutcomes(at);
  await writeFile(join(dir, 'stderr'), stderr);
  await writeFile(join(dir, 'stdout'), stdout);
  console.log(JSON.stringify({
    trial: t, burners: Number(burners), timeScale: Number(timeScale),
    signalAfterS: +((sigAt - t0) / 1000).toFixed(1),
    atSignal: {
      received: at['gemflow_documents_received_total'], inFlight: at['gemflow_documents_in_flight'], llmDocs: llmAtSignal,
      llmRequests: pick(at, 'gemflow_llm_requests_in_flight'), written: at['gemflow_documents_written_total'],
      trajectoriesGenerated: at['gemflow_trajectories_generated_total'], pastLlm: pastLlmAtSignal,
    },
    exit: code, signal, exitAfterSignalS: +exitS.toFixed(1),
    graceExpired: exitS >= 29.5, // the abort at the end of the grace period is not logged: inferred from the exit time
    after: { received: d.received, written: d.written, dropped: d.dropped, deadLettered: d.deadLettered, abandoned: d.abandoned, balanced: m.funnel.balanced, trajDropped: m.funnel.trajectories.dropped },
    llmFinishedByDrain: finished,
    fractionOfLlmWorkFinished: llmAtSignal > 0 && pastLlmAtSignal === 0 ? +(finished / llmAtSignal).toFixed(3) : null,
    loadAtSignal,
  }));
}
