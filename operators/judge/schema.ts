import { z } from 'zod';

const Verdict = z.object({ pass: z.boolean(), reason: z.string() });

export const JudgeOutput = z.object({
  /** R1: every tool-call argument is derivable from the dialogue so far. */
  r1GroundedArguments: Verdict,
  /** R2: the assistant is honest about limitations (no invented capability or result). */
  r2HonestLimits: Verdict,
  /** R3: references (ids, names, values) are consistent across turns and tool replies. */
  r3Consistency: Verdict,
});
export type JudgeOutput = z.infer<typeof JudgeOutput>;
