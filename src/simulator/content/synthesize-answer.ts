import type { Trajectory, Workflow } from '../../trajectory.js';
import { extractAnswer } from './extract-answer.js';
import { groundAnswer } from './ground-answer.js';
import { refineAnswer } from './refine-answer.js';

/** The shape of operators/synthesize/schema.ts SynthesizeOutput. */
export interface SynthesizeAnswer {
  domain: string;
  items: { workflow: Workflow; trajectory: Trajectory }[];
}

/** The simulated synthesize answer: extract, then ground and refine each workflow, in one answer. */
export function synthesizeAnswer(document: string, maxWorkflows: number, seed: string): SynthesizeAnswer {
  const extracted = extractAnswer(document, maxWorkflows, seed);
  return {
    domain: extracted.domain,
    items: extracted.workflows.map((workflow) => {
      const grounded = groundAnswer({ workflow, domain: extracted.domain, rules: extracted.rules, document, seed });
      return { workflow, trajectory: refineAnswer({ trajectory: grounded.trajectory, rules: extracted.rules, seed }).trajectory };
    }),
  };
}
