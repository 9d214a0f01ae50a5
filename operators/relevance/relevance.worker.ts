import { defaultModelPath, loadModel, modelScore, type RelevanceModel } from './model.js';
import { scoreText, type RelevanceResult } from './score.js';

/** What a worker scores with: the hand weights, or a trained model file (loaded once per thread). */
export type ScorerSpec = { kind: 'hand' } | { kind: 'model'; path: string };

export interface ScoreTask {
  texts: string[];
  scorer: ScorerSpec;
}

export interface ScoreResult {
  score: number;
}

const models = new Map<string, RelevanceModel>();

function modelAt(path: string): RelevanceModel {
  let m = models.get(path);
  if (!m) models.set(path, (m = loadModel(path)));
  return m;
}

/** Where the scorer named in the step's config (`model`: a path, `default` or `hand`) lives. */
export function scorerSpec(model: string | undefined): ScorerSpec {
  if (model === 'hand') return { kind: 'hand' };
  return { kind: 'model', path: model === undefined || model === 'default' ? defaultModelPath() : model };
}

/** Loads the scorer's model now (a bad file fails here, with its reason). */
export function prepareScorer(spec: ScorerSpec): void {
  if (spec.kind === 'model') modelAt(spec.path);
}

/**
 * Piscina task: score one batch of texts, results in the same order. A plain array of texts is scored
 * with the hand weights (with their features), as before trained models existed.
 */
export default function scoreBatch(task: string[] | ScoreTask): RelevanceResult[] | ScoreResult[] {
  if (Array.isArray(task)) return task.map(scoreText);
  if (task.scorer.kind === 'hand') return task.texts.map((t) => ({ score: scoreText(t).score }));
  const m = modelAt(task.scorer.path);
  return task.texts.map((t) => ({ score: modelScore(m, t) }));
}
