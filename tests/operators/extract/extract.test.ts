import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { extractStage } from '../../../operators/extract/index.js';
import { PROMPT_VERSION } from '../../../operators/extract/prompt.js';
import type { ExtractOutput } from '../../../operators/extract/schema.js';
import { readSection, schemaName } from '../../../src/llm/prompt-sections.js';
import { copy, returnsWorkflow } from '../ground/fixtures.js';

const input = { text: 'To return an item, open the order, check the window, then confirm.', maxWorkflows: 2 };
const good: ExtractOutput = { domain: 'online retail returns', rules: ['Returns within 30 days.'], workflows: [returnsWorkflow] };

function checked(output: ExtractOutput, maxWorkflows = input.maxWorkflows): string[] {
  return extractStage.check!(extractStage.output.parse(output), { ...input, maxWorkflows });
}

describe('extract stage', () => {
  it('is versioned and named for the simulator', () => {
    expect(PROMPT_VERSION).toMatch(/^extract\.v\d+$/);
    expect(extractStage.promptVersion).toBe(PROMPT_VERSION);
    expect(schemaName(extractStage.id)).toBe('gemflow_extract');
  });

  it('renders instructions in the system message and the document section at the end of the user message', () => {
    const [system, user] = extractStage.render(input);
    expect(system!.role).toBe('system');
    expect(system!.content).toContain('"workflows": []');
    expect(system!.content.split(/\s+/).length).toBeLessThan(1200);
    expect(user!.role).toBe('user');
    expect(user!.content).toContain('at most 2 workflows');
    expect(readSection(user!.content, 'document')).toBe(input.text);
    expect(user!.content.endsWith('</document>')).toBe(true);
  });

  it('has an output schema that converts to JSON Schema', () => {
    const schema = z.toJSONSchema(extractStage.output) as { type?: string; required?: string[] };
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(expect.arrayContaining(['domain', 'rules', 'workflows']));
  });

  it('accepts a good output and an empty one', () => {
    expect(checked(good)).toEqual([]);
    expect(checked({ domain: 'poetry', rules: [], workflows: [] })).toEqual([]);
  });

  it('rejects more workflows than allowed', () => {
    expect(checked({ ...good, workflows: [returnsWorkflow, returnsWorkflow] }, 1)).toEqual([
      'workflows has 2 entries; at most 1 are allowed',
    ]);
  });

  it('rejects duplicate and non-snake_case tool names', () => {
    const out = copy(good);
    out.workflows[0]!.tools[1]!.name = 'get_order';
    out.workflows[0]!.tools.push({ ...out.workflows[0]!.tools[0]!, name: 'GetStatus' });
    expect(checked(out)).toEqual([
      'workflows[0].tools[1]: tool name "get_order" is used twice in this workflow',
      'workflows[0].tools[2].name "GetStatus" is not snake_case (e.g. get_order)',
    ]);
  });

  it('rejects parameters that are not an object schema, and required names that are not properties', () => {
    const out = copy(good);
    out.workflows[0]!.tools[0]!.parameters = { type: 'string' };
    out.workflows[0]!.tools[1]!.parameters = { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id', 'token'] };
    expect(checked(out)).toEqual([
      'workflows[0].tools[0].parameters must be an object schema: {"type":"object","properties":{...}}',
      'workflows[0].tools[1].parameters.required lists "token", which is not a property',
    ]);
  });

  it('rejects an execution graph that does not parse', () => {
    const out = copy(good);
    out.workflows[0]!.executionGraph = 'a -> b -> c';
    expect(checked(out)).toEqual([
      'workflows[0].executionGraph: execution graph "a -> b -> c": expected "(" at position 0; write it like (a)->(b,c)->(d)',
    ]);
  });

  it('rejects an execution graph naming labels that are not steps', () => {
    const out = copy(good);
    out.workflows[0]!.executionGraph = '(a)->(b,e)->(step1)';
    expect(checked(out)).toEqual([
      'workflows[0].executionGraph names step "e", but the steps are labelled a..d',
      'workflows[0].executionGraph names step "step1", but the steps are labelled a..d',
    ]);
  });
});
