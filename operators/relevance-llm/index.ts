import type { LlmStage } from '../../src/llm/types.js';
import { PROMPT_VERSION, renderRelevanceLlmPrompt, type RelevanceLlmInput } from './prompt.js';
import { RelevanceLlmOutput } from './schema.js';

export type { RelevanceLlmInput } from './prompt.js';
export { RelevanceLlmOutput } from './schema.js';

/** GEM stage 1 as an LLM judgement (json_schema name `gemflow_relevance_llm`). */
export const relevanceLlmStage: LlmStage<RelevanceLlmInput, RelevanceLlmOutput> = {
  id: 'relevance_llm',
  promptVersion: PROMPT_VERSION,
  output: RelevanceLlmOutput,
  render: renderRelevanceLlmPrompt,
};
