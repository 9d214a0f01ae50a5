import type { Trajectory, Workflow } from '../../src/trajectory.js';
import { validateTrajectory } from '../validate/validate.js';

/**
 * Semantic checks shared by the stages that write trajectories (ground, refine, synthesize). Each
 * returns repair messages addressed to the model: where the problem is and what is wrong. `path` is
 * where the trajectory sits in the stage output, e.g. "trajectory" or "items[1].trajectory".
 */

/**
 * validateTrajectory's violations, located by message index and role. `t` is part of a stage output
 * its check receives, already parsed by a zod schema that embeds Trajectory, so the shape is not
 * parsed again.
 */
export function trajectoryViolations(t: Trajectory, path: string): string[] {
  return validateTrajectory(t, undefined, { parsed: true }).map((v) => {
    const at = v.messageIndex === undefined ? path : `${path}.messages[${v.messageIndex}] (${t.messages[v.messageIndex]?.role ?? 'missing'})`;
    return `${at}: ${v.message} [${v.rule}]`;
  });
}

/** The workflow's tools (by name) that the trajectory does not define. */
export function missingWorkflowTools(t: Trajectory, w: Workflow, path: string): string[] {
  const defined = new Set(t.tools.map((tool) => tool.name));
  return w.tools
    .filter((tool) => !defined.has(tool.name))
    .map((tool) => `${path}.tools lacks the workflow's tool "${tool.name}"; include its definition and use it`);
}

/** At least `min` distinct interaction patterns must be listed. */
export function tooFewPatterns(t: Trajectory, path: string, min: number): string[] {
  const distinct = [...new Set(t.patterns)];
  if (distinct.length >= min) return [];
  const listed = distinct.length === 0 ? 'none' : distinct.join(', ');
  return [`${path}.patterns lists ${distinct.length} distinct pattern(s) (${listed}); the conversation must show and list at least ${min}`];
}
