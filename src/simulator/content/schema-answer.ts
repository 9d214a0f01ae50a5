import { Rng } from '../hash.js';
import { valueFor } from './schema-values.js';
import { salientWords } from './text-analysis.js';

type Schema = Record<string, unknown>;

/**
 * An answer to any `gemflow_<stage>` request the simulator has no rules for, generated from the
 * request's own JSON Schema (response_format): objects with their required properties (all of them
 * when none is marked), arrays within minItems..maxItems, strings within minLength..maxLength, numbers
 * within their bounds, enums, consts, anyOf/oneOf (first branch), $ref into $defs. String values are
 * shaped by the property name and the document's salient words, so a new LLM step runs against the
 * simulator without editing it. Deterministic: the same request gets the same answer.
 */
export function schemaAnswer(schema: Schema, userText: string, seed: string): unknown {
  const rng = new Rng(`${seed}/schema/${userText.length}/${userText.slice(0, 2000)}`);
  const topic = salientWords(userText, 1)[0] ?? 'item';
  return generate('value', schema, { root: schema, rng, topic, depth: 0 });
}

interface Ctx {
  root: Schema;
  rng: Rng;
  topic: string;
  depth: number;
}

function resolveRef(ref: string, root: Schema): Schema {
  if (!ref.startsWith('#')) return {};
  let node: unknown = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) node = (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return (node ?? {}) as Schema;
}

function generate(name: string, schema: Schema, ctx: Ctx): unknown {
  if (ctx.depth > 12) return null;
  if (typeof schema.$ref === 'string') return generate(name, { ...resolveRef(schema.$ref, ctx.root), ...without(schema, '$ref') }, ctx);
  for (const k of ['anyOf', 'oneOf'] as const) {
    const branches = schema[k];
    if (Array.isArray(branches) && branches.length > 0) {
      const b = (branches as Schema[]).find((x) => x.type !== 'null') ?? (branches[0] as Schema);
      return generate(name, { ...without(schema, k), ...b }, ctx);
    }
  }
  if (Array.isArray(schema.allOf)) return generate(name, Object.assign({}, without(schema, 'allOf'), ...(schema.allOf as Schema[])), ctx);
  if ('const' in schema || (Array.isArray(schema.enum) && schema.enum.length > 0)) return valueFor(name, schema, ctx.rng, ctx.topic);
  const type = Array.isArray(schema.type) ? ((schema.type as string[]).find((t) => t !== 'null') ?? 'null') : (schema.type as string | undefined) ?? (schema.properties ? 'object' : schema.items ? 'array' : 'string');
  const deeper = { ...ctx, depth: ctx.depth + 1 };
  switch (type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : Object.keys(props);
      return Object.fromEntries(required.map((p) => [p, generate(p, props[p] ?? {}, deeper)]));
    }
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 1;
      const max = typeof schema.maxItems === 'number' ? schema.maxItems : Math.max(min, 2);
      const n = Math.min(max, Math.max(min, 1));
      const items = (schema.items ?? {}) as Schema;
      return Array.from({ length: n }, () => generate(name.replace(/s$/, ''), items, deeper));
    }
    case 'number':
    case 'integer':
      return numberFor(name, schema, type, ctx.rng);
    case 'boolean':
    case 'null':
      return valueFor(name, schema, ctx.rng, ctx.topic);
    default:
      return stringFor(name, schema, ctx);
  }
}

function without(s: Schema, key: string): Schema {
  const { [key]: _drop, ...rest } = s;
  return rest;
}

function numberFor(name: string, schema: Schema, type: string, rng: Rng): number {
  const lo = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + (type === 'integer' ? 1 : 1e-6) : undefined;
  const hi = typeof schema.maximum === 'number' ? schema.maximum : typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum - (type === 'integer' ? 1 : 1e-6) : undefined;
  let v: number;
  if (lo !== undefined && hi !== undefined) v = lo + rng.next() * (hi - lo);
  else v = (valueFor(name, { ...schema, type }, rng, '') as number) ?? 1;
  if (lo !== undefined && v < lo) v = lo;
  if (hi !== undefined && v > hi) v = hi;
  return type === 'integer' ? Math.round(v) : Math.round(v * 100) / 100;
}

function stringFor(name: string, schema: Schema, ctx: Ctx): string {
  const p = name.toLowerCase();
  let s: string;
  if (schema.format === 'date-time') s = '2025-03-14T09:30:00Z';
  else if (schema.format === 'date') s = '2025-03-14';
  else if (schema.format === 'email') s = 'jordan.lee@example.com';
  else if (schema.format === 'uri' || schema.format === 'url') s = `https://example.com/${ctx.topic}`;
  else if (/reason|explanation|rationale|summary|description|comment|note|answer|text/.test(p)) s = `Simulated ${p.replace(/_/g, ' ')} about ${ctx.topic} (the gemflow simulator, a test double).`;
  else s = String(valueFor(name, { type: 'string' }, ctx.rng, ctx.topic));
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : undefined;
  while (s.length < min) s += ` ${ctx.topic}`;
  if (max !== undefined && s.length > max) s = s.slice(0, max);
  return s;
}
