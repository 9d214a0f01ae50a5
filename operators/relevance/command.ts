/**
 * `gemflow relevance train|eval`: fit the trained relevance classifier from labelled JSONL and measure
 * a model (or the hand weights) on labelled JSONL.
 *
 * Labelled JSONL (`.jsonl` or `.jsonl.gz`), one document a line:
 *   {"text": "...", "label": 1}                       label 1/0 or true/false; or
 *   {"text": "...", "relevant": true}                 as the relevance-llm step writes; or
 *   {"text": "...", "score": 0.8}                     relevant when score >= 0.5
 * Rows without `text` are joined by `textHash` (sha256 of the text, hex) to the documents of `--texts`
 * (a corpus JSONL with a `text` field): that is how the relevance-llm step's labels
 * (`<stateDir>/relevance-labels.jsonl`, no text in them) are trained on. Optional fields: `split`
 * (selected with --split), `source` (cross-validation folds keep a source together).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { GemflowError } from '../../src/errors.js';
import { figuresAt, thresholdForRecall } from './metrics.js';
import { defaultModelPath, loadModel, modelScore } from './model.js';
import { scoreText } from './score.js';
import { DEFAULT_TRAIN_OPTIONS, trainModel, type LabelledText } from './train.js';

const HELP = `gemflow relevance — the trained relevance classifier

  gemflow relevance train --labels L.jsonl[.gz] --out model.json [--texts corpus.jsonl] [--split train]
        [--bits 16] [--epochs 30] [--l2 0.01] [--threads 2] [--threshold 0.35] [--target-recall 0.97]
  gemflow relevance eval --labels L.jsonl[.gz] [--model model.json|default|hand] [--texts corpus.jsonl]
        [--split heldout] [--threshold T] [--recall 0.95] [--json]
`;

export function textHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  const raw = await readFile(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  return text
    .split('\n')
    .map((l, i) => [l.trim(), i + 1] as const)
    .filter(([l]) => l !== '')
    .map(([l, line]) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch (e) {
        throw new GemflowError('invalid_option', `${path}:${line}: not JSON: ${(e as Error).message}`);
      }
    });
}

function labelOf(r: Record<string, unknown>): 0 | 1 | undefined {
  const v = r.label ?? r.relevant;
  if (v === 1 || v === true) return 1;
  if (v === 0 || v === false) return 0;
  if (typeof r.score === 'number') return r.score >= 0.5 ? 1 : 0;
  return undefined;
}

export async function readLabelled(path: string, opts: { texts?: string; split?: string }): Promise<(LabelledText & { id?: string })[]> {
  const rows = await readJsonl(path);
  let byHash: Map<string, string> | undefined;
  if (opts.texts) {
    byHash = new Map();
    for (const r of await readJsonl(opts.texts)) if (typeof r.text === 'string') byHash.set(textHash(r.text), r.text);
  }
  // The last verdict on a text wins (labels files are appended to; a replay may repeat a document).
  const out = new Map<string, LabelledText & { id?: string }>();
  let skipped = 0;
  for (const [i, r] of rows.entries()) {
    if (opts.split !== undefined && r.split !== opts.split) continue;
    const label = labelOf(r);
    const text = typeof r.text === 'string' ? r.text : typeof r.textHash === 'string' ? byHash?.get(r.textHash) : undefined;
    if (label === undefined || text === undefined) {
      skipped++;
      continue;
    }
    const group = typeof r.source === 'string' ? r.source : undefined;
    out.set(textHash(text), { text, label, group, id: typeof r.id === 'string' ? r.id : `line-${i + 1}` });
  }
  if (out.size === 0) {
    throw new GemflowError('invalid_option', `${path}: no usable labelled documents${opts.split ? ` in split "${opts.split}"` : ''}${skipped ? ` (${skipped} rows lacked a label or a text${opts.texts ? '' : '; rows with only textHash need --texts'})` : ''}`);
  }
  return [...out.values()];
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new GemflowError('invalid_option', `--${name} must be a number, got "${v}"`);
  return n;
}

/** A scorer by name: a model file, `default` (the shipped model) or `hand` (the hand weights). */
export function scorerOf(spec: string): { score: (text: string) => number; threshold: number; name: string } {
  if (spec === 'hand') return { score: (t) => scoreText(t).score, threshold: 0.35, name: 'hand weights' };
  const model = loadModel(spec === 'default' ? defaultModelPath() : spec);
  return { score: (t) => modelScore(model, t), threshold: model.threshold, name: spec };
}

const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(4));

export async function runRelevanceCli(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const common = { labels: { type: 'string' }, texts: { type: 'string' }, split: { type: 'string' } } as const;
  if (sub === 'train') {
    const { values: v } = parseArgs({
      args: rest,
      options: { ...common, out: { type: 'string' }, bits: { type: 'string' }, epochs: { type: 'string' }, l2: { type: 'string' }, threads: { type: 'string' }, threshold: { type: 'string' }, 'target-recall': { type: 'string' }, seed: { type: 'string' } },
    });
    if (!v.labels || !v.out) return usage('relevance train needs --labels and --out');
    const docs = await readLabelled(v.labels, { texts: v.texts, split: v.split });
    const o = Object.fromEntries(
      Object.entries({ bits: num(v.bits, 'bits'), epochs: num(v.epochs, 'epochs'), l2: num(v.l2, 'l2'), threads: num(v.threads, 'threads'), threshold: num(v.threshold, 'threshold'), targetRecall: num(v['target-recall'], 'target-recall'), seed: num(v.seed, 'seed') }).filter(([, x]) => x !== undefined),
    );
    const started = performance.now();
    const { model, crossValidation } = await trainModel(docs, { ...o, data: { labels: v.labels, split: v.split ?? null, sha256: textHash((await readFile(v.labels)).toString('latin1')) } });
    await writeFile(v.out, JSON.stringify(model) + '\n');
    const pos = docs.filter((d) => d.label === 1).length;
    process.stdout.write(`trained on ${docs.length} documents (${pos} relevant) in ${((performance.now() - started) / 1000).toFixed(1)} s; wrote ${v.out} (feature version ${model.featureVersion}, 2^${model.bits} buckets, threshold ${model.threshold})\n`);
    const folds = (model.training?.crossValidationFolds ?? []) as Array<{ rocAuc: number }>;
    if (crossValidation && folds.length > 0) {
      process.stdout.write(
        `cross-validated by source (${folds.length} folds, out-of-fold ROC-AUC ${folds.map((f) => pct(f.rocAuc)).join(', ')}): threshold ${model.threshold} set at the median fold's cut for recall ${o.targetRecall ?? DEFAULT_TRAIN_OPTIONS.targetRecall}; ` +
          `all folds at that cut: recall ${pct(crossValidation.recall)}, precision ${pct(crossValidation.precision)}\n`,
      );
    }
    return 0;
  }
  if (sub === 'eval') {
    const { values: v } = parseArgs({ args: rest, options: { ...common, model: { type: 'string', default: 'default' }, threshold: { type: 'string' }, recall: { type: 'string', default: '0.95' }, json: { type: 'boolean', default: false } } });
    if (!v.labels) return usage('relevance eval needs --labels');
    const docs = await readLabelled(v.labels, { texts: v.texts, split: v.split });
    const scorer = scorerOf(v.model!);
    const threshold = num(v.threshold, 'threshold') ?? scorer.threshold;
    const target = num(v.recall, 'recall')!;
    const scores = docs.map((d) => scorer.score(d.text));
    const labels = docs.map((d) => d.label);
    const f = figuresAt(scores, labels, threshold);
    const forRecall = thresholdForRecall(scores, labels, target);
    const report = { model: scorer.name, labels: v.labels, split: v.split ?? null, ...f, targetRecall: target, thresholdForTargetRecall: forRecall, atThresholdForTargetRecall: figuresAt(scores, labels, forRecall) };
    if (v.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else {
      process.stdout.write(
        `${scorer.name} on ${f.n} documents (${f.positives} relevant)${v.split ? `, split ${v.split}` : ''}\n` +
          `  ROC-AUC    ${pct(f.rocAuc)}\n  threshold  ${threshold}\n  precision  ${pct(f.precision)}\n  recall     ${pct(f.recall)}\n  F1         ${pct(f.f1)}\n  accuracy   ${pct(f.accuracy)}\n` +
          `  threshold for recall >= ${target}: ${forRecall.toPrecision(4)} (precision ${pct(report.atThresholdForTargetRecall.precision)}, F1 ${pct(report.atThresholdForTargetRecall.f1)})\n`,
      );
    }
    return 0;
  }
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(HELP);
    return 0;
  }
  return usage(`unknown relevance command: ${sub}`);
}

function usage(message: string): number {
  process.stderr.write(`gemflow relevance: ${message}\n\n${HELP}`);
  return 1;
}
