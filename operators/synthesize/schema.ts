import { z } from 'zod';
import { Trajectory, Workflow } from '../../src/trajectory.js';

/** One call of a distilled synthesizer model: workflows and their refined trajectories together. */
export const SynthesizeOutput = z.object({
  domain: z.string().min(1),
  items: z.array(z.object({ workflow: Workflow, trajectory: Trajectory })),
});
export type SynthesizeOutput = z.infer<typeof SynthesizeOutput>;
