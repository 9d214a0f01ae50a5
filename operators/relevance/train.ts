/**
 * Training of the relevance classifier (`gemflow relevance train`): featurize in worker threads, fit
 * logistic regressions in worker threads (one per cross-validation fold plus the final one, in
 * parallel), calibrate, and return the model file. No Python, no native code.
 */
import { Piscina } from 'piscina';
import { resolveWorker } from '../../src/workers/resolve-worker.js';
import { figuresAt, rocAuc, thresholdForRecall, type ClassifierFigures } from './metrics.js';
import { serializeModel, type RelevanceModelFile } from './model.js';
import { FEATURE_VERSION } from './hashed-features.js';
import type { FitOptions, FitResult, SparseVector, TrainTask } from './train.worker.js';

export interface LabelledText {
  text: string;
  /** 1 = relevant (holds multi-step work), 0 = not. */
  label: 0 | 1;
  /** Documents of one group (e.g. their source) stay in one cross-validation fold. */
  group?: string;
}

export interface TrainOptions {
  /** log2 of the hash buckets. */
  bits: number;
  epochs: number;
  learningRate: number;
  l2: number;
  seed: number;
  /** Worker threads (at least 1: training never runs on the calling thread). */
  threads: number;
  /** Cross-validation folds used to calibrate (grouped by `group`). */
  folds: number;
  /** The decision threshold the model is calibrated for (the relevance step's default). */
  threshold: number;
  /** The recall the calibration aims at on out-of-fold scores. */
  targetRecall: number;
  /** Free-form description of the data, written into the model. */
  data?: Record<string, unknown>;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  bits: 16,
  epochs: 30,
  learningRate: 0.5,
  l2: 1e-2,
  seed: 1,
  threads: 2,
  folds: 5,
  threshold: 0.35,
  targetRecall: 0.97,
};

export interface TrainResult {
  model: RelevanceModelFile;
  /** Out-of-fold figures (before calibration: at the threshold chosen on them). */
  crossValidation?: ClassifierFigures;
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const logitOf = (p: number) => Math.log(p / (1 - p));
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

export async function trainModel(docs: LabelledText[], options: Partial<TrainOptions> = {}, signal?: AbortSignal): Promise<TrainResult> {
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const labels = docs.map((d) => d.label);
  const positives = labels.filter((y) => y === 1).length;
  if (positives === 0 || positives === docs.length) throw new Error(`training needs both relevant and irrelevant documents (got ${positives} of ${docs.length} relevant)`);
  const pool = new Piscina<TrainTask, SparseVector[] | FitResult>({
    filename: resolveWorker(import.meta.url, './train.worker.js').href,
    minThreads: Math.max(1, o.threads),
    maxThreads: Math.max(1, o.threads),
  });
  try {
    // Featurize in batches across the threads.
    const batch = Math.max(16, Math.ceil(docs.length / (o.threads * 4)));
    const parts: Promise<SparseVector[]>[] = [];
    for (let i = 0; i < docs.length; i += batch) {
      parts.push(pool.run({ kind: 'featurize', texts: docs.slice(i, i + batch).map((d) => d.text), bits: o.bits }, { signal: signal ?? null }) as Promise<SparseVector[]>);
    }
    const vectors = (await Promise.all(parts)).flat();
    const fitOptions: FitOptions = { bits: o.bits, epochs: o.epochs, learningRate: o.learningRate, l2: o.l2, seed: o.seed };

    // Folds by group (sorted by hash, dealt round-robin), so calibration sees unseen groups as held-out data does.
    const groups = [...new Set(docs.map((d, i) => d.group ?? `#${i}`))].sort((a, b) => fnv(a) - fnv(b) || (a < b ? -1 : 1));
    const foldOfGroup = new Map(groups.map((g, i) => [g, i % o.folds]));
    const fold = docs.map((d, i) => foldOfGroup.get(d.group ?? `#${i}`)!);
    const folds = Math.min(o.folds, groups.length);
    const run = (train: number[], test: number[]) =>
      pool.run({ kind: 'fit', train: train.map((i) => vectors[i]!), labels: train.map((i) => labels[i]!), test: test.map((i) => vectors[i]!), options: fitOptions }, { signal: signal ?? null }) as Promise<FitResult>;
    const all = docs.map((_, i) => i);
    const cvJobs: Array<Promise<{ test: number[]; r: FitResult } | undefined>> = [];
    for (let f = 0; folds >= 2 && f < folds; f++) {
      const train = all.filter((i) => fold[i] !== f);
      const test = all.filter((i) => fold[i] === f);
      const trainPos = train.filter((i) => labels[i] === 1).length;
      if (test.length === 0 || trainPos === 0 || trainPos === train.length) continue;
      cvJobs.push(run(train, test).then((r) => ({ test, r })));
    }
    const [final, ...cv] = await Promise.all([run(all, []), ...cvJobs]);

    // Calibration: shift the bias so that `threshold` falls where out-of-fold recall meets the target.
    // Each fold's logits come from its own model, on its own scale, so the cut is found fold by fold
    // and the median taken: one fold whose held-out sources share no language or domain with the rest
    // (all of a language's procedural sources, say) does not set the threshold for every document.
    const oof = new Float64Array(docs.length).fill(Number.NaN);
    for (const c of cv) if (c) c.test.forEach((i, k) => (oof[i] = c.r.testLogits[k]!));
    const seen = all.filter((i) => !Number.isNaN(oof[i]!));
    let bias = final!.bias;
    let crossValidation: ClassifierFigures | undefined;
    const foldFigures: Array<{ documents: number; rocAuc: number; cut: number }> = [];
    for (const c of cv) {
      if (!c || !c.test.some((i) => labels[i] === 1)) continue;
      const y = c.test.map((i) => labels[i]!);
      foldFigures.push({ documents: c.test.length, rocAuc: rocAuc(c.r.testLogits, y), cut: thresholdForRecall(c.r.testLogits, y, o.targetRecall) });
    }
    if (foldFigures.length > 0) {
      const cuts = foldFigures.map((f) => f.cut).sort((a, b) => a - b);
      const mid = cuts.length >> 1;
      const cut = cuts.length % 2 === 1 ? cuts[mid]! : (cuts[mid - 1]! + cuts[mid]!) / 2;
      bias += logitOf(o.threshold) - cut;
      const s = seen.map((i) => oof[i]!);
      const y = seen.map((i) => labels[i]!);
      crossValidation = { ...figuresAt(s, y, cut), threshold: o.threshold };
    }
    const model = serializeModel({
      bits: o.bits,
      bias,
      threshold: o.threshold,
      weights: final!.weights,
      training: {
        featureVersion: FEATURE_VERSION,
        documents: docs.length,
        relevant: positives,
        groups: groups.length,
        options: { epochs: o.epochs, learningRate: o.learningRate, l2: o.l2, seed: o.seed, folds, targetRecall: o.targetRecall },
        crossValidation,
        crossValidationFolds: foldFigures.map((f) => ({ documents: f.documents, rocAuc: round4(f.rocAuc), cut: round4(f.cut) })),
        ...(o.data ? { data: o.data } : {}),
      },
    });
    return { model, crossValidation };
  } finally {
    await pool.close();
  }
}
