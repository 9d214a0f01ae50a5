import type { LlmStage } from '../../src/llm/types.js';
import { PROMPT_VERSION, renderJudgePrompt, type JudgeInput } from './prompt.js';
import { JudgeOutput } from './schema.js';

export type { JudgeInput } from './prompt.js';

/**
 * The judged rules: verdict field -> stable lower_snake_case rule name, used as the `judged_out`
 * rejection rule in counters and output rows.
 */
export const JUDGE_RULES = {
  r1GroundedArguments: 'r1_grounded_arguments',
  r2HonestLimits: 'r2_honest_limits',
  r3Consistency: 'r3_consistency',
} as const satisfies Record<keyof JudgeOutput, string>;

const VERDICT_FIELDS = Object.keys(JUDGE_RULES) as (keyof typeof JUDGE_RULES)[];

/** The names of the rules the judge failed, R1..R3 order (empty when all pass). */
export function judgeFailures(o: JudgeOutput): string[] {
  return VERDICT_FIELDS.filter((field) => !o[field].pass).map((field) => JUDGE_RULES[field]);
}

/** True when all three rules pass. */
export function judgePassed(o: JudgeOutput): boolean {
  return judgeFailures(o).length === 0;
}

/** GEM's validation step as an optional LLM judge: R1 grounded arguments, R2 honest limits, R3 consistency. */
export const judgeStage: LlmStage<JudgeInput, JudgeOutput> = {
  id: 'judge',
  promptVersion: PROMPT_VERSION,
  output: JudgeOutput,
  render: renderJudgePrompt,
  check(output) {
    return VERDICT_FIELDS.filter((field) => output[field].reason.trim() === '').map(
      (field) => `${field}.reason is empty; explain the verdict (for a failure: the message index and the offending value)`,
    );
  },
};
