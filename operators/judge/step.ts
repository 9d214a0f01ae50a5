import { z } from 'zod';
import { account, samplingConfig } from '../../src/steps/sampling.js';
import { type TrajectoryItem, defineStepType, rejected } from '../../src/steps/step.js';
import { judgeFailures, judgeStage } from './index.js';

/**
 * GEM's LLM judge: R1 grounded arguments, R2 honest limits, R3 consistency. A trajectory failing a
 * rule is rejected as `judge_<rule>`; the verdict is written into the row.
 */
export const judgeStep = defineStepType({
  type: 'judge',
  description: 'LLM: judges a trajectory on R1 grounded arguments, R2 honest limits, R3 consistency',
  input: 'trajectory',
  output: 'trajectory',
  config: z.strictObject({ ...samplingConfig({ temperature: 0, maxTokens: 1024 }) }),
  create(c, env) {
    return {
      usesLlm: true,
      async process(item: TrajectoryItem, ctx) {
        if (!item.trajectory) return rejected('no_trajectory', `${env.id} needs a trajectory`);
        const j = await ctx.llm.call(judgeStage, { text: item.text, trajectory: item.trajectory }, item.doc, { temperature: c.temperature, maxTokens: c.maxTokens, seedKey: String(item.index) });
        const failed = judgeFailures(j.output);
        if (failed.length > 0) return rejected(`judge_${failed[0]}`, failed.join(', '));
        return [{ ...item, notes: { ...item.notes, judge: j.output }, provenance: account(item.provenance, env.id, judgeStage.promptVersion, j) }];
      },
    };
  },
});
