import { z } from 'zod';
import { account, samplingConfig } from '../../src/steps/sampling.js';
import { type TrajectoryItem, defineStepType, rejected } from '../../src/steps/step.js';
import { refineStage } from './index.js';

/** GEM stage 4: complexity refinement (policies, pitfalls, errors, nested arguments) of a grounded trajectory. */
export const refineStep = defineStepType({
  type: 'refine',
  description: 'LLM: complexity refinement of a trajectory (policy, user profile, pitfalls)',
  input: 'trajectory',
  output: 'trajectory',
  config: z.strictObject({ ...samplingConfig({ temperature: 0.7, maxTokens: 4096 }) }),
  create(c, env) {
    return {
      usesLlm: true,
      async process(item: TrajectoryItem, ctx) {
        if (!item.trajectory) return rejected('no_trajectory', `${env.id} needs a trajectory: put a step that writes one (ground) before it`);
        const input = { text: item.text, domain: String(item.notes.domain ?? ''), rules: (item.notes.rules as string[] | undefined) ?? [], workflow: item.workflow, trajectory: item.trajectory };
        const r = await ctx.llm.call(refineStage, input, item.doc, { temperature: c.temperature, maxTokens: c.maxTokens, seedKey: String(item.index) });
        return [
          {
            ...item,
            trajectory: r.output.trajectory,
            notes: { ...item.notes, policy: r.output.policy, userProfile: r.output.userProfile, pitfalls: r.output.pitfalls },
            provenance: account(item.provenance, env.id, refineStage.promptVersion, r),
          },
        ];
      },
    };
  },
});
