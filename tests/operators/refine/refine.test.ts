import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { refineStage } from '../../../operators/refine/index.js';
import { PROMPT_VERSION } from '../../../operators/refine/prompt.js';
import type { RefineOutput } from '../../../operators/refine/schema.js';
import { readSection } from '../../../src/llm/prompt-sections.js';
import { copy, returnsTrajectory, returnsWorkflow } from '../ground/fixtures.js';

const input = {
  text: 'Returns are accepted within 30 days of delivery.',
  domain: 'online retail returns',
  rules: ['Items can be returned within 30 days of delivery.'],
  workflow: returnsWorkflow,
  trajectory: returnsTrajectory,
};
const good: RefineOutput = {
  policy: { rules: ['Returns within 30 days of delivery.'], dataSchema: { order: { order_id: 'string', items: 'array' } } },
  userProfile: { name: 'Dana Ortiz', customer_id: 'CUS-2211' },
  pitfalls: ['The user asks to return an item delivered 41 days ago; the assistant must decline it.'],
  trajectory: returnsTrajectory,
};

function checked(output: RefineOutput): string[] {
  return refineStage.check!(refineStage.output.parse(output), input);
}

describe('refine stage', () => {
  it('is versioned', () => {
    expect(PROMPT_VERSION).toMatch(/^refine\.v\d+$/);
    expect(refineStage.promptVersion).toBe(PROMPT_VERSION);
  });

  it('renders all five sections, which read back', () => {
    const [system, user] = refineStage.render(input);
    expect(system!.content).toContain('pitfalls');
    expect(system!.content.split(/\s+/).length).toBeLessThan(1200);
    expect(readSection(user!.content, 'document')).toBe(input.text);
    expect(readSection(user!.content, 'domain')).toBe(input.domain);
    expect(JSON.parse(readSection(user!.content, 'rules')!)).toEqual(input.rules);
    expect(JSON.parse(readSection(user!.content, 'workflow')!)).toEqual(input.workflow);
    expect(JSON.parse(readSection(user!.content, 'trajectory')!)).toEqual(input.trajectory);
  });

  it('has an output schema that converts to JSON Schema', () => {
    expect(() => z.toJSONSchema(refineStage.output)).not.toThrow();
  });

  it('accepts a good refinement', () => {
    expect(checked(good)).toEqual([]);
  });

  it('requires one or two pitfalls', () => {
    expect(checked({ ...good, pitfalls: [] })).toEqual(['pitfalls has 0 entries; add one or two pitfalls and build them into the conversation']);
    expect(checked({ ...good, pitfalls: ['a', 'b', 'c'] })).toEqual([
      'pitfalls has 3 entries; add one or two pitfalls and build them into the conversation',
    ]);
  });

  it('requires a nested argument', () => {
    const out = copy(good);
    const tools = out.trajectory.tools;
    tools[1]!.parameters = { type: 'object', properties: { order_id: { type: 'string' }, sku: { type: 'string' } }, required: ['order_id', 'sku'] };
    out.trajectory.messages[6]!.toolCalls![0]!.arguments = { order_id: 'ORD-1042', sku: 'BT-77' };
    expect(checked(out)).toEqual([
      "trajectory: no tool call passes a nested argument; make at least one argument value an object or a list, and describe it in the tool's parameters",
    ]);
  });

  it('reports arguments that do not satisfy the tool schema', () => {
    const out = copy(good);
    out.trajectory.messages[6]!.toolCalls![0]!.arguments = { order_id: 'ORD-1042', items: 'BT-77', reason: 'too_small' };
    const problems = checked(out);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^trajectory\.messages\[6\] \(assistant\): call call_2 to create_return: .*\[arguments_invalid\]$/);
    expect(problems[1]).toMatch(/no tool call passes a nested argument/);
  });
});
