import { z } from 'zod';
import { Workflow } from '../../src/trajectory.js';

export const ExtractOutput = z.object({
  /** The text's domain, e.g. "cloud storage administration". */
  domain: z.string().min(1),
  /** Domain rules the text states or implies (used for the system prompt). */
  rules: z.array(z.string()),
  workflows: z.array(Workflow),
});
export type ExtractOutput = z.infer<typeof ExtractOutput>;
