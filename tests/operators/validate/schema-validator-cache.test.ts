import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../operators/validate/canonical-json.js';
import { SchemaValidatorCache, sameJson } from '../../../operators/validate/schema-validator-cache.js';
import { shareChecks, validateTrajectory } from '../../../operators/validate/validate.js';
import type { Trajectory } from '../../../src/trajectory.js';
import { mulberry32 } from '../../mulberry32.js';

type Schema = Record<string, unknown>;

const schema = (n: number): Schema => ({ type: 'object', properties: { [`p${n}`]: { type: 'integer' } }, required: [`p${n}`] });
/** Like schema(n), but with a keyword outside the subset, so ajv compiles it. */
const ajvSchema = (n: number): Schema => ({ type: 'object', properties: { [`p${n}`]: { type: 'integer', multipleOf: 1 } }, required: [`p${n}`] });

/** What the arguments validator says about `value`, as validate.ts prints it. */
function errorsOf(compiled: ReturnType<SchemaValidatorCache['get']>, value: unknown): string[] {
  if (!compiled.ok) throw new Error(compiled.error);
  compiled.validate(value);
  return (compiled.validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message}`);
}

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
    const hot = cache.get(ajvSchema(0)); // generation 0: schemas 0, 1; generation 1: schemas 2, 3
    expect(hot.ok && hot.engine).toBe('ajv');
    for (let n = 1; n <= 3; n++) {
      cache.get(ajvSchema(n));
      expect(cache.get(ajvSchema(0))).toBe(hot); // kept hot, so never the LRU victim
    }
    // ajvSchema(4) starts generation 2: generation-0 entries go, hot or not, releasing the first ajv.
    cache.get(ajvSchema(4));
    const again = cache.get(ajvSchema(0));
    expect(again).not.toBe(hot);
    expect(again.ok && again.validate({ p0: 1 })).toBe(true);
  });

  it('keeps subset entries across ajv generations (they hold no ajv instance)', () => {
    const cache = new SchemaValidatorCache(3);
    const hot = cache.get(schema(0));
    for (let n = 1; n <= 6; n++) {
      cache.get(ajvSchema(n));
      expect(cache.get(schema(0))).toBe(hot);
    }
  });

  it('keeps compiling after many evictions of schemas carrying the same $id', () => {
    const cache = new SchemaValidatorCache(4);
    for (let n = 0; n < 50; n++) {
      const compiled = cache.get({ $id: 'https://example.com/tool', ...ajvSchema(n) });
      expect(compiled.ok && compiled.engine).toBe('ajv');
      expect(compiled.ok && compiled.validate({ [`p${n}`]: n })).toBe(true);
    }
    expect(cache.size).toBe(4);
  });
});

describe('SchemaValidatorCache engine choice', () => {
  const engineOf = (s: Schema, cache = new SchemaValidatorCache()): string => {
    const compiled = cache.get(s);
    return compiled.ok ? compiled.engine : `invalid: ${compiled.error}`;
  };

  it('interprets schemas within the subset, annotations and unknown keywords included', () => {
    expect(engineOf(schema(1))).toBe('subset');
    expect(
      engineOf({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        $id: 'urn:tool',
        type: 'object',
        title: 'args',
        description: 'the arguments',
        properties: {
          when: { type: ['string', 'null'], pattern: '^\\d{4}-\\d{2}-\\d{2}$', example: '2025-01-31', default: null },
          tags: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, maxItems: 5, examples: [['a']] },
          mode: { enum: ['fast', 'safe'], $comment: 'two modes' },
        },
        required: ['when'],
        additionalProperties: false,
      }),
    ).toBe('subset');
  });

  it.each([
    ['format', { type: 'object', properties: { e: { type: 'string', format: 'email' } } }],
    ['$ref', { type: 'object', properties: { a: { $ref: '#/definitions/a' } }, definitions: { a: { type: 'string' } } }],
    ['anyOf', { type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'integer' }] } } }],
    ['oneOf', { type: 'object', properties: { a: { oneOf: [{ minimum: 1 }, { maximum: 0 }] } } }],
    ['allOf', { type: 'object', allOf: [{ required: ['a'] }] }],
    ['not', { type: 'object', properties: { a: { not: { type: 'null' } } } }],
    ['if/then', { type: 'object', if: { required: ['a'] }, then: { required: ['b'] } }],
    ['patternProperties', { type: 'object', patternProperties: { '^x-': { type: 'string' } } }],
    ['dependencies', { type: 'object', dependencies: { a: ['b'] } }],
    ['nullable', { type: 'object', properties: { a: { type: 'string', nullable: true } } }],
    ['multipleOf', { type: 'object', properties: { a: { type: 'number', multipleOf: 0.5 } } }],
    ['tuple items', { type: 'object', properties: { a: { type: 'array', items: [{ type: 'string' }] } } }],
  ])('hands a schema using %s to ajv', (_keyword, s) => {
    expect(engineOf(s)).toBe('ajv');
  });

  it('applies the ajv-only keywords it hands over', () => {
    const compiled = new SchemaValidatorCache().get({ type: 'object', properties: { e: { type: 'string', format: 'email' } } });
    expect(errorsOf(compiled, { e: 'maya@example.com' })).toEqual([]);
    expect(errorsOf(compiled, { e: 'maya at example' })).toEqual(['/e must match format "email"']);
  });

  it.each([
    ['an unknown type name', { type: 'object', properties: { a: { type: 'strng' } } }],
    ['required not an array', { type: 'object', required: 'a' }],
    ['required with a repeat', { type: 'object', required: ['a', 'a'] }],
    ['a type named after an Object method', { type: 'object', properties: { a: { type: 'constructor' } } }],
    ['a type listed twice', { type: 'object', properties: { a: { type: ['string', 'string'] } } }],
    ['an empty enum', { type: 'object', properties: { a: { enum: [] } } }],
    ['a pattern that does not compile', { type: 'object', properties: { a: { type: 'string', pattern: '([a-z]' } } }],
    ['a negative minLength', { type: 'object', properties: { a: { type: 'string', minLength: -1 } } }],
    ['a draft-04 boolean exclusiveMinimum', { type: 'object', properties: { a: { minimum: 0, exclusiveMinimum: true } } }],
    ['a description that is not a string', { type: 'object', description: { text: 'x' } }],
    ['a property schema that is a string', { type: 'object', properties: { a: 'string' } }],
  ])('still rejects a schema with %s (ajv explains it)', (_what, s) => {
    expect(engineOf(s)).toMatch(/^invalid: (schema is invalid|Invalid regular expression)/);
  });

  it('uses ajv only when the subset is turned off', () => {
    expect(engineOf(schema(1), new SchemaValidatorCache(8, { subset: false }))).toBe('ajv');
  });
});

describe('subset checker error messages', () => {
  it('name the path and what was expected, like ajv', () => {
    const compiled = new SchemaValidatorCache().get({
      type: 'object',
      properties: {
        order_id: { type: 'string', pattern: '^ORD-\\d+$' },
        items: {
          type: 'array',
          minItems: 1,
          items: { type: 'object', properties: { qty: { type: 'integer', minimum: 1 } }, required: ['sku'], additionalProperties: false },
        },
        mode: { enum: ['fast', 'safe'] },
        note: { type: ['string', 'null'], maxLength: 3 },
      },
      required: ['order_id', 'items'],
    });
    expect(errorsOf(compiled, { order_id: 'ORD-1', items: [{ sku: 'A' }] })).toEqual(['/items/0 must NOT have additional properties: "sku"']);
    expect(errorsOf(compiled, { order_id: 'X-1', items: [{ qty: 0.5, color: 'red' }], mode: 'slow', note: 7 })).toEqual([
      '/order_id must match pattern "^ORD-\\d+$"',
      "/items/0 must have required property 'sku'",
      '/items/0/qty must be integer',
      '/items/0/qty must be >= 1',
      '/items/0 must NOT have additional properties: "color"',
      '/mode must be equal to one of the allowed values: "fast", "safe"',
      '/note must be string,null',
    ]);
    expect(errorsOf(compiled, { items: [], note: 'long' })).toEqual([
      "(root) must have required property 'order_id'",
      '/items must NOT have fewer than 1 items',
      '/note must NOT have more than 3 characters',
    ]);
  });
});

/** A random JSON value (objects, arrays, strings, numbers, booleans, null), `depth` levels at most. */
function randomJson(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth === 0 || r < 0.35) {
    const leaves: unknown[] = ['', 'a', 'b', 0, -0, 1, 2.5, true, false, null];
    return leaves[Math.floor(rand() * leaves.length)];
  }
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 3) }, () => randomJson(rand, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 4); i > 0; i--) o[['a', 'b', 'c', 'type', '1'][Math.floor(rand() * 5)]!] = randomJson(rand, depth - 1);
  return o;
}

/** `v` with every object's keys in reverse order. */
const reordered = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(reordered) : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reordered(x)])) : v;

describe('sameJson', () => {
  it('is true for the same data in any key order and false for any other difference', () => {
    expect(sameJson({ a: [1, { b: 'x' }], c: null }, { c: null, a: [1, { b: 'x' }] })).toBe(true);
    for (const [a, b] of [
      [{ a: 1 }, { a: 1, b: 2 }],
      [{ a: 1, b: 2 }, { a: 1 }],
      [{ a: 1 }, { b: 1 }],
      [[1, 2], [2, 1]],
      [[1], [1, 1]],
      [{ a: [] }, { a: {} }],
      [{ a: '1' }, { a: 1 }],
      [{ a: null }, { a: {} }],
      [Number.NaN, Number.NaN],
      [{ a: undefined }, {}],
    ] as const) {
      expect(sameJson(a, b)).toBe(false);
    }
  });

  it('implies equal canonical JSON, and holds for a copy with its keys reordered (random values)', () => {
    const rand = mulberry32(7);
    let same = 0;
    for (let i = 0; i < 3000; i++) {
      const a = randomJson(rand, 4);
      const b = i % 3 === 0 ? reordered(structuredClone(a)) : randomJson(rand, 4);
      const s = sameJson(a, b);
      if (s) same++;
      if (s) expect(canonicalJson(b)).toBe(canonicalJson(a));
      if (i % 3 === 0) expect(s).toBe(true);
      else expect(s).toBe(canonicalJson(a) === canonicalJson(b));
    }
    expect(same).toBeGreaterThan(1000);
  });
});

describe('shareChecks', () => {
  it('leaves every verdict as it is without sharing, also when the restatement changes a tool or a reply', () => {
    const ground: Trajectory = {
      tools: [
        { name: 'find', description: 'finds', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } },
        { name: 'pay', description: 'pays', parameters: { type: 'object', properties: { amount: { type: 'number' } } } },
        { name: 'note', description: 'notes', parameters: { type: 'object', properties: { text: { type: 'string' } } } },
      ],
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'find A and pay 5' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'find', arguments: { q: 'A' } }] },
        { role: 'tool', content: '{"id":"A"}', toolCallId: 'c1', name: 'find' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c2', name: 'pay', arguments: { amount: 5 } }] },
        { role: 'tool', content: '{"ok":', toolCallId: 'c2', name: 'pay' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c3', name: 'note', arguments: { text: 'paid' } }] },
        { role: 'tool', content: '{"saved":true}', toolCallId: 'c3', name: 'note' },
        { role: 'assistant', content: 'Done.' },
      ],
      patterns: [],
    };
    expect(validateTrajectory(ground).map((v) => v.rule)).toEqual(['tool_reply_not_json']);
    // The restatement keeps `find` (keys reordered), makes pay's amount an integer and calls it with
    // 5.5, requires a `tag` of note (not passed), and mends the cut reply.
    const restate = (): Trajectory => {
      const t = structuredClone(ground);
      t.tools[0]!.parameters = reordered(t.tools[0]!.parameters) as Schema;
      t.tools[1]!.parameters = { type: 'object', properties: { amount: { type: 'integer' } } };
      t.tools[2]!.parameters = { ...t.tools[2]!.parameters, required: ['tag'] };
      t.messages[4]!.toolCalls![0]!.arguments = { amount: 5.5 };
      t.messages[5]!.content = '{"ok":true}';
      return t;
    };
    const shared = restate();
    shareChecks(ground, shared);
    const alone = validateTrajectory(restate(), new SchemaValidatorCache(), { parsed: true });
    expect(validateTrajectory(shared)).toEqual(alone);
    expect(alone.map((v) => v.rule)).toEqual(['arguments_invalid', 'arguments_invalid']);
    expect(alone.map((v) => v.messageIndex)).toEqual([4, 6]);
  });

  it('takes nothing from a trajectory never checked, and is harmless for one checked already', () => {
    const t = (): Trajectory => ({
      tools: [{ name: 'find', description: 'finds', parameters: { type: 'object', properties: { q: { type: 'integer' } } } }],
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'find 1' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'find', arguments: { q: 'one' } }] },
        { role: 'tool', content: '{}', toolCallId: 'c1', name: 'find' },
        { role: 'assistant', content: 'Done.' },
      ],
      patterns: [],
    });
    const unchecked = t();
    const a = t();
    shareChecks(unchecked, a);
    expect(validateTrajectory(a).map((v) => v.rule)).toEqual(['arguments_invalid']);
    shareChecks(unchecked, a);
    expect(validateTrajectory(a).map((v) => v.rule)).toEqual(['arguments_invalid']);
  });
});
