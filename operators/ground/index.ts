import type { LlmStage } from '../../src/llm/types.js';
import { PROMPT_VERSION, renderGroundPrompt, type GroundInput } from './prompt.js';
import { GroundOutput } from './schema.js';
import { missingWorkflowTools, tooFewPatterns, trajectoryViolations } from './trajectory-checks.js';

export type { GroundInput } from './prompt.js';

/** Distinct interaction patterns a grounded trajectory must show. */
export const MIN_PATTERNS = 3;

/** GEM stage 3: one multi-turn tool-use trajectory for one extracted workflow. */
export const groundStage: LlmStage<GroundInput, GroundOutput> = {
  id: 'ground',
  promptVersion: PROMPT_VERSION,
  output: GroundOutput,
  render: renderGroundPrompt,
  check(output, input) {
    const t = output.trajectory;
    return [
      ...trajectoryViolations(t, 'trajectory'),
      ...missingWorkflowTools(t, input.workflow, 'trajectory'),
      ...tooFewPatterns(t, 'trajectory', MIN_PATTERNS),
    ];
  },
};
