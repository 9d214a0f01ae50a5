// The subset checker as it was before its error paths became lazy (commit 71f371d): the oracle of
// subset-schema.test.ts's equivalence test (same verdicts and the same errors, in the same order).
import type { ArgumentValidator, SchemaError } from '../../../operators/validate/schema-validator-cache.js';

/**
 * An interpreted checker for the JSON Schema subset LLM-written tool schemas use, so that a new
 * schema costs one walk over it instead of an ajv compile (code generation + `new Function`, hundreds
 * of µs). Verdicts match ajv's (draft-07, `strict: false`), which tests/operators/validate checks
 * differentially.
 *
 * The subset: type (one name or an array of names), properties, required, additionalProperties
 * (boolean or schema), items (one schema), enum, const, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, minLength, maxLength, minItems, maxItems, uniqueItems, pattern, boolean schemas,
 * and the annotations title, description, $comment, examples and default (checked for their
 * meta-schema type, otherwise ignored). Keywords ajv does not know are ignored, as ajv does.
 *
 * `compileSubsetSchema` returns undefined, meaning "let ajv do it", for a schema using any other
 * keyword ajv knows (format, $ref, anyOf, nullable, multipleOf, ...) and for one whose subset keywords
 * do not have the shape the draft-07 meta-schema requires (a `type` of "strng", a `required` that is
 * not an array of distinct strings, a pattern that does not compile, ...): ajv then reports the
 * problem in its own words.
 *
 * One deliberate difference: a property counts as present when it is an own property of the
 * arguments object. ajv reads `data[name]`, so for names such as "constructor" it sees the
 * inherited member, and a `required: ["toString"]` is always satisfied.
 */
export function compileSubsetSchema(schema: Record<string, unknown>, ajvKeywords: ReadonlySet<string>): ArgumentValidator | undefined {
  const root = buildNode(schema, ajvKeywords);
  if (root === undefined) return undefined;
  const validate: ArgumentValidator = (value: unknown): boolean => {
    const errors: SchemaError[] = [];
    checkNode(root, value, '', errors);
    validate.errors = errors.length > 0 ? errors : null;
    return errors.length === 0;
  };
  return validate;
}

/** A schema prepared for checking; `true`/`false` are boolean schemas. */
type Node = boolean | SubsetNode;

interface SubsetNode {
  /** Bit set of TYPE_BITS; undefined when the schema has no `type`. */
  types?: number;
  /** The `type` as ajv prints it ("string,null"). */
  typeText?: string;
  properties?: Map<string, Node>;
  required?: string[];
  /** Undefined when every additional property is allowed. */
  additional?: Node;
  items?: Node;
  enum?: unknown[];
  /** Wrapped so that a `const` of null or false is told apart from no `const`. */
  const?: { value: unknown };
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  pattern?: RegExp;
  /** The pattern as written (RegExp.source escapes "/"). */
  patternText?: string;
}

const TYPE_BITS = { string: 1, number: 2, integer: 4, boolean: 8, null: 16, object: 32, array: 64 } as const;

/** Own keys only: a `type` of "constructor" is not a type name. */
const isTypeName = (v: unknown): v is keyof typeof TYPE_BITS => typeof v === 'string' && Object.hasOwn(TYPE_BITS, v);

type Builder = (node: SubsetNode, value: unknown, ajvKeywords: ReadonlySet<string>) => boolean;

const isNumber = (v: unknown): v is number => typeof v === 'number';
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

type NumberKeyword = 'minimum' | 'maximum' | 'exclusiveMinimum' | 'exclusiveMaximum' | 'minLength' | 'maxLength' | 'minItems' | 'maxItems';

function numberKeyword(keyword: NumberKeyword, valid: (v: unknown) => v is number): Builder {
  return (node, v) => {
    if (!valid(v)) return false;
    node[keyword] = v;
    return true;
  };
}

/** How each subset keyword is read into a node; false = not the shape the meta-schema requires. */
const BUILDERS: Readonly<Record<string, Builder>> = {
  type: (node, v) => {
    const names = Array.isArray(v) ? v : [v];
    let bits = 0;
    for (const name of names) {
      if (!isTypeName(name) || (bits & TYPE_BITS[name]) !== 0) return false;
      bits |= TYPE_BITS[name];
    }
    node.types = bits;
    node.typeText = names.join(',');
    return bits !== 0;
  },
  properties: (node, v, kw) => {
    if (!isPlainObject(v)) return false;
    const properties = new Map<string, Node>();
    for (const [name, sub] of Object.entries(v)) {
      const child = buildNode(sub, kw);
      if (child === undefined) return false;
      properties.set(name, child);
    }
    node.properties = properties;
    return true;
  },
  required: (node, v) => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string') || new Set(v).size !== v.length) return false;
    node.required = v as string[];
    return true;
  },
  additionalProperties: (node, v, kw) => {
    node.additional = v === true ? undefined : buildNode(v, kw);
    return v === true || node.additional !== undefined;
  },
  items: (node, v, kw) => {
    // An array of schemas (tuple validation) is left to ajv.
    node.items = Array.isArray(v) ? undefined : buildNode(v, kw);
    return node.items !== undefined;
  },
  enum: (node, v) => {
    if (!Array.isArray(v) || v.length === 0 || firstDuplicate(v) !== undefined) return false;
    node.enum = v;
    return true;
  },
  const: (node, v) => {
    node.const = { value: v };
    return true;
  },
  minimum: numberKeyword('minimum', isNumber),
  maximum: numberKeyword('maximum', isNumber),
  exclusiveMinimum: numberKeyword('exclusiveMinimum', isNumber),
  exclusiveMaximum: numberKeyword('exclusiveMaximum', isNumber),
  minLength: numberKeyword('minLength', isCount),
  maxLength: numberKeyword('maxLength', isCount),
  minItems: numberKeyword('minItems', isCount),
  maxItems: numberKeyword('maxItems', isCount),
  uniqueItems: (node, v) => {
    if (typeof v !== 'boolean') return false;
    node.uniqueItems = v;
    return true;
  },
  pattern: (node, v) => {
    const re = typeof v === 'string' ? cachedRegExp(v) : undefined;
    if (re === undefined) return false;
    node.pattern = re;
    node.patternText = v as string;
    return true;
  },
  title: (_node, v) => typeof v === 'string',
  description: (_node, v) => typeof v === 'string',
  $comment: (_node, v) => typeof v === 'string',
  examples: (_node, v) => Array.isArray(v),
  default: () => true,
};

/** The node for a (sub)schema, or undefined when it is outside the subset or malformed. */
function buildNode(schema: unknown, ajvKeywords: ReadonlySet<string>): Node | undefined {
  if (typeof schema === 'boolean') return schema;
  if (!isPlainObject(schema)) return undefined;
  const node: SubsetNode = {};
  for (const [keyword, value] of Object.entries(schema)) {
    const build = Object.hasOwn(BUILDERS, keyword) ? BUILDERS[keyword] : undefined;
    if (build) {
      if (!build(node, value, ajvKeywords)) return undefined;
    } else if (ajvKeywords.has(keyword)) {
      return undefined;
    }
  }
  return node;
}

/**
 * Compiled patterns shared by all schemas (LLM tools reuse a few: ids, dates, emails); undefined
 * marks a pattern that does not compile. ajv compiles patterns with the `u` flag, so do we. A
 * RegExp without the g/y flags keeps no state between `test` calls, so sharing is safe. Cleared
 * when full: patterns are few and cheap to recompile.
 */
const regExps = new Map<string, RegExp | undefined>();
const MAX_REGEXPS = 512;

function cachedRegExp(source: string): RegExp | undefined {
  if (regExps.has(source)) return regExps.get(source);
  let re: RegExp | undefined;
  try {
    re = new RegExp(source, 'u');
  } catch {
    re = undefined;
  }
  if (regExps.size >= MAX_REGEXPS) regExps.clear();
  regExps.set(source, re);
  return re;
}

function checkNode(node: Node, value: unknown, path: string, errors: SchemaError[]): void {
  if (node === true) return;
  const fail = (message: string): void => {
    errors.push({ instancePath: path, message });
  };
  if (node === false) return fail('boolean schema is false');
  if (node.types !== undefined && !hasType(node.types, value)) fail(`must be ${node.typeText}`);
  if (node.enum && !node.enum.some((allowed) => jsonEqual(allowed, value))) {
    fail(`must be equal to one of the allowed values: ${listValues(node.enum)}`);
  }
  if (node.const && !jsonEqual(node.const.value, value)) fail(`must be equal to constant ${JSON.stringify(node.const.value)}`);

  if (typeof value === 'number') {
    if (node.minimum !== undefined && !(value >= node.minimum)) fail(`must be >= ${node.minimum}`);
    if (node.maximum !== undefined && !(value <= node.maximum)) fail(`must be <= ${node.maximum}`);
    if (node.exclusiveMinimum !== undefined && !(value > node.exclusiveMinimum)) fail(`must be > ${node.exclusiveMinimum}`);
    if (node.exclusiveMaximum !== undefined && !(value < node.exclusiveMaximum)) fail(`must be < ${node.exclusiveMaximum}`);
  } else if (typeof value === 'string') {
    if (node.minLength !== undefined || node.maxLength !== undefined) {
      const length = codePointLength(value);
      if (node.minLength !== undefined && length < node.minLength) fail(`must NOT have fewer than ${node.minLength} characters`);
      if (node.maxLength !== undefined && length > node.maxLength) fail(`must NOT have more than ${node.maxLength} characters`);
    }
    if (node.pattern && !node.pattern.test(value)) fail(`must match pattern "${node.patternText}"`);
  } else if (Array.isArray(value)) {
    if (node.minItems !== undefined && value.length < node.minItems) fail(`must NOT have fewer than ${node.minItems} items`);
    if (node.maxItems !== undefined && value.length > node.maxItems) fail(`must NOT have more than ${node.maxItems} items`);
    if (node.uniqueItems) {
      const pair = firstDuplicate(value);
      if (pair) fail(`must NOT have duplicate items (items ## ${pair[0]} and ${pair[1]} are identical)`);
    }
    if (node.items !== undefined) value.forEach((item, i) => checkNode(node.items!, item, `${path}/${i}`, errors));
  } else if (isPlainObject(value)) {
    checkObject(node, value, path, errors);
  }
}

function checkObject(node: SubsetNode, value: Record<string, unknown>, path: string, errors: SchemaError[]): void {
  for (const name of node.required ?? []) {
    if (!isPresent(value, name)) errors.push({ instancePath: path, message: `must have required property '${name}'` });
  }
  const extra: string[] = [];
  for (const name of Object.keys(value)) {
    const sub = node.properties?.get(name);
    const childPath = `${path}/${escapePointer(name)}`;
    if (sub !== undefined) {
      if (value[name] !== undefined) checkNode(sub, value[name], childPath, errors);
    } else if (node.additional === false) {
      extra.push(name);
    } else if (node.additional !== undefined) {
      checkNode(node.additional, value[name], childPath, errors);
    }
  }
  if (extra.length > 0) errors.push({ instancePath: path, message: `must NOT have additional properties: ${listValues(extra)}` });
}

/** Present as ajv sees it (not undefined), but only as an own property; see the file comment. */
function isPresent(obj: Record<string, unknown>, name: string): boolean {
  return Object.hasOwn(obj, name) && obj[name] !== undefined;
}

/** ajv's data type checks (without `strictNumbers`, so Infinity is a number, and an integer). */
function hasType(bits: number, v: unknown): boolean {
  switch (typeof v) {
    case 'string':
      return (bits & TYPE_BITS.string) !== 0;
    case 'boolean':
      return (bits & TYPE_BITS.boolean) !== 0;
    case 'number':
      return (bits & TYPE_BITS.number) !== 0 || ((bits & TYPE_BITS.integer) !== 0 && !(v % 1) && !Number.isNaN(v));
    case 'object':
      if (v === null) return (bits & TYPE_BITS.null) !== 0;
      return (bits & (Array.isArray(v) ? TYPE_BITS.array : TYPE_BITS.object)) !== 0;
    default:
      return false;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep equality of JSON values, as ajv's (fast-deep-equal) for enum, const and uniqueItems. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bs = b as unknown[];
    return a.length === bs.length && a.every((x, i) => jsonEqual(x, bs[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = Object.keys(ao);
  return keys.length === Object.keys(bo).length && keys.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k], bo[k]));
}

/**
 * Indices [i, j] (i < j) of the first item j equal to an earlier item i, or undefined. Scalars are
 * matched through a Map (its SameValueZero agrees with jsonEqual on them), objects pairwise.
 */
function firstDuplicate(items: unknown[]): [number, number] | undefined {
  const scalars = new Map<unknown, number>();
  const objects: number[] = [];
  for (let j = 0; j < items.length; j++) {
    const item = items[j];
    const isObject = typeof item === 'object' && item !== null;
    const twin = isObject ? objects.find((i) => jsonEqual(items[i], item)) : scalars.get(item);
    if (twin !== undefined) return [twin, j];
    if (isObject) objects.push(j);
    else scalars.set(item, j);
  }
  return undefined;
}

/** String length in code points, as ajv counts it (a surrogate pair is one character). */
function codePointLength(s: string): number {
  let length = 0;
  for (let i = 0; i < s.length; i++, length++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
  }
  return length;
}

/** RFC 6901 escaping of one path segment, as ajv writes instancePath. */
function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A short list for a message: the first 10 values as JSON. */
function listValues(values: unknown[]): string {
  const shown = values.slice(0, 10).map((v) => JSON.stringify(v));
  return values.length > 10 ? `${shown.join(', ')}, ... (${values.length} in all)` : shown.join(', ');
}
