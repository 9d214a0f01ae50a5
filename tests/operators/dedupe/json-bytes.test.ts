import { describe, expect, it } from 'vitest';
import { JsonBytes } from '../../../operators/dedupe/json-bytes.js';
import { canonicalJson } from '../../../operators/validate/canonical-json.js';
import { mulberry32 } from '../../mulberry32.js';

/** Deterministic randomness for the generated values. */
const rng = mulberry32;

/** Code units of every class the writer treats differently: controls, quote, backslash, DEL, 2- and 3-byte UTF-8, pairs and lone surrogates, U+2028. */
const UNITS = [
  0x00, 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, 0x20, 0x22, 0x2f, 0x41, 0x5c, 0x61, 0x7e, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x2028, 0x3000,
  0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfeff, 0xffff,
];

function randomString(r: () => number, max = 80): string {
  const n = Math.floor(r() * max);
  let s = '';
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.5) s += 'abcdefghij klmnopqrstuvwxyz'[Math.floor(r() * 27)];
    else if (x < 0.6) s += '😀'; // a surrogate pair
    else s += String.fromCharCode(UNITS[Math.floor(r() * UNITS.length)]!);
  }
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const x = r();
  if (depth <= 0 || x < 0.35) {
    const scalars = [() => randomString(r), () => Math.floor(r() * 2000) - 1000, () => r() * 1e6, () => r() < 0.5, () => null, () => undefined,
      () => Number.NaN, () => Infinity, () => -0, () => 1e21, () => 1e-7, () => () => 1, () => Symbol('s'), () => 10n];
    return scalars[Math.floor(r() * scalars.length)]!();
  }
  if (x < 0.6) {
    const arr = Array.from({ length: Math.floor(r() * 6) }, () => randomValue(r, depth - 1));
    if (r() < 0.1) arr.length += 2; // holes
    return arr;
  }
  const keys = ['type', 'properties', 'required', 'b', 'a', 'é', 'E', '', ' ', '10', '2', '-1', '01', '__proto__', 'toJSON', 'k"q', '😀', 'a\u0000'];
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 8); i > 0; i--) {
    const k = r() < 0.7 ? keys[Math.floor(r() * keys.length)]! : randomString(r, 8);
    Object.defineProperty(o, k, { value: randomValue(r, depth - 1), enumerable: true, writable: true, configurable: true });
  }
  return o;
}

describe('JsonBytes', () => {
  const bytesOf = (v: unknown) => Buffer.from(new JsonBytes().value(v).bytes());

  it('writes the UTF-8 of canonicalJson, byte for byte, for generated values of every awkward kind', () => {
    const r = rng(11);
    for (let i = 0; i < 3000; i++) {
      const v = randomValue(r, 4);
      expect(bytesOf(v).equals(Buffer.from(canonicalJson(v), 'utf8')), `value ${i}: ${canonicalJson(v)}`).toBe(true);
    }
  });

  it('escapes as JSON.stringify does: short escapes, lower-case \\u00xx, lone surrogates, long strings', () => {
    const r = rng(5);
    const strings = ['', '"', '\\', '\u0000\u001f\u007f', '\b\t\n\f\r', '\ud800', 'x\udc00', '\ud83d\ude00', '\u2028\u2029', 'é'.repeat(3000), 'plain ascii '.repeat(500)];
    for (let i = 0; i < 2000; i++) strings.push(randomString(r, 300));
    const w = new JsonBytes();
    for (const s of strings) {
      expect(Buffer.from(w.reset().string(s).bytes()).toString('utf8')).toBe(JSON.stringify(s));
    }
    // All at once: the buffer grows and keeps what it holds.
    w.reset();
    for (const s of strings) w.string(s).ascii(',');
    expect(Buffer.from(w.bytes()).toString('utf8')).toBe(strings.map((s) => JSON.stringify(s) + ',').join(''));
  });

  it('writes ASCII text normalised (trim, lower case, white-space runs) as JSON.stringify of the normalised string, and declines other text', () => {
    const r = rng(23);
    const pieces = ['Word', 'UPPER', 'mixed Case', ' ', '  ', '\t', '\n', '\r\n', '\v', '\f', '"', '\\', '\u0001', '\u001f', '\u007f', 'x', '{"a": 1}'];
    const other = ['é', '\u00a0', '\u2028', '\ufeff', '\u3000', 'İ', 'Σ', '😀', '\u0085'];
    const w = new JsonBytes();
    for (let i = 0; i < 5000; i++) {
      let s = '';
      for (let k = Math.floor(r() * 12); k > 0; k--) s += pieces[Math.floor(r() * pieces.length)];
      const ascii = r() < 0.8;
      if (!ascii) {
        const at = Math.floor(r() * (s.length + 1));
        s = s.slice(0, at) + other[Math.floor(r() * other.length)] + s.slice(at);
      }
      w.reset().ascii('[');
      const wrote = w.normalizedAscii(s);
      expect(wrote).toBe(ascii);
      if (!wrote) w.string(s.trim().toLowerCase().replace(/\s+/g, ' '));
      expect(Buffer.from(w.ascii(']').bytes()).toString('utf8')).toBe(`[${JSON.stringify(s.trim().toLowerCase().replace(/\s+/g, ' '))}]`);
    }
  });
});
