import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { groundStage } from '../../../operators/ground/index.js';
import { PROMPT_VERSION } from '../../../operators/ground/prompt.js';
import type { GroundOutput } from '../../../operators/ground/schema.js';
import { readSection } from '../../../src/llm/prompt-sections.js';
import { copy, returnsTrajectory, returnsWorkflow } from './fixtures.js';

const input = {
  text: 'Returns are accepted within 30 days of delivery.',
  domain: 'online retail returns',
  rules: ['Items can be returned within 30 days of delivery.', 'Confirm before creating a return.'],
  workflow: returnsWorkflow,
};
const good: GroundOutput = { persona: 'A busy parent who writes short messages.', trajectory: returnsTrajectory };

function checked(output: GroundOutput): string[] {
  return groundStage.check!(groundStage.output.parse(output), input);
}

describe('ground stage', () => {
  it('is versioned', () => {
    expect(PROMPT_VERSION).toMatch(/^ground\.v\d+$/);
    expect(groundStage.promptVersion).toBe(PROMPT_VERSION);
  });

  it('renders the document, domain, rules and workflow sections, which read back', () => {
    const [system, user] = groundStage.render(input);
    expect(system!.role).toBe('system');
    expect(system!.content).toContain('"toolCallId": "call_1"');
    expect(system!.content.split(/\s+/).length).toBeLessThan(1200);
    expect(readSection(user!.content, 'document')).toBe(input.text);
    expect(readSection(user!.content, 'domain')).toBe(input.domain);
    expect(JSON.parse(readSection(user!.content, 'rules')!)).toEqual(input.rules);
    expect(JSON.parse(readSection(user!.content, 'workflow')!)).toEqual(input.workflow);
  });

  it('numbers its requirements without gaps', () => {
    const numbers = [...groundStage.render(input)[0]!.content.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    expect(numbers.length).toBeGreaterThan(8);
  });

  it('has an output schema that converts to JSON Schema', () => {
    expect(() => z.toJSONSchema(groundStage.output)).not.toThrow();
  });

  it('accepts a good trajectory', () => {
    expect(checked(good)).toEqual([]);
  });

  it('reports a call to an unknown tool at its message', () => {
    const out = copy(good);
    out.trajectory.messages[2]!.toolCalls![0]!.name = 'find_order';
    out.trajectory.messages[3]!.name = 'find_order';
    expect(checked(out)).toEqual(['trajectory.messages[2] (assistant): call call_1 names undefined tool "find_order" [unknown_tool]']);
  });

  it('reports a user turn right after a tool reply', () => {
    const out = copy(good);
    out.trajectory.messages.splice(4, 1);
    expect(checked(out)).toEqual(['trajectory.messages[4] (user): a user message follows a tool reply [user_after_tool]']);
  });

  it('reports workflow tools the trajectory does not define', () => {
    const out = copy(good);
    out.trajectory.tools = out.trajectory.tools.filter((t) => t.name !== 'create_return');
    out.trajectory.messages = out.trajectory.messages.slice(0, 5);
    expect(checked(out)).toEqual(['trajectory.tools lacks the workflow\'s tool "create_return"; include its definition and use it']);
  });

  it('reports fewer than three distinct patterns', () => {
    const out = copy(good);
    out.trajectory.patterns = ['clarification', 'clarification', 'error_recovery'];
    expect(checked(out)).toEqual([
      'trajectory.patterns lists 2 distinct pattern(s) (clarification, error_recovery); the conversation must show and list at least 3',
    ]);
  });
});
