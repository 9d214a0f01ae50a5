/**
 * Relevance scorer throughput: `npm run build && node dist/bench/relevance.js [--docs 4000] [--seed 7]
 * [--out bench-relevance.json]`.
 *
 * Generates deterministic ~5 KB documents (half procedural how-to, half narrative/news-like), then
 * measures docs/s and MB/s (UTF-8) of (a) scoreText inline on this thread and (b) RelevancePool with 1
 * and 2 threads at batch sizes 16/64/256, keeping 2 batches per thread in flight as the pipeline does.
 * The machine may be shared, so it also reports CPU time (process.cpuUsage covers every thread of the
 * process, workers included) and docs per CPU-second. Prints a markdown table; writes JSON to --out.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { RelevancePool } from '../operators/relevance/relevance-pool.js';
import { scoreText } from '../operators/relevance/score.js';
import { defaultModelPath, loadModel, modelScore } from '../operators/relevance/model.js';

interface Row {
  /** hand: the hand weights (score.ts); trained: the shipped model (models/default.json). */
  scorer: 'hand' | 'trained';
  mode: 'inline' | 'pool';
  threads: number;
  batchSize: number;
  docs: number;
  wallMs: number;
  cpuMs: number;
  docsPerSec: number;
  mbPerSec: number;
  docsPerCpuSec: number;
}

const TARGET_BYTES = 5 * 1024;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VERBS = ['Open', 'Click', 'Select', 'Run', 'Install', 'Configure', 'Create', 'Enter', 'Navigate to', 'Send', 'Copy', 'Enable', 'Save', 'Restart', 'Verify'];
const OBJECTS = ['the Settings menu', 'the Save button', 'a new project folder', 'the terminal', 'the API key field', 'the Users tab', 'the configuration file', 'the dashboard', 'the export dialog', 'the backup job'];
const TAILS = ['and wait until the status turns green', 'to apply your changes', 'before you continue', 'so that the service picks up the new value', 'and confirm the prompt', 'if the option is not already set'];
const SEQ = ['Then', 'Next,', 'After that,', 'Finally,', 'Once it finishes,', 'First,'];
const SUBJECTS = ['The council', 'Local residents', 'The company', 'Investors', 'The minister', 'Researchers', 'The team', 'Witnesses', 'The mayor', 'Analysts'];
const PREDICATES = ['announced a new plan on Tuesday', 'said the results were better than expected', 'reported a sharp rise in costs last year', 'told reporters the decision was final', 'expressed concern about the proposal', 'welcomed the long-awaited agreement', 'described the mood in the town as tense', 'questioned the timing of the vote'];
const DETAILS = ['according to figures released this week', 'despite months of debate', 'amid growing criticism from opposition groups', 'after a series of public meetings', 'in a statement issued late on Monday', 'as prices continued to climb across the region'];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function proceduralDoc(rnd: () => number): string {
  const parts = [`How to set up the ${pick(rnd, ['backup', 'billing', 'sync', 'reporting', 'deployment'])} workflow\n\nThis guide walks you through the setup. It takes about ten minutes.\n`];
  let step = 1;
  let size = parts[0]!.length;
  while (size < TARGET_BYTES) {
    let line: string;
    const r = rnd();
    if (r < 0.1) line = `\n\`\`\`\n$ npm install --save acme-${step}\n$ acme init --region eu\n\`\`\`\n`;
    else if (r < 0.2) line = `${step}. Send a POST /v1/jobs request with the JSON payload, then check the response header.\n`;
    else if (r < 0.3) line = `${pick(rnd, SEQ)} ${pick(rnd, VERBS).toLowerCase()} ${pick(rnd, OBJECTS)} ${pick(rnd, TAILS)}.\n`;
    else line = `${step}. ${pick(rnd, VERBS)} ${pick(rnd, OBJECTS)} ${pick(rnd, TAILS)}. ${pick(rnd, VERBS)} ${pick(rnd, OBJECTS)}.\n`;
    parts.push(line);
    size += line.length;
    step++;
  }
  return parts.join('');
}

function narrativeDoc(rnd: () => number): string {
  const parts: string[] = [];
  let size = 0;
  while (size < TARGET_BYTES) {
    const sentences = 3 + Math.floor(rnd() * 3);
    const para: string[] = [];
    for (let s = 0; s < sentences; s++) para.push(`${pick(rnd, SUBJECTS)} ${pick(rnd, PREDICATES)}, ${pick(rnd, DETAILS)}.`);
    const text = para.join(' ') + '\n\n';
    parts.push(text);
    size += text.length;
  }
  return parts.join('');
}

function measure(scorer: Row['scorer'], mode: Row['mode'], threads: number, batchSize: number, docs: number, bytes: number, run: () => Promise<void> | void): Promise<Row> {
  return (async () => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return {
      scorer, mode, threads, batchSize, docs,
      wallMs: round(wallMs), cpuMs: round(cpuMs),
      docsPerSec: round((docs * 1000) / wallMs),
      mbPerSec: round(bytes / 1e6 / (wallMs / 1000)),
      docsPerCpuSec: round((docs * 1000) / cpuMs),
    };
  })();
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Scores every text through the pool, keeping `inFlight` batches outstanding. */
async function drive(pool: RelevancePool, texts: string[], batchSize: number, inFlight: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < texts.length) {
      const start = next;
      next += batchSize;
      await pool.score(texts.slice(start, start + batchSize));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { docs: { type: 'string', default: '4000' }, seed: { type: 'string', default: '7' }, out: { type: 'string' } } });
  const n = Number(values.docs);
  const rnd = prng(Number(values.seed));
  const texts = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? proceduralDoc(rnd) : narrativeDoc(rnd)));
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);

  // Warm up the JIT, and check the scorer separates the two halves.
  const scores = texts.map((t) => scoreText(t).score);
  const kept = (parity: number) => scores.filter((s, i) => i % 2 === parity && s >= 0.35).length / (n / 2);

  const model = loadModel(defaultModelPath());
  for (const t of texts) modelScore(model, t);
  const keptTrained = (parity: number) => texts.filter((t, i) => i % 2 === parity && modelScore(model, t) >= model.threshold).length / (n / 2);

  const rows: Row[] = [];
  rows.push(await measure('hand', 'inline', 0, n, n, bytes, () => { for (const t of texts) scoreText(t); }));
  rows.push(await measure('trained', 'inline', 0, n, n, bytes, () => { for (const t of texts) modelScore(model, t); }));
  for (const scorer of ['hand', 'trained'] as const) {
    for (const threads of [1, 2]) {
      const pool = new RelevancePool({ threads, scorer: scorer === 'hand' ? { kind: 'hand' } : { kind: 'model', path: defaultModelPath() } });
      await pool.start();
      await drive(pool, texts.slice(0, 512), 64, threads * 2); // warm the workers
      for (const batchSize of [16, 64, 256]) {
        rows.push(await measure(scorer, 'pool', threads, batchSize, n, bytes, () => drive(pool, texts, batchSize, threads * 2)));
      }
      await pool.close();
    }
  }

  const report = {
    node: process.version,
    cpus: availableParallelism(),
    docs: n,
    avgDocBytes: Math.round(bytes / n),
    keptAtThreshold035: { procedural: kept(0), narrative: kept(1) },
    keptTrainedAtItsThreshold: { procedural: keptTrained(0), narrative: keptTrained(1) },
    rows,
  };
  console.log(`relevance scorer: ${n} docs, avg ${report.avgDocBytes} B, ${report.cpus} CPUs, node ${report.node}`);
  console.log(`kept at threshold 0.35: hand weights: procedural ${(kept(0) * 100).toFixed(1)}%, narrative ${(kept(1) * 100).toFixed(1)}%; trained: procedural ${(keptTrained(0) * 100).toFixed(1)}%, narrative ${(keptTrained(1) * 100).toFixed(1)}%\n`);
  console.log('| scorer | mode | threads | batch | docs/s | MB/s | CPU ms | docs per CPU-s | us per doc (CPU) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.scorer} | ${r.mode} | ${r.threads} | ${r.mode === 'inline' ? '-' : r.batchSize} | ${r.docsPerSec} | ${r.mbPerSec} | ${r.cpuMs} | ${r.docsPerCpuSec} | ${round((r.cpuMs * 1000) / r.docs)} |`);
  }
  if (values.out) await writeFile(values.out, JSON.stringify(report, null, 2) + '\n');
}

await main();
