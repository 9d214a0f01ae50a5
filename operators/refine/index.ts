import type { LlmStage } from '../../src/llm/types.js';
import type { Trajectory } from '../../src/trajectory.js';
import { trajectoryViolations } from '../ground/trajectory-checks.js';
import { shareChecks } from '../validate/validate.js';
import { PROMPT_VERSION, renderRefinePrompt, type RefineInput } from './prompt.js';
import { RefineOutput } from './schema.js';

export type { RefineInput } from './prompt.js';

/** True when some tool call passes an object or a list as an argument value. */
function hasNestedArgument(t: Trajectory): boolean {
  return t.messages.some((m) =>
    (m.toolCalls ?? []).some((c) => Object.values(c.arguments).some((v) => typeof v === 'object' && v !== null)),
  );
}

/** GEM stage 4: complexity refinement of a grounded trajectory. */
export const refineStage: LlmStage<RefineInput, RefineOutput> = {
  id: 'refine',
  promptVersion: PROMPT_VERSION,
  output: RefineOutput,
  render: renderRefinePrompt,
  check(output, input) {
    // Ground's check parsed the grounded trajectory's replies and compiled its tools; most come back unchanged.
    shareChecks(input.trajectory, output.trajectory);
    const problems = trajectoryViolations(output.trajectory, 'trajectory');
    const n = output.pitfalls.length;
    if (n < 1 || n > 2) problems.push(`pitfalls has ${n} entries; add one or two pitfalls and build them into the conversation`);
    if (!hasNestedArgument(output.trajectory)) {
      problems.push('trajectory: no tool call passes a nested argument; make at least one argument value an object or a list, and describe it in the tool\'s parameters');
    }
    return problems;
  },
};
