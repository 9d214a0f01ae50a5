import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ObjectMemo } from '../../src/object-memo.js';

describe('ObjectMemo', () => {
  it('remembers a value per object, replaces it, and keeps memos apart', () => {
    const a = new ObjectMemo<object, number>('a');
    const b = new ObjectMemo<object, number>('b');
    const o = { x: 1 };
    expect(a.get(o)).toBeUndefined();
    expect(a.has(o)).toBe(false);
    a.set(o, 1);
    b.set(o, 2);
    expect([a.get(o), b.get(o)]).toEqual([1, 2]);
    a.set(o, 3);
    expect(a.get(o)).toBe(3);
    expect(a.get({ x: 1 })).toBeUndefined();
  });

  it('is invisible to JSON, key listings, spread, structuredClone and deep equality', () => {
    const memo = new ObjectMemo<Record<string, unknown>, string>('m');
    const o: Record<string, unknown> = { role: 'tool', content: '{}' };
    const plain = { ...o };
    memo.set(o, 'parsed');
    expect(JSON.stringify(o)).toBe('{"role":"tool","content":"{}"}');
    expect(Object.keys(o)).toEqual(['role', 'content']);
    expect(memo.get({ ...o })).toBeUndefined();
    expect(memo.get(structuredClone(o))).toBeUndefined();
    expect(isDeepStrictEqual(o, plain)).toBe(true);
    expect(o).toEqual(plain);
    expect(o).toStrictEqual(plain);
    const keys: string[] = [];
    for (const k in o) keys.push(k);
    expect(keys).toEqual(['role', 'content']);
  });

  it('does not remember on an object that cannot take a property, and never throws', () => {
    const memo = new ObjectMemo<object, number>('m');
    const frozen = Object.freeze({ x: 1 });
    memo.set(frozen, 1);
    expect(memo.get(frozen)).toBeUndefined();
    const sealedLater = { x: 1 };
    memo.set(sealedLater, 1);
    Object.seal(sealedLater);
    memo.set(sealedLater, 2); // still writable: replaced
    expect(memo.get(sealedLater)).toBe(2);
    Object.freeze(sealedLater);
    memo.set(sealedLater, 3); // no longer writable: kept
    expect(memo.get(sealedLater)).toBe(2);
  });
});
