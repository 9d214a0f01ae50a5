import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { judgeFailures, judgePassed, judgeStage } from '../../../operators/judge/index.js';
import { PROMPT_VERSION } from '../../../operators/judge/prompt.js';
import type { JudgeOutput } from '../../../operators/judge/schema.js';
import { readSection } from '../../../src/llm/prompt-sections.js';
import { returnsTrajectory } from '../ground/fixtures.js';

const pass = { pass: true, reason: 'Checked every call.' };
const allPass: JudgeOutput = { r1GroundedArguments: pass, r2HonestLimits: pass, r3Consistency: pass };
const input = { text: 'Returns are accepted within 30 days.', trajectory: returnsTrajectory };

describe('judge stage', () => {
  it('is versioned', () => {
    expect(PROMPT_VERSION).toMatch(/^judge\.v\d+$/);
    expect(judgeStage.promptVersion).toBe(PROMPT_VERSION);
  });

  it('renders the document and trajectory sections, which read back', () => {
    const [system, user] = judgeStage.render(input);
    expect(system!.content).toContain('r1GroundedArguments');
    expect(readSection(user!.content, 'document')).toBe(input.text);
    expect(JSON.parse(readSection(user!.content, 'trajectory')!)).toEqual(returnsTrajectory);
  });

  it('has an output schema that converts to JSON Schema', () => {
    expect(() => z.toJSONSchema(judgeStage.output)).not.toThrow();
  });

  it('passes only when all three rules pass, and names the failed ones', () => {
    expect(judgePassed(allPass)).toBe(true);
    expect(judgeFailures(allPass)).toEqual([]);
    const failed: JudgeOutput = {
      ...allPass,
      r1GroundedArguments: { pass: false, reason: 'message 2 passes ORD-9, never mentioned' },
      r3Consistency: { pass: false, reason: 'message 7 changes the amount' },
    };
    expect(judgePassed(failed)).toBe(false);
    expect(judgeFailures(failed)).toEqual(['r1_grounded_arguments', 'r3_consistency']);
  });

  it('asks for a reason behind every verdict', () => {
    expect(judgeStage.check!(allPass, input)).toEqual([]);
    expect(judgeStage.check!({ ...allPass, r2HonestLimits: { pass: false, reason: ' ' } }, input)).toEqual([
      'r2HonestLimits.reason is empty; explain the verdict (for a failure: the message index and the offending value)',
    ]);
  });
});
