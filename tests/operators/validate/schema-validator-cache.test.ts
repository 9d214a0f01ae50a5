import { describe, expect, it } from 'vitest';
import { SchemaValidatorCache } from '../../../operators/validate/schema-validator-cache.js';

const schema = (n: number): Record<string, unknown> => ({ type: 'object', properties: { [`p${n}`]: { type: 'integer' } }, required: [`p${n}`] });

describe('SchemaValidatorCache', () => {
  it('compiles a schema once whatever its key order', () => {
    const cache = new SchemaValidatorCache();
    const a = cache.get({ type: 'object', required: ['x'], properties: { x: { minimum: 1, type: 'integer' } } });
    const b = cache.get({ properties: { x: { type: 'integer', minimum: 1 } }, required: ['x'], type: 'object' });
    expect(b).toBe(a);
    expect(cache.size).toBe(1);
    if (!a.ok) throw new Error(a.error);
    expect(a.validate({ x: 2 })).toBe(true);
    expect(a.validate({ x: 0 })).toBe(false);
  });

  it('caches compile failures with their reason', () => {
    const cache = new SchemaValidatorCache();
    const bad = { type: 'object', properties: { x: { type: 'text' } } };
    const first = cache.get(bad);
    expect(first.ok).toBe(false);
    expect(!first.ok && first.error).toContain('schema is invalid');
    expect(cache.get(structuredClone(bad))).toBe(first);
  });

  it('evicts the least recently used schema beyond its bound and recompiles it on demand', () => {
    const cache = new SchemaValidatorCache(2);
    const s1 = cache.get(schema(1));
    cache.get(schema(2));
    expect(cache.get(schema(1))).toBe(s1); // 1 is now the most recent
    cache.get(schema(3)); // evicts 2
    expect(cache.size).toBe(2);
    expect(cache.get(schema(1))).toBe(s1);
    const s2 = cache.get(schema(2));
    expect(s2.ok && s2.validate({ p2: 5 })).toBe(true);
    expect(s2.ok && s2.validate({ p2: 'five' })).toBe(false);
  });

  it('retires an ajv instance after maxEntries compiles, dropping its entries one generation later', () => {
    const cache = new SchemaValidatorCache(2);
    const hot = cache.get(schema(0)); // generation 0: schemas 0, 1; generation 1: schemas 2, 3
    for (let n = 1; n <= 3; n++) {
      cache.get(schema(n));
      expect(cache.get(schema(0))).toBe(hot); // kept hot, so never the LRU victim
    }
    // schema(4) starts generation 2: generation-0 entries go, hot or not, releasing the first ajv.
    cache.get(schema(4));
    const again = cache.get(schema(0));
    expect(again).not.toBe(hot);
    expect(again.ok && again.validate({ p0: 1 })).toBe(true);
  });

  it('keeps compiling after many evictions of schemas carrying the same $id', () => {
    const cache = new SchemaValidatorCache(4);
    for (let n = 0; n < 50; n++) {
      const compiled = cache.get({ $id: 'https://example.com/tool', ...schema(n) });
      expect(compiled.ok && compiled.validate({ [`p${n}`]: n })).toBe(true);
    }
    expect(cache.size).toBe(4);
  });
});
