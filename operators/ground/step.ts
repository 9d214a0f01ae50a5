import { z } from 'zod';
import { account, samplingConfig } from '../../src/steps/sampling.js';
import { type TrajectoryItem, defineStepType } from '../../src/steps/step.js';
import { groundStage } from './index.js';

/** GEM stage 3: one grounded multi-turn trajectory (system, user, assistant tool calls, tool replies) per workflow. */
export const groundStep = defineStepType({
  type: 'ground',
  description: 'LLM: a grounded multi-turn tool-use trajectory for a workflow',
  input: 'trajectory',
  output: 'trajectory',
  config: z.strictObject({ ...samplingConfig({ temperature: 0.7, maxTokens: 4096 }) }),
  create(c, env) {
    return {
      usesLlm: true,
      async process(item: TrajectoryItem, ctx) {
        const input = { text: item.text, domain: String(item.notes.domain ?? ''), rules: (item.notes.rules as string[] | undefined) ?? [], workflow: item.workflow };
        const g = await ctx.llm.call(groundStage, input, item.doc, { temperature: c.temperature, maxTokens: c.maxTokens, seedKey: String(item.index) });
        return [{ ...item, trajectory: g.output.trajectory, notes: { ...item.notes, persona: g.output.persona }, provenance: account(item.provenance, env.id, groundStage.promptVersion, g) }];
      },
    };
  },
});
