/**
 * Relevance scorer throughput: `npm run build && node dist/bench/relevance.js [--docs 4000] [--seed 7]
 * [--llm-docs 800] [--out bench-relevance.json]`.
 *
 * Generates deterministic ~5 KB documents (half procedural how-to, half narrative/news-like), then
 * measures docs/s and MB/s (UTF-8) of (a) scoreText inline on this thread and (b) RelevancePool with 1
 * and 2 threads at batch sizes 16/64/256, keeping 2 batches per thread in flight as the pipeline does.
 * The machine may be shared, so it also reports CPU time (process.cpuUsage covers every thread of the
 * process, workers included) and docs per CPU-second. Each scorer is warmed up with three passes over
 * the documents; each row is the median of five timed passes (by CPU). Prints a markdown table; writes JSON to --out.
 *
 * With the LLM relevance step on (`llm`, skipped with --llm-docs 0): the first --llm-docs documents of
 * the evaluation set (data/relevance, in sha256-of-id order: real text, about half procedural) go
 * through `gemflow run` twice against the bundled simulator, GEM's steps with the relevance-llm step,
 * once behind the CPU prefilter (`relevance`, the shipped model) and once without it. From each run's
 * manifest: LLM relevance calls and tokens per corpus document, and every stage's tokens. GPU time is
 * the simulator's capacity model applied to those measured tokens: a replica prefills
 * prefillTokensPerSec and decodes min(decodeTokensPerSec, maxRunningSeqs x maxDecodeTokensPerSecPerSeq)
 * tokens per second at once, so a run's work costs max(prompt / prefill rate, completion / decode
 * rate) GPU-seconds at full batch. GPU-seconds saved by the prefilter = without - with; the
 * trajectories the prefilter cost are counted too.
 */
import { MANIFEST_PATH } from '../src/sinks/shard-index.js';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { DEFAULT_SIMULATOR_OPTIONS } from '../src/simulator/options.js';
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

/** Passes timed per configuration; its row is the median pass by CPU (a pass is ~50-150 ms, too short for one to be a figure). */
const PASSES = 5;

async function measure(scorer: Row['scorer'], mode: Row['mode'], threads: number, batchSize: number, docs: number, bytes: number, run: () => Promise<void> | void): Promise<Row> {
  const passes: Array<{ wallMs: number; cpuMs: number }> = [];
  for (let p = 0; p < PASSES; p++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    passes.push({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000 });
  }
  const { wallMs, cpuMs } = passes.sort((a, b) => a.cpuMs - b.cpuMs)[PASSES >> 1]!;
  return {
    scorer, mode, threads, batchSize, docs,
    wallMs: round(wallMs), cpuMs: round(cpuMs),
    docsPerSec: round((docs * 1000) / wallMs),
    mbPerSec: round(bytes / 1e6 / (wallMs / 1000)),
    docsPerCpuSec: round((docs * 1000) / cpuMs),
  };
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

/** One `gemflow run` of the LLM-relevance benchmark, from its manifest. */
export interface LlmRelevanceRun {
  /** With the CPU prefilter (`relevance` step) in front of the relevance-llm step, or without. */
  prefilter: boolean;
  documentsWritten: number;
  trajectoriesWritten: number;
  /** Dropped by the CPU prefilter (`irrelevant`) and by the LLM (`irrelevant_llm`). */
  droppedByPrefilter: number;
  droppedByLlm: number;
  relevanceLlm: { calls: number; promptTokens: number; completionTokens: number; callsPerDoc: number; tokensPerDoc: number };
  /** Every LLM stage's measured tokens, with its GPU-seconds by the capacity model. */
  stages: Record<string, { calls: number; promptTokens: number; completionTokens: number; gpuSec: number }>;
  gpuSec: number;
}

export interface LlmRelevanceFigures {
  docs: number;
  /** Of those, labelled procedural by the evaluation set's rule. */
  procedural: number;
  capacity: { prefillTokensPerSec: number; outputTokensPerSec: number };
  withPrefilter: LlmRelevanceRun;
  withoutPrefilter: LlmRelevanceRun;
  /** GPU-seconds without the prefilter - with it. */
  gpuSecSaved: number;
  gpuSecSavedPerDroppedDoc: number;
  /** Trajectories written without the prefilter but not with it (what the prefilter's misses cost). */
  trajectoriesLost: number;
  /**
   * Of the documents the prefilter drops, those the evaluation set labels procedural (the shipped
   * model, scored here on this thread as the step scores them): the trajectories lost on the others
   * are the simulator's verdicts on text that is not procedural (its rule passes changelog bullets).
   */
  droppedByPrefilterProcedural: number;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** GPU-seconds of some tokens by the simulator's capacity model (prefill and decode run at once). */
function gpuSeconds(promptTokens: number, completionTokens: number): number {
  const o = DEFAULT_SIMULATOR_OPTIONS;
  const decode = Math.min(o.decodeTokensPerSec, o.maxRunningSeqs * o.maxDecodeTokensPerSecPerSeq);
  return Math.max(promptTokens / o.prefillTokensPerSec, completionTokens / decode);
}

async function llmRun(dir: string, corpus: string, docs: number, prefilter: boolean): Promise<LlmRelevanceRun> {
  const out = join(dir, prefilter ? 'with' : 'without');
  const cfg = join(dir, `${prefilter ? 'with' : 'without'}.yaml`);
  const steps = [
    ...(prefilter ? [{ id: 'relevance', type: 'relevance' }] : []),
    { id: 'relevance_llm', type: 'relevance-llm' },
    { id: 'dedupe', type: 'dedupe-documents' },
    { id: 'extract', type: 'extract' },
    { id: 'ground', type: 'ground' },
    { id: 'refine', type: 'refine' },
    { id: 'validate', type: 'validate' },
    { id: 'dedupe_trajectories', type: 'dedupe-trajectories' },
    { id: 'stats', type: 'stats' },
  ];
  await writeFile(cfg, stringify({ source: { type: 'files', paths: [corpus] }, steps, llm: { simulate: true }, sink: { dir: out } }));
  await run(process.execPath, [join(ROOT, 'bin/gemflow.js'), 'run', cfg, '--quiet'], { maxBuffer: 64 << 20 });
  const m = JSON.parse(await readFile(join(out, MANIFEST_PATH), 'utf8')) as {
    funnel: { documents: { written: number; dropped: Record<string, number> }; trajectories: { written: number } };
    tokens: Record<string, { calls?: number; promptTokens: number; completionTokens: number }>;
  };
  const stages: LlmRelevanceRun['stages'] = {};
  let prompt = 0;
  let completion = 0;
  for (const [id, t] of Object.entries(m.tokens)) {
    stages[id] = { calls: t.calls ?? 0, promptTokens: t.promptTokens, completionTokens: t.completionTokens, gpuSec: round3(gpuSeconds(t.promptTokens, t.completionTokens)) };
    prompt += t.promptTokens;
    completion += t.completionTokens;
  }
  const rel = stages.relevance_llm ?? { calls: 0, promptTokens: 0, completionTokens: 0, gpuSec: 0 };
  return {
    prefilter,
    documentsWritten: m.funnel.documents.written,
    trajectoriesWritten: m.funnel.trajectories.written,
    droppedByPrefilter: m.funnel.documents.dropped.irrelevant ?? 0,
    droppedByLlm: m.funnel.documents.dropped.irrelevant_llm ?? 0,
    relevanceLlm: { calls: rel.calls, promptTokens: rel.promptTokens, completionTokens: rel.completionTokens, callsPerDoc: round3(rel.calls / docs), tokensPerDoc: round((rel.promptTokens + rel.completionTokens) / docs) },
    stages,
    gpuSec: round3(gpuSeconds(prompt, completion)),
  };
}

/** The LLM-relevance runs (see the file comment). */
async function llmRelevance(docs: number): Promise<LlmRelevanceFigures> {
  const rows = gunzipSync(await readFile(join(ROOT, 'data/relevance/eval-set.jsonl.gz')))
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: string; text: string; label: number })
    .map((r) => ({ r, k: createHash('sha256').update(r.id).digest('hex') }))
    .sort((a, b) => (a.k < b.k ? -1 : 1))
    .slice(0, docs)
    .map((x) => x.r);
  const model = loadModel(defaultModelPath());
  const dir = await mkdtemp(join(tmpdir(), 'gemflow-bench-relevance-'));
  try {
    const corpus = join(dir, 'corpus.jsonl');
    await writeFile(corpus, rows.map((r) => JSON.stringify({ id: r.id, text: r.text })).join('\n') + '\n');
    const withPrefilter = await llmRun(dir, corpus, rows.length, true);
    const withoutPrefilter = await llmRun(dir, corpus, rows.length, false);
    const saved = withoutPrefilter.gpuSec - withPrefilter.gpuSec;
    const o = DEFAULT_SIMULATOR_OPTIONS;
    return {
      docs: rows.length,
      procedural: rows.filter((r) => r.label === 1).length,
      capacity: { prefillTokensPerSec: o.prefillTokensPerSec, outputTokensPerSec: Math.min(o.decodeTokensPerSec, o.maxRunningSeqs * o.maxDecodeTokensPerSecPerSeq) },
      withPrefilter,
      withoutPrefilter,
      gpuSecSaved: round3(saved),
      gpuSecSavedPerDroppedDoc: round3(withPrefilter.droppedByPrefilter === 0 ? 0 : saved / withPrefilter.droppedByPrefilter),
      trajectoriesLost: withoutPrefilter.trajectoriesWritten - withPrefilter.trajectoriesWritten,
      droppedByPrefilterProcedural: rows.filter((r) => r.label === 1 && modelScore(model, r.text) < model.threshold).length,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { docs: { type: 'string', default: '4000' }, seed: { type: 'string', default: '7' }, 'llm-docs': { type: 'string', default: '800' }, out: { type: 'string' } } });
  const n = Number(values.docs);
  const rnd = prng(Number(values.seed));
  const texts = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? proceduralDoc(rnd) : narrativeDoc(rnd)));
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);

  // Check the scorers separate the two halves, and warm up the JIT (three passes each: the optimising
  // compiler takes over after the first).
  const scores = texts.map((t) => scoreText(t).score);
  const kept = (parity: number) => scores.filter((s, i) => i % 2 === parity && s >= 0.35).length / (n / 2);
  const model = loadModel(defaultModelPath());
  for (let p = 0; p < 3; p++) for (const t of texts) { scoreText(t); modelScore(model, t); }
  const keptTrained = (parity: number) => texts.filter((t, i) => i % 2 === parity && modelScore(model, t) >= model.threshold).length / (n / 2);

  const rows: Row[] = [];
  rows.push(await measure('hand', 'inline', 0, n, n, bytes, () => { for (const t of texts) scoreText(t); }));
  rows.push(await measure('trained', 'inline', 0, n, n, bytes, () => { for (const t of texts) modelScore(model, t); }));
  for (const scorer of ['hand', 'trained'] as const) {
    for (const threads of [1, 2]) {
      const pool = new RelevancePool({ threads, scorer: scorer === 'hand' ? { kind: 'hand' } : { kind: 'model', path: defaultModelPath() } });
      await pool.start();
      for (let p = 0; p < 3; p++) await drive(pool, texts, 64, threads * 2); // warm the workers' JIT
      for (const batchSize of [16, 64, 256]) {
        rows.push(await measure(scorer, 'pool', threads, batchSize, n, bytes, () => drive(pool, texts, batchSize, threads * 2)));
      }
      await pool.close();
    }
  }

  const llmDocs = Number(values['llm-docs']);
  const llm = llmDocs > 0 ? await llmRelevance(llmDocs) : undefined;

  const report = {
    node: process.version,
    cpus: availableParallelism(),
    docs: n,
    avgDocBytes: Math.round(bytes / n),
    keptAtThreshold035: { procedural: kept(0), narrative: kept(1) },
    keptTrainedAtItsThreshold: { procedural: keptTrained(0), narrative: keptTrained(1) },
    rows,
    /** Present unless --llm-docs 0. */
    llm,
  };
  console.log(`relevance scorer: ${n} docs, avg ${report.avgDocBytes} B, ${report.cpus} CPUs, node ${report.node}`);
  console.log(`kept at threshold 0.35: hand weights: procedural ${(kept(0) * 100).toFixed(1)}%, narrative ${(kept(1) * 100).toFixed(1)}%; trained: procedural ${(keptTrained(0) * 100).toFixed(1)}%, narrative ${(keptTrained(1) * 100).toFixed(1)}%\n`);
  console.log('| scorer | mode | threads | batch | docs/s | MB/s | CPU ms | docs per CPU-s | us per doc (CPU) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.scorer} | ${r.mode} | ${r.threads} | ${r.mode === 'inline' ? '-' : r.batchSize} | ${r.docsPerSec} | ${r.mbPerSec} | ${r.cpuMs} | ${r.docsPerCpuSec} | ${round((r.cpuMs * 1000) / r.docs)} |`);
  }
  if (llm) {
    const w = llm.withPrefilter;
    const wo = llm.withoutPrefilter;
    console.log(`\nLLM relevance step on: ${llm.docs} documents of the evaluation set (${llm.procedural} procedural), bundled simulator; GPU time = capacity model (${llm.capacity.prefillTokensPerSec} prefill / ${llm.capacity.outputTokensPerSec} output tokens per GPU-second) x measured tokens\n`);
    console.log('| run | dropped by CPU prefilter | LLM relevance calls per doc | LLM relevance tokens per doc | dropped by LLM | trajectories | GPU-seconds (all LLM stages) |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of [w, wo]) console.log(`| ${r.prefilter ? 'with CPU prefilter' : 'without'} | ${r.droppedByPrefilter} | ${r.relevanceLlm.callsPerDoc} | ${r.relevanceLlm.tokensPerDoc} | ${r.droppedByLlm} | ${r.trajectoriesWritten} | ${r.gpuSec} |`);
    console.log(`\nGPU-seconds saved by the CPU prefilter: ${llm.gpuSecSaved} (${llm.gpuSecSavedPerDroppedDoc} per document it drops); trajectories it cost: ${llm.trajectoriesLost} (of the ${w.droppedByPrefilter} documents it drops, ${llm.droppedByPrefilterProcedural} are procedural by the evaluation set's labels)`);
  }
  if (values.out) await writeFile(values.out, JSON.stringify(report, null, 2) + '\n');
}

await main();
