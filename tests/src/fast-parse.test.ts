import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ExtractOutput, parseExtractOutput } from '../../operators/extract/schema.js';
import { GroundOutput, parseGroundOutput } from '../../operators/ground/schema.js';
import { RefineOutput, parseRefineOutput } from '../../operators/refine/schema.js';
import { extractAnswer } from '../../src/simulator/content/extract-answer.js';
import { groundAnswer } from '../../src/simulator/content/ground-answer.js';
import { refineAnswer } from '../../src/simulator/content/refine-answer.js';
import { spoilAnswer } from '../../src/simulator/content/stage-answer.js';

/**
 * The hand-written parsers of the LLM answers (src/trajectory.ts withFastParse) against zod itself
 * (`z.safeParse(schema, v)` runs zod's own parser, not the instance's fast path): for every answer
 * of the simulator over the sample corpus and thousands of mutations of them, zod's verdict and
 * output are what `schema.safeParse` gives, to the key order (JSON text) and to `undefined` keys.
 */
const STAGES = [
  { name: 'extract', schema: ExtractOutput, fast: parseExtractOutput },
  { name: 'ground', schema: GroundOutput, fast: parseGroundOutput },
  { name: 'refine', schema: RefineOutput, fast: parseRefineOutput },
] as const;

/** The simulator's answers to each stage for the sample corpus, as JSON values. */
function answers(): Record<(typeof STAGES)[number]['name'], unknown[]> {
  const docs = readFileSync(new URL('../../examples/corpus.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { text: string }).text);
  const out = { extract: [] as unknown[], ground: [] as unknown[], refine: [] as unknown[] };
  docs.forEach((document, i) => {
    const seed = `fast-${i}`;
    const ex = extractAnswer(document, 3, seed);
    out.extract.push(ex);
    for (const workflow of ex.workflows) {
      const g = groundAnswer({ workflow, domain: ex.domain, rules: ex.rules, document, seed });
      out.ground.push(g);
      out.refine.push(refineAnswer({ trajectory: g.trajectory, rules: ex.rules, seed }));
    }
  });
  for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] = out[k].flatMap((a) => [a, spoilAnswer(a)]).map((a) => JSON.parse(JSON.stringify(a)));
  return out;
}

/** Every path to an object member or array element in `v`. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return out;
  for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
    const p = [...at, k];
    out.push(p);
    paths((v as Record<string | number, unknown>)[k], p, out);
  }
  return out;
}

const REPLACEMENTS: unknown[] = ['', 'x', 'user', 'clarification', 0, 1.5, true, null, [], ['x'], {}, { a: 1 }, [{}]];

/** Copies of `a` with one change at `path`: each replacement value, deleted, reordered, an extra key. */
function mutations(a: unknown, path: (string | number)[]): unknown[] {
  const out: unknown[] = [];
  const edit = (f: (parent: Record<string | number, unknown>, key: string | number) => void) => {
    const c = structuredClone(a) as Record<string | number, unknown>;
    let parent = c;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    f(parent, path.at(-1)!);
    out.push(c);
  };
  for (const r of REPLACEMENTS) edit((p, k) => (p[k] = structuredClone(r)));
  edit((p, k) => (Array.isArray(p) ? p.splice(Number(k), 1) : delete p[k]));
  edit((p, k) => {
    const v = p[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const entries = Object.entries(v).reverse();
      p[k] = Object.fromEntries([...entries, ['extra_key', 1]]);
    }
  });
  return out;
}

/** JSON texts no object literal makes: `__proto__` and `constructor` members, duplicate keys. */
function awkwardTexts(a: unknown): unknown[] {
  const text = JSON.stringify(a);
  return [
    text.replace('{', '{"__proto__":{"x":1},'),
    text.replace('"arguments":{', '"arguments":{"__proto__":{"x":1},'),
    text.replace('"parameters":{', '"parameters":{"constructor":"x",'),
    text.replace('"dataSchema":{', '"dataSchema":{"__proto__":null,'),
    text.replace('"role":"user"', '"role":"user","role":"moderator"'),
    text.replace('"content":', '"content":1,"content":'),
  ].map((t) => JSON.parse(t));
}

/** zod's own result and the schema's (fast path first) agree: same verdict, same output to the key order. */
function agree(schema: z.ZodType, v: unknown): { ok: boolean; same: boolean } {
  const slow = z.safeParse(schema, v);
  const got = schema.safeParse(v);
  if (slow.success !== got.success) return { ok: slow.success, same: false };
  if (!slow.success) return { ok: false, same: z.prettifyError(slow.error) === z.prettifyError(got.error!) };
  return { ok: true, same: isDeepStrictEqual(slow.data, got.data) && JSON.stringify(slow.data) === JSON.stringify(got.data) };
}

describe('fast answer parsers give what zod gives', () => {
  const all = answers();

  for (const { name, schema, fast } of STAGES) {
    it(`${name}: the simulator's answers take the fast path, with zod's output`, () => {
      const as = all[name];
      expect(as.length).toBeGreaterThan(10);
      for (const a of as) {
        expect(fast(a)).toBeDefined();
        expect(agree(schema, a)).toEqual({ ok: true, same: true });
      }
    });

    it(`${name}: every one-change mutation and awkward JSON text gets zod's verdict and output`, () => {
      let rejected = 0;
      let accepted = 0;
      let mutated = 0;
      for (const a of all[name].slice(0, 6)) {
        const variants = [...paths(a).flatMap((p) => mutations(a, p)), ...awkwardTexts(a)];
        for (const v of variants) {
          const r = agree(schema, v);
          if (!r.same) expect({ variant: v, ...r }).toEqual({ variant: v, ok: r.ok, same: true });
          if (r.ok) accepted++;
          else rejected++;
          mutated++;
        }
      }
      // Both verdicts are well represented (a mutation of free text or a record's value stays valid).
      expect(mutated).toBeGreaterThan(1000);
      expect(rejected).toBeGreaterThan(mutated / 10);
      expect(accepted).toBeGreaterThan(mutated / 10);
    });
  }
});
