import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../operators/validate/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every level and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('matches JSON.stringify for undefined and non-finite values', () => {
    const v = { a: undefined, b: [undefined, Number.NaN], c: 'é"\n' };
    expect(canonicalJson(v)).toBe(JSON.stringify(v));
    expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
  });
});
