// Peak RSS against documents processed (G-P4): one `gemflow run` over a files source of tiny documents,
// the bundled simulator at a small time scale in its own process, the worker's RSS sampled every 200 ms.
//   node bench/reliability/rss-curve.mjs <checkout root> [documents=1000000] [llmEvery=10] [timeScale=0.0005] [workdir=/tmp/gemflow-rss]
// Document i is a ~150-byte how-to (relevant: it goes through the LLM steps) when i % llmEvery == 0,
// else a ~55-byte news line (dropped by relevance, the hand-weighted scorer); every document's words are random, so none is a
// duplicate. Prints the peak RSS seen up to 10 k, 100 k, 1 M (and each tenth of the run) documents
// received, from the run's progress lines, as one JSON line.
// Environment: RSS_PROBE=1 preloads mem-sampler.mjs (with --expose-gc) and adds the main isolate's heapUsed,
// heapUsed right after a full GC (every 10 s), external and arrayBuffers, peak up to each mark; RSS_NODE_ARGS
// adds node flags to the worker (e.g. "--max-semi-space-size=4"); RSS_SNAPSHOTS="10000,100000" writes a heap
// snapshot (--heapsnapshot-signal) as the run passes each count, into <workdir>/snapshots; RSS_LOG=<file> keeps the
// run's stderr (progress lines, with the records in flight); RSS_STDOUT=<file> keeps its stdout (e.g. with
// RSS_NODE_ARGS="--trace-gc": every isolate's GCs, the worker threads' too); RSS_RELEVANCE="threads: 0",
// RSS_LLM="maxDocsInFlight: 64" and RSS_SINK="rowGroupRows: 200" add settings to the relevance step, llm and sink,
// RSS_PIPELINE="queueCapacity: 256" a top-level line.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { once } from 'node:events';

const [rootArg, nArg = '1000000', everyArg = '10', scaleArg = '0.0005', workArg] = process.argv.slice(2);
if (!rootArg) throw new Error('usage: rss-curve.mjs <checkout root> [documents] [llmEvery] [timeScale] [workdir]');
const root = resolve(rootArg);
const n = Number(nArg);
const every = Number(everyArg);
const work = resolve(workArg ?? '/tmp/gemflow-rss');

let seed = 12345; // mulberry32
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const word = () => Array.from({ length: 4 + Math.floor(rand() * 5) }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join('');

const corpus = join(work, `corpus-v2-${n}-${every}.jsonl`);
if (!(await stat(corpus).catch(() => undefined))) {
  await mkdir(work, { recursive: true });
  const out = createWriteStream(corpus + '.tmp');
  for (let i = 0; i < n; i++) {
    const text = i % every === 0
      ? `How to ${word()} ${word()} ${word()}\n1. Open ${word()} ${word()} ${word()}.\n2. Click ${word()} ${word()} ${word()}.\n3. Set ${word()} ${word()} to ${word()}.\n4. Run ${word()} ${word()} ${word()}.`
      : `Report ${word()} said the ${word()} market rose on ${word()}.`;
    if (!out.write(JSON.stringify({ id: `d${i}`, text }) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const { rename } = await import('node:fs/promises');
  await rename(corpus + '.tmp', corpus);
}

const dir = join(work, `run-${Date.now()}-${process.pid}`); // runs side by side share the workdir
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });
const cfg = join(dir, 'pipeline.yaml');
const { writeFile } = await import('node:fs/promises');
// The simulator runs in its own process (its per-call statistics are the test double's memory, not the engine's).
const sim = spawn(process.execPath, [join(root, 'bin/gemflow.js'), 'simulate', '--port', '0', '--time-scale', scaleArg], { stdio: ['ignore', 'pipe', 'inherit'] });
const simUrl = await new Promise((res, rej) => {
  let text = '';
  sim.stdout.on('data', (d) => {
    text += d;
    const m = /"urls":\["([^"]+)"/.exec(text);
    if (m) res(m[1]);
  });
  sim.on('close', () => rej(new Error(`simulator exited: ${text}`)));
});
await writeFile(cfg, `source: { type: files, paths: [${corpus}] }\nrelevance: { model: hand${process.env.RSS_RELEVANCE ? `, ${process.env.RSS_RELEVANCE}` : ''} }\nllm: { endpoints: [{ url: "${simUrl}" }]${process.env.RSS_LLM ? `, ${process.env.RSS_LLM}` : ''} }\nsink: { dir: ${join(dir, 'out')}${process.env.RSS_SINK ? `, ${process.env.RSS_SINK}` : ''} }\nlogIntervalMs: 1000\n${process.env.RSS_PIPELINE ? `${process.env.RSS_PIPELINE}\n` : ''}`);

const t0 = performance.now();
const probe = process.env.RSS_PROBE === '1';
const snapshotsAt = (process.env.RSS_SNAPSHOTS ?? '').split(',').filter(Boolean).map(Number);
const snapDir = join(work, 'snapshots');
if (snapshotsAt.length) await mkdir(snapDir, { recursive: true });
const nodeArgs = [
  ...(process.env.RSS_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ...(probe ? ['--expose-gc', '--import', join(import.meta.dirname, 'mem-sampler.mjs')] : []),
  ...(snapshotsAt.length ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapDir}`] : []),
];
const child = spawn(process.execPath, [...nodeArgs, join(root, 'bin/gemflow.js'), 'run', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
const heap = []; // [received, sample] from the probe
let nextSnap = 0;
let stderr = '';
let stdout = '';
let received = 0;
const runLog = process.env.RSS_LOG ? createWriteStream(process.env.RSS_LOG) : undefined; // the run's stderr, whole
child.stderr.on('data', (d) => {
  runLog?.write(d);
  stderr += d;
  for (const m of String(d).matchAll(/progress \S+ docs (\d+)/g)) received = Math.max(received, Number(m[1]));
  for (const m of String(d).matchAll(/gemflow-mem (\{.*\})/g)) heap.push([received, JSON.parse(m[1])]);
  while (nextSnap < snapshotsAt.length && received >= snapshotsAt[nextSnap]) {
    child.kill('SIGUSR2');
    nextSnap++;
  }
  if (stderr.length > 1e6) stderr = stderr.slice(-1e5);
});
const runOut = process.env.RSS_STDOUT ? createWriteStream(process.env.RSS_STDOUT) : undefined; // the run's stdout, whole
child.stdout.on('data', (d) => {
  runOut?.write(d);
  stdout += d;
  if (stdout.length > 1e6) stdout = stdout.slice(-1e5);
});
let peak = 0;
// user + system CPU of the worker process (all its threads), from /proc/<pid>/stat: the last value read
// before it exits (at most one 200 ms sample short).
const cpuSeconds = async (pid) => {
  const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return f.length > 13 ? (Number(f[11]) + Number(f[12])) / 100 : 0; // utime, stime (fields 14, 15) in clock ticks
};
let cpuS = 0;
const marksAll = [...new Set([10_000, 100_000, ...Array.from({ length: 10 }, (_, i) => Math.round(((i + 1) * n) / 10))])].filter((k) => k <= n).sort((a, b) => a - b);
let nextMark = 0;
const mem = {};
const samples = []; // [received, rss MB]
const sampler = setInterval(async () => {
  const s = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
  const mb = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024;
  cpuS = Math.max(cpuS, await cpuSeconds(child.pid));
  if (mb > 0) {
    peak = Math.max(peak, mb);
    samples.push([received, mb]);
    // A line as the run passes each tenth (and 10 k, 100 k), so a long run reports as it goes.
    while (nextMark < marksAll.length && received >= marksAll[nextMark]) {
      if (probe) {
        // Where the resident memory is: the malloc heap (brk: native allocations of node, its addons and
        // glibc) against all other anonymous mappings (V8's heap pages, thread stacks, malloc arenas).
        const smaps = await readFile(`/proc/${child.pid}/smaps`, 'utf8').catch(() => '');
        let brk = 0, anon = 0, cur = '';
        for (const l of smaps.split('\n')) {
          if (/^[0-9a-f]+-[0-9a-f]+ /.test(l)) cur = l;
          else if (l.startsWith('Rss:')) {
            const kb = Number(l.split(/\s+/)[1]);
            if (cur.endsWith('[heap]')) brk += kb;
            else if (!/ \//.test(cur)) anon += kb;
          }
        }
        mem.brkMb = Math.round(brk / 1024);
        mem.otherAnonMb = Math.round(anon / 1024);
      }
      // probeNow: the probe's last sample (main isolate's spaces, V8 malloc, WebAssembly memories, smaps by kind).
      console.log(JSON.stringify({ progress: true, received, peakRssMbSoFar: Math.round(peak), rssMbNow: Math.round(mb), cpuS, ...(probe && { ...mem, heapUsedMbNow: heap.at(-1)?.[1].heapUsed, heapAfterGcMbLast: heap.findLast(([, x]) => x.afterGc !== undefined)?.[1].afterGc, externalMbNow: heap.at(-1)?.[1].external, probeNow: heap.at(-1)?.[1] }), elapsedS: Math.round((performance.now() - t0) / 1000) }));
      nextMark++;
    }
  }
}, 200);
const code = await new Promise((res) => child.on('close', (c) => res(c)));
clearInterval(sampler);
const simCpuS = await cpuSeconds(sim.pid);
const simRssMb = Math.round(Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${sim.pid}/status`, 'utf8').catch(() => ''))?.[1] ?? 0) / 1024);
sim.kill('SIGTERM');
const wallS = (performance.now() - t0) / 1000;
const m = JSON.parse(await readFile(join(dir, 'out', '_gemflow', 'manifest.json'), 'utf8').catch(() => '{}'));
const peakUpTo = (k) => Math.round(Math.max(0, ...samples.filter(([r]) => r <= k).map(([, mb]) => mb)));
const marks = [10_000, 100_000, 300_000, 1_000_000].filter((k) => k <= n);
const tenths = Array.from({ length: 10 }, (_, i) => Math.round(((i + 1) * n) / 10));
console.log(JSON.stringify({
  root, documents: n, llmEvery: every, timeScale: Number(scaleArg), exit: code, wallS: +wallS.toFixed(1),
  peakRssMbUpTo: Object.fromEntries(marks.map((k) => [k, peakUpTo(k)])),
  peakRssMbByTenth: Object.fromEntries(tenths.map((k) => [k, peakUpTo(k)])),
  peakRssMb: Math.round(peak), cpuS: +cpuS.toFixed(1), simulatorRssMbAtEnd: simRssMb, simulatorCpuS: simCpuS,
  ...(probe && {
    // Main isolate, MB: the highest heapUsed seen, and the highest heapUsed right after a full GC (live data).
    heapUsedMbUpTo: Object.fromEntries(marks.map((k) => [k, Math.round(Math.max(0, ...heap.filter(([r]) => r <= k).map(([, x]) => x.heapUsed)))])),
    heapAfterGcMbUpTo: Object.fromEntries(marks.map((k) => [k, Math.round(Math.max(0, ...heap.filter(([r, x]) => r <= k && x.afterGc !== undefined).map(([, x]) => x.afterGc)))])),
    heapAfterGcMbByTenth: Object.fromEntries(tenths.map((k) => [k, Math.round(Math.max(0, ...heap.filter(([r, x]) => r <= k && x.afterGc !== undefined).map(([, x]) => x.afterGc)))])),
    heapTotalMbUpTo: Object.fromEntries(marks.map((k) => [k, Math.round(Math.max(0, ...heap.filter(([r]) => r <= k).map(([, x]) => x.heapTotal)))])),
    externalMbUpTo: Object.fromEntries(marks.map((k) => [k, Math.round(Math.max(0, ...heap.filter(([r]) => r <= k).map(([, x]) => x.external)))])),
    arrayBuffersMbUpTo: Object.fromEntries(marks.map((k) => [k, Math.round(Math.max(0, ...heap.filter(([r]) => r <= k).map(([, x]) => x.arrayBuffers)))])),
    lastSample: heap.at(-1)?.[1],
  }),
  nodeArgs: process.env.RSS_NODE_ARGS || undefined,
  funnel: m.funnel?.documents && { received: m.funnel.documents.received, written: m.funnel.documents.written, dropped: m.funnel.documents.dropped, balanced: m.funnel.balanced },
  stderrTail: code === 0 ? undefined : stderr.slice(-2000),
}));
if (probe) await writeFile(join(work, `mem-${n}-${Date.now()}.jsonl`), heap.map(([r, x]) => JSON.stringify({ received: r, ...x })).join('\n') + '\n');
await rm(dir, { recursive: true, force: true });
