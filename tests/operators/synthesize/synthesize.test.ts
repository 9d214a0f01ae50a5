import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { synthesizeStage } from '../../../operators/synthesize/index.js';
import { PROMPT_VERSION } from '../../../operators/synthesize/prompt.js';
import type { SynthesizeOutput } from '../../../operators/synthesize/schema.js';
import { readSection } from '../../../src/llm/prompt-sections.js';
import { copy, returnsTrajectory, returnsWorkflow } from '../ground/fixtures.js';

const input = { text: 'To return boots, open the order and request a return within 30 days.', maxWorkflows: 2 };
const good: SynthesizeOutput = { domain: 'online retail returns', items: [{ workflow: returnsWorkflow, trajectory: returnsTrajectory }] };

function checked(output: SynthesizeOutput, maxWorkflows = input.maxWorkflows): string[] {
  return synthesizeStage.check!(synthesizeStage.output.parse(output), { ...input, maxWorkflows });
}

describe('synthesize stage', () => {
  it('is versioned', () => {
    expect(PROMPT_VERSION).toMatch(/^synthesize\.v\d+$/);
    expect(synthesizeStage.promptVersion).toBe(PROMPT_VERSION);
  });

  it('renders the document section, which reads back, and the limit', () => {
    const [system, user] = synthesizeStage.render(input);
    expect(system!.content.split(/\s+/).length).toBeLessThan(1200);
    expect(user!.content).toContain('at most 2 workflows');
    expect(readSection(user!.content, 'document')).toBe(input.text);
  });

  it('numbers its requirements without gaps across both lists', () => {
    const numbers = [...synthesizeStage.render(input)[0]!.content.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  });

  it('has an output schema that converts to JSON Schema', () => {
    expect(() => z.toJSONSchema(synthesizeStage.output)).not.toThrow();
  });

  it('accepts a good output', () => {
    expect(checked(good)).toEqual([]);
  });

  it('rejects more items than allowed', () => {
    expect(checked({ ...good, items: [good.items[0]!, good.items[0]!] }, 1)).toEqual(['items has 2 entries; at most 1 are allowed']);
  });

  it('locates trajectory violations and missing workflow tools by item', () => {
    const second = copy(good.items[0]!);
    second.workflow.tools.push({ name: 'get_refund', description: 'Refund status.', parameters: { type: 'object', properties: {} } });
    second.trajectory.messages.push({ role: 'user', content: 'Thanks!' });
    expect(checked({ ...good, items: [good.items[0]!, second] })).toEqual([
      'items[1].trajectory.messages[9] (user): the dialogue ends with a user message, not an assistant answer [last_not_assistant]',
      'items[1].trajectory.tools lacks the workflow\'s tool "get_refund"; include its definition and use it',
    ]);
  });

  it('checks the workflow like extract does', () => {
    const out = copy(good);
    out.items[0]!.workflow.executionGraph = '(a)->(z)';
    expect(checked(out)).toEqual(['items[0].workflow.executionGraph names step "z", but the steps are labelled a..d']);
  });
});
