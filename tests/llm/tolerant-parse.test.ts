import { describe, expect, it } from 'vitest';
import { tolerantJsonParse } from '../../src/llm/run-stage.js';

/** Answers as real models write them (seen from SmolLM2 on llama-cpp-python, among others). */
describe('tolerantJsonParse', () => {
  it('takes strict JSON as it is', () => {
    expect(tolerantJsonParse('{"a": [1, 2]}')).toEqual({ ok: true, value: { a: [1, 2] } });
  });

  it('escapes raw control characters inside strings (a newline in a string, even from a grammar-constrained server)', () => {
    expect(tolerantJsonParse('{"text": "line one\nline two\tend"}')).toEqual({ ok: true, value: { text: 'line one\nline two\tend' } });
  });

  it('removes a code fence', () => {
    expect(tolerantJsonParse('```json\n{"ok": true}\n```')).toEqual({ ok: true, value: { ok: true } });
    expect(tolerantJsonParse('Here it is:\n```\n{"ok": true}\n```\nDone.')).toEqual({ ok: true, value: { ok: true } });
  });

  it('drops prose before and after the first complete object, strings with braces included', () => {
    expect(tolerantJsonParse('Sure! {"s": "a } in a string", "n": {"m": 1}} Hope this helps {x}')).toEqual({ ok: true, value: { s: 'a } in a string', n: { m: 1 } } });
  });

  it('does not guess the rest of a truncated answer: the repair turn asks again', () => {
    const r = tolerantJsonParse('{"tools": [{"name": "sea');
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.error).toContain('incomplete');
  });

  it('says when there is no JSON at all', () => {
    const r = tolerantJsonParse('I cannot help with that.');
    expect(r.ok === false && r.error).toContain('no JSON object');
  });
});
