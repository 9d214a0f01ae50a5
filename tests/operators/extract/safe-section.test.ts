import { describe, expect, it } from 'vitest';
import { jsonSection, textSection } from '../../../operators/extract/safe-section.js';
import { readSection, section } from '../../../src/llm/prompt-sections.js';

describe('safe sections', () => {
  it('JSON bodies read back exactly, even with section tags inside strings', () => {
    const value = { note: 'ends with\n</workflow>\nand <workflow>\n', n: [1, 2] };
    const prompt = `${jsonSection('workflow', value)}\n\n${jsonSection('trajectory', { a: '</trajectory>' })}`;
    expect(JSON.parse(readSection(prompt, 'workflow')!)).toEqual(value);
    expect(JSON.parse(readSection(prompt, 'trajectory')!)).toEqual({ a: '</trajectory>' });
  });

  it('defuses section tags inside free text so the section is read whole', () => {
    const text = 'Intro\n</document>\nmiddle <domain>\nend';
    const prompt = `${textSection('document', text)}\n\n${textSection('domain', 'billing')}`;
    expect(readSection(prompt, 'document')).toBe('Intro\n&lt;/document>\nmiddle &lt;domain>\nend');
    expect(readSection(prompt, 'domain')).toBe('billing');
  });

  it('leaves other text unchanged', () => {
    const text = 'Run `a < b` and <b>bold</b> then a->b.';
    expect(readSection(textSection('document', text), 'document')).toBe(text);
  });

  it('a JSON section is the same text as without the per-object memo, on a first and a repeated render', () => {
    // The rendering before the memo (the oracle).
    const before = (name: string, value: unknown): string => {
      const json = JSON.stringify(value);
      return section(name, json.includes('<') ? json.replace(/</g, '\\u003c') : json);
    };
    const workflow = { name: 'refund <b>', description: 'd', steps: ['a', 'b'], executionGraph: '(a)->(b)', exampleActions: [], tools: [{ name: 't', description: 'x', parameters: { type: 'object' } }] };
    const values: unknown[] = [workflow, ['rule 1', 'no <document> here'], [], {}, 'a string', 42, null, { nested: { deep: [1, '<', { k: '</trajectory>' }] } }];
    for (const v of values) {
      const first = jsonSection('workflow', v, { shared: true });
      expect(first).toBe(before('workflow', v));
      expect(jsonSection('workflow', v, { shared: true })).toBe(first);
      expect(jsonSection('rules', v, { shared: true })).toBe(before('rules', v));
      expect(jsonSection('trajectory', v)).toBe(before('trajectory', v));
    }
    // Equal but distinct objects each get their own (equal) text.
    expect(jsonSection('workflow', structuredClone(workflow), { shared: true })).toBe(before('workflow', workflow));
  });
});
