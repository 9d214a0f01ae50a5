import { z } from 'zod';
import { type TrajectoryItem, defineStepType, rejected } from '../../src/steps/step.js';
import { validateTrajectory } from './validate.js';

/**
 * GEM's rule checks on the CPU: tool names exist, arguments satisfy the tool's JSON Schema, turn
 * grammar, call ids pair with tool replies. A violation rejects the trajectory with its rule.
 */
export const validateStep = defineStepType({
  type: 'validate',
  description: 'CPU: tool names, argument schemas, turn grammar, call/reply pairing; rejects with the rule',
  input: 'trajectory',
  output: 'trajectory',
  config: z.strictObject({}),
  create(_c, env) {
    return {
      process(item: TrajectoryItem) {
        if (!item.trajectory) return rejected('no_trajectory', `${env.id} needs a trajectory`);
        const v = validateTrajectory(item.trajectory);
        return v.length > 0 ? rejected(v[0]!.rule, v[0]!.message) : [item];
      },
    };
  },
});
