/** The relevance stage: what the runtime wires in (config: RelevanceConfig in src/config/schema.ts). */
export { RelevancePool, type RelevancePoolOptions } from './relevance-pool.js';
export {
  DEFAULT_WEIGHTS,
  MAX_CHARS_EXAMINED,
  extractFeatures,
  scoreFeatures,
  scoreText,
  type RelevanceFeatures,
  type RelevanceResult,
  type RelevanceWeights,
} from './score.js';
