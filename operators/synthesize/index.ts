import type { LlmStage } from '../../src/llm/types.js';
import { checkWorkflow } from '../extract/check-workflow.js';
import { missingWorkflowTools, trajectoryViolations } from '../ground/trajectory-checks.js';
import { PROMPT_VERSION, renderSynthesizePrompt, type SynthesizeInput } from './prompt.js';
import { SynthesizeOutput } from './schema.js';

export type { SynthesizeInput } from './prompt.js';

/** GEM's distilled Trajectory Synthesizer: extract + ground + refine in one call. */
export const synthesizeStage: LlmStage<SynthesizeInput, SynthesizeOutput> = {
  id: 'synthesize',
  promptVersion: PROMPT_VERSION,
  output: SynthesizeOutput,
  render: renderSynthesizePrompt,
  check(output, input) {
    const problems: string[] = [];
    if (output.items.length > input.maxWorkflows) {
      problems.push(`items has ${output.items.length} entries; at most ${input.maxWorkflows} are allowed`);
    }
    output.items.forEach(({ workflow, trajectory }, i) => {
      problems.push(
        ...checkWorkflow(workflow, `items[${i}].workflow`),
        ...trajectoryViolations(trajectory, `items[${i}].trajectory`),
        ...missingWorkflowTools(trajectory, workflow, `items[${i}].trajectory`),
      );
    });
    return problems;
  },
};
