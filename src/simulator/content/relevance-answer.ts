import { hashUnit } from '../hash.js';
import { findStepBlocks } from './text-analysis.js';

/**
 * The simulator's relevance_llm answer: derived from the step lists the text holds (the same rules the
 * extract answer uses), so it is deterministic, agrees with what extract would find, and is plausible:
 * texts with ordered imperative steps score high, the more steps the higher; texts without score low.
 * A small jitter from the text's hash keeps scores from being all alike.
 */
export function relevanceAnswer(document: string, seed: string): { score: number; reason: string } {
  const blocks = findStepBlocks(document);
  const steps = blocks.reduce((n, b) => n + b.steps.length, 0);
  const jitter = hashUnit(seed, 'relevance', document) * 0.08;
  if (steps === 0) {
    return { score: round(0.04 + jitter), reason: 'The text tells or describes; it holds no ordered steps an assistant could carry out with tools.' };
  }
  const title = blocks.find((b) => b.title)?.title;
  return {
    score: round(Math.min(1, 0.58 + 0.34 * Math.min(1, steps / 6) + jitter)),
    reason: `The text gives ${steps} ordered steps${title ? ` (${title.slice(0, 80)})` : ''} that an assistant could carry out with tools.`,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
