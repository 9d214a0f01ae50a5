import { z } from 'zod';
import { Trajectory, isObj, parseRecord, parseStrings, parseTrajectory, withFastParse } from '../../src/trajectory.js';

/** Same as RefineOutput.parse for what it accepts, undefined otherwise (see withFastParse). */
export const parseRefineOutput = (v: unknown): RefineOutputShape | undefined => {
  if (!isObj(v) || !isObj(v.policy)) return undefined;
  const rules = parseStrings(v.policy.rules, 1);
  const dataSchema = rules && parseRecord(v.policy.dataSchema);
  const userProfile = dataSchema && parseRecord(v.userProfile);
  const pitfalls = userProfile && parseStrings(v.pitfalls);
  const trajectory = pitfalls && parseTrajectory(v.trajectory);
  return trajectory && { policy: { rules: rules!, dataSchema: dataSchema! }, userProfile: userProfile!, pitfalls: pitfalls!, trajectory };
};

const RefineOutputSchema = z.object({
  policy: z.object({
    rules: z.array(z.string()).min(1),
    dataSchema: z.record(z.string(), z.unknown()),
  }),
  userProfile: z.record(z.string(), z.unknown()),
  pitfalls: z.array(z.string()),
  trajectory: Trajectory,
});
type RefineOutputShape = z.infer<typeof RefineOutputSchema>;

export const RefineOutput = withFastParse(RefineOutputSchema, parseRefineOutput);
export type RefineOutput = z.infer<typeof RefineOutput>;
