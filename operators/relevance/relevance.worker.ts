import { scoreText, type RelevanceResult } from './score.js';

/** Piscina task: score one batch of texts, results in the same order. */
export default function scoreBatch(texts: string[]): RelevanceResult[] {
  return texts.map(scoreText);
}
