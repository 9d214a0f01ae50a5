import type { Rng } from '../hash.js';

type Schema = Record<string, unknown>;

const FIRST_NAMES = ['Jordan', 'Priya', 'Mateo', 'Amara', 'Lena', 'Kenji', 'Sofia', 'Omar'];
const LAST_NAMES = ['Lee', 'Patel', 'Garcia', 'Okafor', 'Novak', 'Sato', 'Rossi', 'Haddad'];
const LABELS = ['Main', 'Archive', 'Q3', 'Team', 'Backup', 'Spring', 'North', 'Pilot'];

/** The first JSON type a property schema allows ("string" when it names none). */
export function schemaType(schema: Schema): string {
  const t = schema.type;
  if (Array.isArray(t)) return (t.find((x) => x !== 'null') as string | undefined) ?? 'string';
  return typeof t === 'string' ? t : 'string';
}

/** A short code for ids: the first three letters of the entity, e.g. order_id -> "ord". */
function idPrefix(param: string): string {
  const base = param.replace(/_?id$/, '').split('_').at(-1) || 'rec';
  return base.slice(0, 3);
}

/** A plausible string for a parameter, chosen by its name. */
function stringFor(param: string, rng: Rng, topic: string): string {
  const p = param.toLowerCase();
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  if (p === 'auth_token' || p.endsWith('token')) return `tok_${rng.digits(4)}${rng.digits(4)}`;
  if (p.endsWith('_id') || p === 'id') return `${idPrefix(p)}-${rng.digits(4)}`;
  if (p.includes('email')) return `${first}.${last}@example.com`.toLowerCase();
  if (p.includes('username') || p === 'user' || p === 'login') return `${first}.${last}`.toLowerCase();
  if (p.includes('password')) return `${last}-${rng.digits(4)}!`;
  if (p.includes('phone')) return `+1-555-01${rng.digits(2)}`;
  if (p.includes('date') || p.includes('deadline')) return `2025-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
  if (p.includes('time')) return `${String(rng.int(8, 18)).padStart(2, '0')}:${rng.pick(['00', '15', '30', '45'])}`;
  if (p.includes('address')) return `${rng.int(2, 98)} Harbour Street, Leeds`;
  if (p.includes('region')) return rng.pick(['eu-west-1', 'us-east-2', 'ap-south-1']);
  if (p.includes('currency')) return rng.pick(['EUR', 'USD', 'GBP']);
  if (p.includes('url') || p.includes('link')) return `https://example.com/${topic || 'item'}/${rng.digits(3)}`;
  if (p === 'query' || p.includes('search')) return `${topic || 'recent'} ${rng.pick(LABELS).toLowerCase()}`.trim();
  if (p.includes('name') || p === 'title') return `${topic ? capitalize(topic) + ' ' : ''}${rng.pick(LABELS)}`;
  if (p.includes('reason') || p.includes('note') || p.includes('description') || p.includes('comment')) return `${rng.pick(['no longer needed', 'requested by the team', 'duplicate entry', 'end of project'])}`;
  return `${param.replace(/_/g, ' ')} ${rng.pick(LABELS).toLowerCase()}`;
}

function capitalize(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

function bounded(schema: Schema, fallback: number): number {
  const min = typeof schema.minimum === 'number' ? schema.minimum : undefined;
  const max = typeof schema.maximum === 'number' ? schema.maximum : undefined;
  let v = fallback;
  if (min !== undefined && v < min) v = min;
  if (max !== undefined && v > max) v = max;
  return v;
}

/**
 * A value satisfying `schema` (enum, const, type, number bounds, array minItems, object required),
 * shaped by the parameter's name. `topic` is a word of the document used in names and queries.
 */
export function valueFor(param: string, schema: Schema, rng: Rng, topic: string): unknown {
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return rng.pick(schema.enum);
  switch (schemaType(schema)) {
    case 'integer': {
      const p = param.toLowerCase();
      return bounded(schema, p.includes('limit') || p.includes('size') ? 10 : rng.int(1, 5));
    }
    case 'number':
      return bounded(schema, rng.int(500, 9999) / 100);
    case 'boolean':
      return rng.next() < 0.5;
    case 'array': {
      const items = (schema.items ?? {}) as Schema;
      const n = Math.max(1, typeof schema.minItems === 'number' ? schema.minItems : 1);
      return Array.from({ length: n }, () => valueFor(param.replace(/s$/, ''), items, rng, topic));
    }
    case 'object':
      return objectFor(schema, rng, topic);
    case 'null':
      return null;
    default:
      return stringFor(param, rng, topic);
  }
}

/** An object with the schema's required properties (or its first property when none is required). */
export function objectFor(schema: Schema, rng: Rng, topic: string): Record<string, unknown> {
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const names = requiredOf(schema);
  const chosen = names.length > 0 ? names : Object.keys(props).slice(0, 1);
  return Object.fromEntries(chosen.map((n) => [n, valueFor(n, props[n] ?? {}, rng, topic)]));
}

export function requiredOf(schema: Schema): string[] {
  return Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : [];
}

export function propertiesOf(schema: Schema): Record<string, Schema> {
  const p = schema.properties;
  return typeof p === 'object' && p !== null && !Array.isArray(p) ? (p as Record<string, Schema>) : {};
}

/** Whether `value` is in the schema's enum (if any) and has the JSON type its `type` names. */
export function fitsType(value: unknown, schema: Schema): boolean {
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) return false;
  switch (schemaType(schema)) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return true;
  }
}
