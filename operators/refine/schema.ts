import { z } from 'zod';
import { Trajectory } from '../../src/trajectory.js';

export const RefineOutput = z.object({
  policy: z.object({
    rules: z.array(z.string()).min(1),
    dataSchema: z.record(z.string(), z.unknown()),
  }),
  userProfile: z.record(z.string(), z.unknown()),
  pitfalls: z.array(z.string()),
  trajectory: Trajectory,
});
export type RefineOutput = z.infer<typeof RefineOutput>;
