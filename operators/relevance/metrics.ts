/** Figures of a binary classifier from its scores and the true labels (1 = relevant). */

export interface ClassifierFigures {
  n: number;
  positives: number;
  threshold: number;
  precision: number;
  recall: number;
  f1: number;
  accuracy: number;
  rocAuc: number;
}

/** ROC-AUC by ranks (ties get their mean rank): the probability a random positive outscores a random negative. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]!] === 1) {
      pos++;
      rankSum += rank;
    }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Precision, recall, F1 and accuracy of `score >= threshold`, with the ROC-AUC. */
export function figuresAt(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): ClassifierFigures {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < scores.length; i++) {
    const yes = scores[i]! >= threshold;
    if (labels[i] === 1) yes ? tp++ : fn++;
    else yes ? fp++ : tn++;
  }
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  return {
    n: scores.length,
    positives: tp + fn,
    threshold,
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    accuracy: scores.length === 0 ? 1 : (tp + tn) / scores.length,
    rocAuc: rocAuc(scores, labels),
  };
}

/** The highest threshold at which recall is at least `target` (the scores' own values are the candidates). */
export function thresholdForRecall(scores: ArrayLike<number>, labels: ArrayLike<number>, target: number): number {
  const pos: number[] = [];
  for (let i = 0; i < scores.length; i++) if (labels[i] === 1) pos.push(scores[i]!);
  if (pos.length === 0) return 0;
  pos.sort((a, b) => b - a);
  const need = Math.min(pos.length, Math.ceil(target * pos.length - 1e-9));
  return pos[Math.max(0, need - 1)]!;
}
