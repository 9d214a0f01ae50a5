import { z } from 'zod';
import { Trajectory, isObj, isStr, parseTrajectory, withFastParse } from '../../src/trajectory.js';

/** Same as GroundOutput.parse for what it accepts, undefined otherwise (see withFastParse). */
export const parseGroundOutput = (v: unknown): GroundOutputShape | undefined => {
  if (!isObj(v) || !isStr(v.persona, 1)) return undefined;
  const trajectory = parseTrajectory(v.trajectory);
  return trajectory && { persona: v.persona, trajectory };
};

const GroundOutputSchema = z.object({
  persona: z.string().min(1),
  trajectory: Trajectory,
});
type GroundOutputShape = z.infer<typeof GroundOutputSchema>;

export const GroundOutput = withFastParse(GroundOutputSchema, parseGroundOutput);
export type GroundOutput = z.infer<typeof GroundOutput>;
