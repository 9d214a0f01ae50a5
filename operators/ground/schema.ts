import { z } from 'zod';
import { Trajectory } from '../../src/trajectory.js';

export const GroundOutput = z.object({
  persona: z.string().min(1),
  trajectory: Trajectory,
});
export type GroundOutput = z.infer<typeof GroundOutput>;
