import { MAX_FEATURES, featureIndices } from './hashed-features.js';

/** A document as training sees it: sorted distinct bucket indices and their values (count / sqrt(features)). */
export interface SparseVector {
  idx: Int32Array;
  val: Float32Array;
}

export interface FitOptions {
  bits: number;
  epochs: number;
  learningRate: number;
  l2: number;
  seed: number;
}

export type TrainTask =
  | { kind: 'featurize'; texts: string[]; bits: number }
  | { kind: 'fit'; train: SparseVector[]; labels: number[]; test: SparseVector[]; options: FitOptions };

export interface FitResult {
  weights: Float32Array;
  bias: number;
  /** Logits of the `test` vectors. */
  testLogits: number[];
}

let buffer: Int32Array | undefined;

export function featurize(text: string, bits: number): SparseVector {
  const buf = (buffer ??= new Int32Array(MAX_FEATURES));
  const n = featureIndices(text, (1 << bits) - 1, buf);
  const counts = new Map<number, number>();
  for (let j = 0; j < n; j++) counts.set(buf[j]!, (counts.get(buf[j]!) ?? 0) + 1);
  const keys = [...counts.keys()].sort((a, b) => a - b);
  const scale = n === 0 ? 0 : 1 / Math.sqrt(n);
  return { idx: Int32Array.from(keys), val: Float32Array.from(keys, (k) => counts.get(k)! * scale) };
}

function logit(w: Float32Array, bias: number, v: SparseVector): number {
  let z = bias;
  for (let j = 0; j < v.idx.length; j++) z += w[v.idx[j]!]! * v.val[j]!;
  return z;
}

/**
 * Logistic regression by AdaGrad SGD with L2 (applied to the weights a document touches), classes
 * weighted to count equally, documents visited in a seeded order: the same data gives the same model.
 */
export function fit(train: SparseVector[], labels: number[], o: FitOptions): { weights: Float32Array; bias: number } {
  const w = new Float32Array(1 << o.bits);
  const g2 = new Float64Array(1 << o.bits);
  let bias = 0;
  let gb2 = 0;
  const pos = labels.filter((y) => y === 1).length;
  const neg = labels.length - pos;
  const cw = [neg === 0 ? 1 : labels.length / (2 * neg), pos === 0 ? 1 : labels.length / (2 * pos)];
  const order = Array.from({ length: train.length }, (_, i) => i);
  let s = o.seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  for (let e = 0; e < o.epochs; e++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const d of order) {
      const v = train[d]!;
      const y = labels[d]!;
      const p = 1 / (1 + Math.exp(-logit(w, bias, v)));
      const g = (p - y) * cw[y]!;
      for (let j = 0; j < v.idx.length; j++) {
        const k = v.idx[j]!;
        const gi = g * v.val[j]! + o.l2 * w[k]!;
        g2[k] += gi * gi;
        w[k] -= (o.learningRate * gi) / Math.sqrt(g2[k]! + 1e-12);
      }
      gb2 += g * g;
      bias -= (o.learningRate * g) / Math.sqrt(gb2 + 1e-12);
    }
  }
  return { weights: w, bias };
}

/** Piscina task: featurize a batch of texts, or fit a model (and score held-out vectors with it). */
export default function trainTask(task: TrainTask): SparseVector[] | FitResult {
  if (task.kind === 'featurize') return task.texts.map((t) => featurize(t, task.bits));
  const { weights, bias } = fit(task.train, task.labels, task.options);
  return { weights, bias, testLogits: task.test.map((v) => logit(weights, bias, v)) };
}
