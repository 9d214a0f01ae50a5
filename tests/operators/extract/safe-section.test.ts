import { describe, expect, it } from 'vitest';
import { jsonSection, textSection } from '../../../operators/extract/safe-section.js';
import { readSection } from '../../../src/llm/prompt-sections.js';

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
});
