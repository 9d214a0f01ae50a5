/**
 * A chat template compiled to JavaScript closures over plain values, for `gemflow export --format
 * template`: the same text as @huggingface/jinja's interpreter renders, without converting each row to
 * the interpreter's runtime values and walking the syntax tree per node.
 *
 * The interpreter is the reference. The compiler takes the parsed template (`Template.parsed`) and
 * mirrors the interpreter's rules (dist/index.js of @huggingface/jinja 0.5: evaluateBinaryExpression,
 * applyFilter, evaluateMemberExpression, renderFor, toJSON, the tests) for the constructs chat templates
 * use. Whatever it does not mirror throws FALLBACK from the row's render, and that row goes to the
 * interpreter, which renders it or raises its own error:
 * - a statement it does not compile (call blocks, filter blocks, spreads, macros that
 *   read varargs / kwargs / caller, filters or tests it does not know, integer-valued float literals),
 *   when it runs: a template whose unusual parts sit in branches rows rarely take renders the other rows
 *   compiled (`uncompiled` lists what was left);
 * - a case it does not mirror at run time (a float result with an integer value, `~` or `==` between
 *   containers and scalars, raise_exception, any error, ...).
 * One deliberate exception: `x.items()` (keys, values, get) on an object that has a key of that name (a JSON
 * schema property called "items"): the interpreter takes the key and raises (it cannot call it); jinja2,
 * what transformers renders with, looks the attribute up first and calls the dict method. The compiled form
 * does as jinja2 and says so for the row (CompiledTemplate's `jinja2`); no undefined value comes of it, so
 * the rest of the row is rendered by the same rules as any other (OpenAI's gpt-oss template meets it).
 * And a row the interpreter raises on can be rendered again with jinja2's Undefined throughout (mode
 * 'jinja2'): the interpreter raises on an undefined key, on `x not in undefined`, on `undefined | trim`,
 * where jinja2 goes on (NousResearch's Hermes 2 Pro / 3 tool-use templates meet them on every tool with an
 * array parameter). Such a row is rendered as jinja2 renders it only as far as the two engines agree
 * elsewhere, which is what the comparison with jinja2 in the tests checks.
 * The export also renders sampled rows with both and stops using the compiled form if they differ
 * (src/export/template.ts); tests/export/template-compile.test.ts compares the two on the fixture
 * templates over generated rows, tests/export/real-templates.test.ts on 25 published models' templates.
 *
 * Values: strings, numbers (an integer is an IntegerValue, any other number a FloatValue: a float with an
 * integer value is never held, its operation falls back), booleans, null (none), undefined, arrays,
 * plain objects (ObjectValue: own keys only), and the classes below.
 */
import type { Template } from '@huggingface/jinja';

/** Thrown when the compiled form does not mirror the interpreter for a row: render it with the interpreter. */
export const FALLBACK: unique symbol = Symbol('template-fallback');

type V = unknown;
type Scope = Record<string, V>;
type Expr = (s: Scope) => V;
type Block = (s: Scope) => string;
interface Node {
  type: string;
  [k: string]: unknown;
}

/** namespace(...): attributes settable with `{% set ns.x = ... %}`. */
class Ns {
  constructor(readonly m: Map<string, V>) {}
}
/** The `loop` variable of a for loop. */
class Loop {
  constructor(
    readonly i: number,
    readonly n: number,
    readonly prev: V,
    readonly next: V,
    readonly hasPrev: boolean,
    readonly hasNext: boolean,
  ) {}
}
/** A callable: a macro or a global function, given positional arguments and keyword arguments. */
class Fn {
  constructor(readonly call: (args: V[], kw: Map<string, V> | undefined) => V) {}
}
/** A method of a string or object read without calling it (`x.items`): callable, truthy, nothing else. */
class Bound {
  constructor(
    readonly self: V,
    readonly name: string,
  ) {}
}
/** Thrown by {% break %} / {% continue %} to the innermost loop (the interpreter's BreakControl / ContinueControl). */
const BREAK = Symbol('break');
const CONTINUE = Symbol('continue');
/** Tuples are arrays marked with this (the interpreter's TupleValue: some tests tell them apart). */
const TUPLE = Symbol('tuple');

const fb = (): never => {
  throw FALLBACK;
};

/**
 * Set while a row is rendered when the compiled form took a jinja2 rule where the interpreter raises
 * (see compileTemplate): such a row is one the interpreter cannot render.
 */
let usedJinja2Rule = false;
/**
 * jinja2's Undefined, for a row the interpreter raises on (CompiledTemplate's `mode`): undefined keys give
 * undefined, undefined is iterable and empty, its string filters give "", its length is 0, it equals only
 * undefined, and `x in` it is false; reading an attribute of it raises, as in jinja2.
 */
let j2 = false;
const jinja2Rule = <T>(v: T): T => {
  usedJinja2Rule = true;
  return v;
};
const hasOwn = Object.prototype.hasOwnProperty;
const isInt = Number.isInteger;

const isPlainObject = (v: V): v is Record<string, V> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
};
const isTuple = (v: V): boolean => Array.isArray(v) && (v as unknown as Record<symbol, boolean>)[TUPLE] === true;
/** ObjectValue of the interpreter: plain objects and the loop variable. */
const isObjectValue = (v: V): boolean => isPlainObject(v) || v instanceof Loop;
const isAttrContainer = (v: V): boolean => isObjectValue(v) || v instanceof Ns;

function truthy(v: V): boolean {
  switch (typeof v) {
    case 'string':
      return v.length > 0;
    case 'number':
      return v !== 0 && v === v;
    case 'boolean':
      return v;
    case 'undefined':
      return false;
    case 'object':
      if (v === null) return false;
      if (Array.isArray(v)) return v.length > 0;
      if (isPlainObject(v)) {
        for (const k in v) if (hasOwn.call(v, k)) return true;
        return false;
      }
      return true; // Ns, Loop, Bound
    default:
      return true;
  }
}

/** The interpreter's `.value` of a scalar for == and `in` (null's is undefined); containers are compared by identity. */
const scalarValue = (v: V): V => (v === null ? undefined : v);
const isScalar = (v: V): boolean => v === null || v === undefined || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** `value.toString()` of the interpreter's `~` and string `+` (the raw JS value's). */
function rawString(v: V): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return fb();
}

/** RuntimeValue.toString(): what `{{ x }}` writes (null and undefined write nothing, handled by the caller). */
function outString(v: V): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) || isPlainObject(v) || v instanceof Ns) return toJson(v, undefined, 0, false);
  return fb();
}

interface JsonOptions {
  indent: number | null;
  ensureAscii: boolean;
  sortKeys: boolean;
  separators: [string, string] | null;
}
const PLAIN: JsonOptions = { indent: null, ensureAscii: false, sortKeys: false, separators: null };
const NON_ASCII = /[\x7f-\uffff]/g;
const asciiSafe = (s: string) => s.replace(NON_ASCII, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

/** toJSON of the interpreter. Without options: `, ` and `: ` separators, keys in insertion order. */
function toJson(v: V, o: JsonOptions | undefined, depth: number, undefinedToNull: boolean): string {
  if (o === undefined) return toJsonPlain(v, undefinedToNull);
  const { indent, ensureAscii, sortKeys, separators } = o;
  const [itemSep, keySep] = separators ?? (indent ? [',', ': '] : [', ', ': ']);
  switch (typeof v) {
    case 'string':
      return ensureAscii ? asciiSafe(JSON.stringify(v)) : JSON.stringify(v);
    case 'number':
    case 'boolean':
      return JSON.stringify(v);
    case 'undefined':
      return undefinedToNull ? 'null' : 'undefined';
  }
  if (v === null) return 'null';
  const ind = indent ? ' '.repeat(indent) : '';
  const base = '\n' + ind.repeat(depth);
  const child = base + ind;
  if (Array.isArray(v)) {
    const core = v.map((x) => toJson(x, o, depth + 1, undefinedToNull));
    return indent && core.length > 0 ? `[${child}${core.join(`${itemSep}${child}`)}${base}]` : `[${core.join(itemSep)}]`;
  }
  let entries: Array<[string, V]>;
  if (v instanceof Ns) entries = [...v.m];
  else if (isPlainObject(v)) entries = Object.entries(v);
  else return fb();
  if (sortKeys) entries = entries.sort(([a], [b]) => a.localeCompare(b));
  const core = entries.map(([k, x]) => {
    const key = ensureAscii ? asciiSafe(JSON.stringify(k)) : JSON.stringify(k);
    const s = `${key}${keySep}${toJson(x, o, depth + 1, undefinedToNull)}`;
    return indent ? `${child}${s}` : s;
  });
  return indent && core.length > 0 ? `{${core.join(itemSep)}${base}}` : `{${core.join(itemSep)}}`;
}

/**
 * toJson without options, the common `| tojson`. A tree of JSON data only (strings, numbers, booleans,
 * null, arrays, plain objects; no undefined anywhere) is what JSON.stringify writes with `, ` and `: `
 * between items (it escapes strings and writes numbers the same way; keys in the same order): the
 * native serialiser, then the separators widened outside strings. Anything else is written node by node.
 */
function toJsonPlain(v: V, undefinedToNull: boolean): string {
  if (typeof v === 'object' && v !== null && isJsonData(v, 0)) return widenSeparators(JSON.stringify(v));
  return toJson(v, PLAIN, 0, undefinedToNull);
}

/** Whether `v` holds JSON data only (see toJsonPlain); deeper than 64 levels counts as not. */
function isJsonData(v: V, depth: number): boolean {
  if (depth > 64) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' ? x !== null && !isJsonData(x, depth + 1) : typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') return false;
    }
    return true;
  }
  if (!isPlainObject(v)) return false;
  for (const k in v) {
    if (!hasOwn.call(v, k)) return false;
    const x = v[k];
    if (typeof x === 'object' ? x !== null && !isJsonData(x, depth + 1) : typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') return false;
  }
  return true;
}

/** JSON.stringify's compact text with `, ` and `: ` outside strings (strings are skipped whole). */
function widenSeparators(j: string): string {
  let out = '';
  let last = 0;
  const n = j.length;
  for (let i = 0; i < n; i++) {
    const c = j.charCodeAt(i);
    if (c === 34) {
      // a string: jump to its closing quote (one not preceded by an odd number of backslashes)
      for (;;) {
        const q = j.indexOf('"', i + 1);
        let b = q - 1;
        while (j.charCodeAt(b) === 92) b--;
        i = q;
        if ((q - 1 - b) % 2 === 0) break;
      }
    } else if (c === 44 || c === 58) {
      out += j.slice(last, i + 1) + ' ';
      last = i + 1;
    }
  }
  return out + j.slice(last);
}

/** A number result of + - * // % in the interpreter's number types: a float with an integer value falls back. */
function numResult(res: number, a: number, b: number): number {
  if ((!isInt(a) || !isInt(b)) && isInt(res)) fb();
  return res;
}

function binary(op: string, l: V, r: V): V {
  if (j2 && (l === undefined || r === undefined)) {
    if (op === '==' || op === '!=') return jinja2Rule((l === r) === (op === '=='));
    // Undefined in a list: Python compares it with each item, and jinja2's Undefined equals only an Undefined;
    // in a dict: its hash is no string key's
    if ((op === 'in' || op === 'not in') && l === undefined && (Array.isArray(r) || isPlainObject(r))) return jinja2Rule((Array.isArray(r) && r.includes(undefined)) === (op === 'in'));
  }
  if (op === '==' || op === '!=') {
    let eq: boolean;
    const container = (x: V) => Array.isArray(x) || isPlainObject(x) || x instanceof Ns;
    if (isScalar(l) && isScalar(r)) eq = scalarValue(l) == scalarValue(r); // the interpreter's loose == of the raw values
    else if (container(l) && container(r)) eq = l === r; // its Maps and arrays: identity
    else if ((container(l) && (r === null || r === undefined)) || (container(r) && (l === null || l === undefined))) eq = false;
    else return fb();
    return op === '==' ? eq : !eq;
  }
  if (typeof l === 'number' && typeof r === 'number' && op !== '~' && op !== '**') {
    switch (op) {
      case '+':
        return numResult(l + r, l, r);
      case '-':
        return numResult(l - r, l, r);
      case '*':
        return numResult(l * r, l, r);
      case '/': {
        const q = l / r;
        return isInt(q) ? fb() : q;
      }
      case '//':
        return numResult(Math.floor(l / r), l, r);
      case '%':
        return numResult(l % r, l, r);
      case '<':
        return l < r;
      case '>':
        return l > r;
      case '>=':
        return l >= r;
      case '<=':
        return l <= r;
    }
    return fb();
  }
  if (l === undefined || r === undefined) {
    if (r === undefined && (op === 'in' || op === 'not in')) return op === 'not in';
    if (op === '~' && l !== null && r !== null) return (l === undefined ? '' : rawString(l)) + (r === undefined ? '' : rawString(r));
    return fb();
  }
  if (l === null || r === null) return fb();
  if (op === '~') return rawString(l) + rawString(r);
  if (op === '**') return fb();
  if (Array.isArray(l) && Array.isArray(r)) {
    if (op === '+') return l.concat(r);
  } else if (Array.isArray(r)) {
    if (op === 'in' || op === 'not in') {
      const x = scalarValue(l);
      let member = false;
      for (const e of r) {
        if (scalarValue(e) === x) {
          member = true;
          break;
        }
      }
      return op === 'in' ? member : !member;
    }
  }
  if (typeof l === 'string' || typeof r === 'string') {
    if (op === '+') return rawString(l) + rawString(r);
  }
  if (typeof l === 'string' && typeof r === 'string') {
    if (op === 'in') return r.includes(l);
    if (op === 'not in') return !r.includes(l);
  }
  if (typeof l === 'string' && isPlainObject(r)) {
    if (op === 'in') return hasOwn.call(r, l);
    if (op === 'not in') return !hasOwn.call(r, l);
  }
  return fb();
}

const STRING_METHODS = new Set(['upper', 'lower', 'strip', 'capitalize', 'rstrip', 'lstrip', 'startswith', 'endswith', 'split', 'replace']);
const OBJECT_METHODS = new Set(['get', 'items', 'keys', 'values', 'dictsort']);

function loopField(l: Loop, p: string): V {
  switch (p) {
    case 'index':
      return l.i + 1;
    case 'index0':
      return l.i;
    case 'revindex':
      return l.n - l.i;
    case 'revindex0':
      return l.n - l.i - 1;
    case 'first':
      return l.i === 0;
    case 'last':
      return l.i === l.n - 1;
    case 'length':
      return l.n;
    case 'previtem':
      return l.hasPrev ? l.prev : undefined;
    case 'nextitem':
      return l.hasNext ? l.next : undefined;
  }
  return OBJECT_METHODS.has(p) ? fb() : undefined;
}

/** evaluateMemberExpression: `o.p`, `o[p]`. */
function member(o: V, p: V): V {
  if (j2) {
    if (o === undefined) return fb(); // jinja2 raises on an attribute or item of Undefined
    if (p === undefined || p === null || (typeof p === 'number' && isPlainObject(o))) return jinja2Rule(undefined); // getitem finds nothing
  }
  if (isPlainObject(o)) {
    if (typeof p !== 'string') return fb();
    if (hasOwn.call(o, p)) return o[p];
    return OBJECT_METHODS.has(p) ? new Bound(o, p) : undefined;
  }
  if (o instanceof Ns) {
    if (typeof p !== 'string') return fb();
    return o.m.get(p);
  }
  if (o instanceof Loop) {
    if (typeof p !== 'string') return fb();
    return loopField(o, p);
  }
  if (Array.isArray(o)) {
    if (typeof p === 'number' && isInt(p)) return o.at(p);
    if (typeof p === 'string') return p === 'length' ? o.length : undefined;
    return fb();
  }
  if (typeof o === 'string') {
    if (typeof p === 'number' && isInt(p)) return o.at(p);
    if (typeof p === 'string') {
      if (p === 'length') return o.length;
      return STRING_METHODS.has(p) ? new Bound(o, p) : p === 'title' ? fb() : undefined;
    }
    return fb();
  }
  if (typeof p !== 'string') return fb();
  return undefined;
}

/** A string or object method called with positional arguments (keyword arguments fall back). */
function callMethod(self: V, name: string, args: V[]): V {
  if (typeof self === 'string') {
    switch (name) {
      case 'upper':
        return self.toUpperCase();
      case 'lower':
        return self.toLowerCase();
      case 'strip':
        return self.trim();
      case 'rstrip':
        return self.trimEnd();
      case 'lstrip':
        return self.trimStart();
      case 'capitalize':
        return self.charAt(0).toUpperCase() + self.slice(1);
      case 'startswith':
      case 'endswith': {
        const t = args[0];
        const test = (x: string) => (name === 'startswith' ? self.startsWith(x) : self.endsWith(x));
        if (typeof t === 'string') return test(t);
        if (Array.isArray(t)) {
          for (const x of t) {
            if (typeof x !== 'string') return fb();
            if (test(x)) return true;
          }
          return false;
        }
        return fb();
      }
      case 'split': {
        const sep = args.length > 0 ? args[0] : null;
        const max = args.length > 1 ? args[1] : -1;
        if (!(typeof sep === 'string' || sep === null) || typeof max !== 'number' || !isInt(max)) return fb();
        let result: string[] = [];
        if (sep === null) {
          const text = self.trimStart();
          for (const m of text.matchAll(/\S+/g)) {
            if (max >= 0 && result.length >= max) {
              result.push(m[0] + text.slice(m.index + m[0].length));
              break;
            }
            result.push(m[0]);
          }
        } else {
          if (sep === '') return fb();
          result = self.split(sep);
          if (max >= 0 && result.length > max) result.push(result.splice(max).join(sep));
        }
        return result;
      }
      case 'replace': {
        const [a, b] = args;
        if (args.length !== 2 || typeof a !== 'string' || typeof b !== 'string') return fb();
        if (a === '' || /[\ud800-\udfff]/.test(a)) return fb(); // the interpreter's replaceAll uses a /gu pattern
        return self.split(a).join(b);
      }
    }
    return fb();
  }
  if (isPlainObject(self)) {
    switch (name) {
      case 'get': {
        const [k, d] = args;
        if (typeof k !== 'string') return fb();
        // Map.get(k) ?? default ?? none: a present key holds a runtime value (never nullish there)
        return hasOwn.call(self, k) ? self[k] : args.length > 1 ? d : null;
      }
      case 'items':
        return Object.entries(self);
      case 'keys':
        return Object.keys(self);
      case 'values':
        return Object.values(self);
    }
  }
  return fb();
}

/** `x is test` (Environment.TESTS). */
function compileTest(name: string): ((v: V) => boolean) | undefined {
  switch (name) {
    case 'boolean':
      return (v) => typeof v === 'boolean';
    case 'callable':
      return (v) => v instanceof Fn || v instanceof Bound;
    case 'odd':
      return (v) => (typeof v === 'number' && isInt(v) ? v % 2 !== 0 : fb());
    case 'even':
      return (v) => (typeof v === 'number' && isInt(v) ? v % 2 === 0 : fb());
    case 'false':
      return (v) => v === false;
    case 'true':
      return (v) => v === true;
    case 'none':
      return (v) => v === null;
    case 'string':
      return (v) => typeof v === 'string';
    case 'number':
      return (v) => typeof v === 'number';
    case 'integer':
      return (v) => typeof v === 'number' && isInt(v);
    case 'iterable':
      return (v) => typeof v === 'string' || (Array.isArray(v) && !isTuple(v)) || (j2 && v === undefined && jinja2Rule(true)); // a TupleValue's type is not "ArrayValue"
    case 'mapping':
      return (v) => isObjectValue(v);
    case 'sequence':
      return (v) => Array.isArray(v) || isObjectValue(v) || typeof v === 'string';
    case 'lower':
      return (v) => typeof v === 'string' && v === v.toLowerCase();
    case 'upper':
      return (v) => typeof v === 'string' && v === v.toUpperCase();
    case 'defined':
      return (v) => v !== undefined;
    case 'undefined':
      return (v) => v === undefined;
  }
  return undefined;
}

/** getAttributeValue: a dotted path into objects and arrays. */
function attributeValue(item: V, path: string): V {
  let v = item;
  for (const part of path.split('.')) {
    if (isPlainObject(v)) v = hasOwn.call(v, part) ? v[part] : undefined;
    else if (v instanceof Ns) v = v.m.get(part);
    else if (v instanceof Loop) return fb();
    else if (Array.isArray(v)) {
      const i = parseInt(part, 10);
      if (!isNaN(i) && i >= 0 && i < v.length) v = v[i];
      else return undefined;
    } else return undefined;
  }
  return v;
}

/** Thrown by compile* for a construct the compiler does not take: the template stays interpreted. */
class NotCompiled extends Error {}
const no = (what: string): never => {
  throw new NotCompiled(what);
};

interface Compiled {
  /** Positional argument closures and keyword argument closures of a call. */
  args: Expr[];
  kwargs: Array<[string, Expr]>;
}

class Compiler {
  compileArgs(nodes: Node[]): Compiled {
    const args: Expr[] = [];
    const kwargs: Array<[string, Expr]> = [];
    for (const a of nodes) {
      if (a.type === 'KeywordArgumentExpression') kwargs.push([(a.key as Node).value as string, this.expr(a.value as Node)]);
      else if (a.type === 'SpreadExpression' || a.type === 'KeywordSpreadExpression') no(a.type);
      else {
        if (kwargs.length > 0) no('a positional argument after a keyword argument');
        args.push(this.expr(a));
      }
    }
    return { args, kwargs };
  }

  expr(n: Node): Expr {
    switch (n.type) {
      case 'StringLiteral':
      case 'IntegerLiteral': {
        const v = n.value as V;
        return () => v;
      }
      case 'FloatLiteral': {
        const v = n.value as number;
        if (isInt(v)) no('a float literal with an integer value');
        return () => v;
      }
      case 'Identifier': {
        const name = n.value as string;
        if (name === '__proto__') no('__proto__');
        return (s) => s[name];
      }
      case 'ArrayLiteral':
      case 'TupleLiteral': {
        const items = (n.value as Node[]).map((x) => this.expr(x));
        const tuple = n.type === 'TupleLiteral';
        return (s) => {
          const a = items.map((f) => f(s));
          if (tuple) Object.defineProperty(a, TUPLE, { value: true });
          return a;
        };
      }
      case 'ObjectLiteral': {
        const entries = [...(n.value as Map<Node, Node>)].map(([k, v]) => [this.expr(k), this.expr(v)] as const);
        return (s) => {
          const o: Record<string, V> = {};
          for (const [k, v] of entries) {
            const key = k(s);
            if (typeof key !== 'string' || /^(0|[1-9][0-9]*)$/.test(key) || key === '__proto__') return fb(); // a Map keeps insertion order, an object puts index keys first
            o[key] = v(s);
          }
          return o;
        };
      }
      case 'BinaryExpression': {
        const op = (n.operator as Node).value as string;
        const l = this.expr(n.left as Node);
        const r = this.expr(n.right as Node);
        if (op === 'and') return (s) => {
          const a = l(s);
          return truthy(a) ? r(s) : a;
        };
        if (op === 'or') return (s) => {
          const a = l(s);
          return truthy(a) ? a : r(s);
        };
        if (op === '==') return (s) => {
          const a = l(s);
          const b = r(s);
          if (typeof a === 'string' && typeof b === 'string') return a === b;
          return binary(op, a, b);
        };
        if (op === '+') return (s) => {
          const a = l(s);
          const b = r(s);
          if (typeof a === 'string' && typeof b === 'string') return a + b;
          return binary(op, a, b);
        };
        return (s) => binary(op, l(s), r(s));
      }
      case 'UnaryExpression': {
        const op = (n.operator as Node).value as string;
        const a = this.expr(n.argument as Node);
        if (op === 'not') return (s) => !truthy(a(s));
        if (op === '-' || op === '+') {
          const sign = op === '-' ? -1 : 1;
          return (s) => {
            const v = a(s);
            if (typeof v === 'number') return sign * v; // an integer stays one; a non-integer float stays one
            if (typeof v === 'boolean') return sign * (v ? 1 : 0);
            return fb();
          };
        }
        return no(`unary ${op}`);
      }
      case 'Ternary': {
        const c = this.expr(n.condition as Node);
        const t = this.expr(n.trueExpr as Node);
        const f = this.expr(n.falseExpr as Node);
        return (s) => (truthy(c(s)) ? t(s) : f(s));
      }
      case 'SelectExpression': {
        const lhs = this.expr(n.lhs as Node);
        const test = this.expr(n.test as Node);
        return (s) => (truthy(test(s)) ? lhs(s) : undefined);
      }
      case 'TestExpression': {
        const name = (n.test as Node).value as string;
        const t = compileTest(name) ?? no(`test ${name}`);
        const a = this.expr(n.operand as Node);
        const neg = n.negate === true;
        return (s) => t(a(s)) !== neg;
      }
      case 'MemberExpression':
        return this.member(n);
      case 'CallExpression':
        return this.call(n);
      case 'FilterExpression': {
        const a = this.expr(n.operand as Node);
        return this.filter(a, n.filter as Node);
      }
    }
    return no(n.type);
  }

  member(n: Node): Expr {
    const obj = this.expr(n.object as Node);
    const prop = n.property as Node;
    if (n.computed) {
      if (prop.type === 'SliceExpression') {
        const part = (x: unknown) => (x ? this.expr(x as Node) : () => undefined);
        const [start, stop, step] = [part(prop.start), part(prop.stop), part(prop.step)];
        return (s) => {
          const o = obj(s);
          const a = start(s);
          const b = stop(s);
          const c = step(s);
          const ok = (x: V) => x === undefined || (typeof x === 'number' && isInt(x));
          if (!ok(a) || !ok(b) || !ok(c)) return fb();
          if (Array.isArray(o)) return slice(o, a as number | undefined, b as number | undefined, c as number | undefined);
          if (typeof o === 'string') return slice(Array.from(o), a as number | undefined, b as number | undefined, c as number | undefined).join('');
          return fb();
        };
      }
      const p = this.expr(prop);
      return (s) => member(obj(s), p(s));
    }
    if (prop.type !== 'Identifier' && prop.type !== 'IntegerLiteral') no(`member ${prop.type}`);
    const key = prop.value as string | number;
    return (s) => member(obj(s), key);
  }

  call(n: Node): Expr {
    const callee = n.callee as Node;
    const { args, kwargs } = this.compileArgs(n.args as Node[]);
    const evalArgs = (s: Scope) => args.map((f) => f(s));
    const evalKw = (s: Scope) => (kwargs.length === 0 ? undefined : new Map(kwargs.map(([k, f]) => [k, f(s)])));
    if (callee.type === 'MemberExpression' && !callee.computed && (callee.property as Node).type === 'Identifier') {
      const obj = this.expr(callee.object as Node);
      const name = (callee.property as Node).value as string;
      return (s) => {
        const a = evalArgs(s);
        const kw = evalKw(s);
        const o = obj(s);
        const m = member(o, name);
        if (m instanceof Bound) return kw ? fb() : callMethod(m.self, m.name, a);
        if (m instanceof Fn) return m.call(a, kw);
        // props.items() where props has a key "items" (a JSON schema property of that name): the
        // interpreter takes the key and cannot call it; jinja2 looks up the attribute first, the dict method
        if (!kw && isPlainObject(o) && OBJECT_METHODS.has(name) && name !== 'dictsort') return jinja2Rule(callMethod(o, name, a));
        return fb();
      };
    }
    const f = this.expr(callee);
    return (s) => {
      const a = evalArgs(s);
      const kw = evalKw(s);
      const fn = f(s);
      if (fn instanceof Fn) return fn.call(a, kw);
      if (fn instanceof Bound) return kw ? fb() : callMethod(fn.self, fn.name, a);
      return fb();
    };
  }

  filter(operand: Expr, f: Node): Expr {
    if (f.type === 'Identifier') {
      const name = f.value as string;
      const apply = simpleFilter(name);
      if (!apply) no(`filter ${name}`);
      return (s) => apply!(operand(s));
    }
    if (f.type !== 'CallExpression' || (f.callee as Node).type !== 'Identifier') return no('filter call');
    const name = (f.callee as Node).value as string;
    const { args, kwargs } = this.compileArgs(f.args as Node[]);
    const kw = (s: Scope) => new Map(kwargs.map(([k, x]) => [k, x(s)]));
    switch (name) {
      case 'tojson':
        if (args.length > 0) no('tojson with positional arguments');
        return (s) => {
          const v = operand(s);
          if (j2 && v === undefined) return fb(); // jinja2: json.dumps(Undefined) raises
          const k = kw(s);
          const indent = k.has('indent') ? k.get('indent') : null;
          if (!(indent === null || (typeof indent === 'number' && isInt(indent)))) return fb();
          const ensureAscii = k.has('ensure_ascii') ? k.get('ensure_ascii') : false;
          const sortKeys = k.has('sort_keys') ? k.get('sort_keys') : false;
          if (typeof ensureAscii !== 'boolean' || typeof sortKeys !== 'boolean') return fb();
          const sep = k.has('separators') ? k.get('separators') : null;
          let separators: [string, string] | null = null;
          if (Array.isArray(sep)) {
            if (sep.length !== 2 || typeof sep[0] !== 'string' || typeof sep[1] !== 'string') return fb();
            separators = [sep[0], sep[1]];
          } else if (sep !== null) return fb();
          if (!ensureAscii && !sortKeys && separators === null) {
            if (indent === null) return toJsonPlain(v, true);
            // JSON.stringify's indented text is toJSON's: "\n" + indent per level, "," + newline between items, ": " after keys, [] and {} when empty (it caps indent at 10)
            if (indent >= 1 && indent <= 10 && typeof v === 'object' && v !== null && isJsonData(v, 0)) return JSON.stringify(v, null, indent);
          }
          return toJson(v, { indent: indent as number | null, ensureAscii, sortKeys, separators }, 0, true);
        };
      case 'join':
        return (s) => {
          const v = operand(s);
          const a = args.map((x) => x(s));
          const k = kw(s);
          let parts: V[];
          if (typeof v === 'string') parts = Array.from(v);
          else if (Array.isArray(v)) parts = v.map((x) => (isScalar(x) ? x : fb()));
          else return fb();
          const sep = a.length > 0 ? a[0] : k.has('separator') ? k.get('separator') : '';
          if (typeof sep !== 'string') return fb();
          return parts.join(sep);
        };
      case 'default':
        return (s) => {
          const v = operand(s);
          const a = args.map((x) => x(s));
          const k = kw(s);
          const d = a.length > 0 ? a[0] : '';
          const bool = a.length > 1 ? a[1] : k.has('boolean') ? k.get('boolean') : false;
          if (typeof bool !== 'boolean') return fb();
          return v === undefined || (bool && !truthy(v)) ? d : v;
        };
      case 'int':
        return (s) => {
          const v = operand(s);
          const a = args.map((x) => x(s));
          const k = kw(s);
          const d = a.length > 0 ? a[0] : k.has('default') ? k.get('default') : 0;
          if (typeof v === 'string') {
            const x = parseInt(v, 10);
            return isNaN(x) ? d : x;
          }
          if (typeof v === 'number') return Math.trunc(v) + 0;
          if (typeof v === 'boolean') return v ? 1 : 0;
          return fb();
        };
      case 'selectattr':
      case 'rejectattr': {
        if (kwargs.length > 0 || (f.args as Node[]).some((x) => x.type !== 'StringLiteral')) no(`${name} with other than string arguments`);
        const [attr, testName, arg] = (f.args as Node[]).map((x) => x.value as string);
        if (attr === undefined || (f.args as Node[]).length > 3) no(`${name} arguments`);
        // with a value: the equalto / eq test, `a.value === b.value` (Mistral's templates: selectattr("role", "equalto", "user"))
        const test =
          arg !== undefined
            ? testName === 'equalto' || testName === 'eq'
              ? (v: V) => scalarValue(v) === arg
              : no(`${name} with test ${testName}`)
            : testName === undefined
              ? truthy
              : (compileTest(testName) ?? no(`test ${testName}`));
        const select = name === 'selectattr';
        return (s) => {
          const v = operand(s);
          if (!Array.isArray(v)) return fb();
          if (v.some((x) => !isAttrContainer(x))) return fb();
          return v.filter((item) => {
            if (!isPlainObject(item)) return fb();
            // Map.get(attr): a present key holds a runtime value, which is always truthy as an object
            const r = hasOwn.call(item, attr!) ? test(item[attr!]) : false;
            return select ? r : !r;
          });
        };
      }
      case 'map': {
        if (args.length > 0) no('map without attribute');
        return (s) => {
          const v = operand(s);
          const k = kw(s);
          if (!Array.isArray(v) || !k.has('attribute')) return fb();
          const attr = k.get('attribute');
          if (typeof attr !== 'string') return fb();
          const d = k.get('default');
          return v.map((item) => {
            if (!isAttrContainer(item)) return fb();
            const x = attributeValue(item, attr);
            return x === undefined ? d : x;
          });
        };
      }
      case 'replace':
        if (kwargs.length > 0 || args.length !== 2) no('replace with a count');
        return (s) => {
          const v = operand(s);
          return typeof v === 'string' ? callMethod(v, 'replace', args.map((x) => x(s))) : fb();
        };
      case 'indent':
        return (s) => {
          const v = operand(s);
          const a = args.map((x) => x(s));
          const k = kw(s);
          if (typeof v !== 'string') return fb();
          const width = a.length > 0 ? a[0] : k.has('width') ? k.get('width') : 4;
          const first = a.length > 1 ? a[1] : k.has('first') ? k.get('first') : false;
          const blank = a.length > 2 ? a[2] : k.has('blank') ? k.get('blank') : false;
          if (!((typeof width === 'number' && isInt(width)) || typeof width === 'string')) return fb();
          const ind = typeof width === 'string' ? width : ' '.repeat(Math.max(0, width));
          return v
            .split('\n')
            .map((x, i) => ((!truthyRaw(first) && i === 0) || (!truthyRaw(blank) && x.length === 0) ? x : ind + x))
            .join('\n');
        };
    }
    return no(`filter ${name}(...)`);
  }

  /** What was left uncompiled: each such statement hands its row to the interpreter when it runs. */
  readonly uncompiled = new Set<string>();

  block(nodes: Node[]): Block {
    const parts = nodes.map((n) => this.stmtOrFallback(n)).filter((p): p is Block => p !== undefined);
    if (parts.length === 0) return () => '';
    if (parts.length === 1) return parts[0]!;
    return (s) => {
      let out = '';
      for (let i = 0; i < parts.length; i++) out += parts[i]!(s);
      return out;
    };
  }

  /**
   * A statement the compiler does not take (or one with such an expression in it) becomes one that hands
   * the row to the interpreter when it runs: a template whose unusual parts sit in branches rows rarely
   * take (Llama 3.1's `reject` filter for builtin tools) renders every other row compiled.
   */
  stmtOrFallback(n: Node): Block | undefined {
    try {
      return this.stmt(n);
    } catch (e) {
      if (!(e instanceof NotCompiled)) throw e;
      this.uncompiled.add(e.message);
      return () => fb();
    }
  }

  stmt(n: Node): Block | undefined {
    switch (n.type) {
      case 'StringLiteral': {
        const v = n.value as string;
        return () => v;
      }
      case 'Comment':
        return undefined;
      case 'If': {
        const test = this.expr(n.test as Node);
        const body = this.block(n.body as Node[]);
        const alt = this.block(n.alternate as Node[]);
        return (s) => (truthy(test(s)) ? body(s) : alt(s));
      }
      case 'For':
        return this.for(n);
      case 'Set':
        return this.set(n);
      case 'Macro':
        return this.macro(n);
      case 'Break':
        return () => {
          throw BREAK;
        };
      case 'Continue':
        return () => {
          throw CONTINUE;
        };
      case 'CallStatement':
      case 'FilterStatement':
      case 'Program':
        return no(n.type);
    }
    const e = this.expr(n);
    return (s) => {
      const v = e(s);
      return v === null || v === undefined ? '' : outString(v);
    };
  }

  for(n: Node): Block {
    const loopvar = n.loopvar as Node;
    let names: string[];
    if (loopvar.type === 'Identifier') names = [loopvar.value as string];
    else if (loopvar.type === 'TupleLiteral') names = (loopvar.value as Node[]).map((x) => (x.type === 'Identifier' ? (x.value as string) : no('loop target')));
    else return no('loop target');
    if (names.includes('__proto__')) no('__proto__');
    const tuple = loopvar.type === 'TupleLiteral';
    const it = n.iterable as Node;
    const iterable = this.expr(it.type === 'SelectExpression' ? (it.lhs as Node) : it);
    const test = it.type === 'SelectExpression' ? this.expr(it.test as Node) : undefined;
    const body = this.block(n.body as Node[]);
    const otherwise = this.block(n.defaultBlock as Node[]);
    const bind = (scope: Scope, cur: V) => {
      if (!tuple) scope[names[0]!] = cur;
      else for (let j = 0; j < names.length; j++) scope[names[j]!] = (cur as V[])[j];
    };
    return (outer) => {
      const scope = Object.create(outer) as Scope;
      let src = iterable(scope);
      if (isPlainObject(src)) src = Object.keys(src);
      else if (j2 && src === undefined) src = jinja2Rule([]);
      else if (!Array.isArray(src)) return fb();
      const candidates = src as V[];
      let items: V[];
      if (!tuple && !test) items = candidates;
      else {
        items = [];
        for (const cur of candidates) {
          if (tuple) {
            if (!Array.isArray(cur) || isTuple(cur)) return fb();
            if (cur.length !== names.length) return fb();
          }
          if (test) {
            const ls = Object.create(scope) as Scope;
            bind(ls, cur);
            if (!truthy(test(ls))) continue;
          }
          items.push(cur);
        }
      }
      let out = '';
      const len = items.length;
      // as renderFor: an iteration ended by break / continue adds none of its text and does not count
      // as one for the else block (which runs when no iteration went to its end)
      let noIteration = true;
      for (let i = 0; i < len; i++) {
        scope.loop = new Loop(i, len, i > 0 ? items[i - 1] : undefined, i < len - 1 ? items[i + 1] : undefined, i > 0, i < len - 1);
        bind(scope, items[i]);
        try {
          out += body(scope);
        } catch (e) {
          if (e === CONTINUE) continue;
          if (e === BREAK) break;
          throw e;
        }
        noIteration = false;
      }
      if (noIteration) out += otherwise(scope);
      return out;
    };
  }

  set(n: Node): Block {
    const rhs: Expr = n.value ? this.expr(n.value as Node) : ((b) => (s: Scope) => b(s))(this.block(n.body as Node[]));
    const a = n.assignee as Node;
    if (a.type === 'Identifier') {
      const name = a.value as string;
      if (name === '__proto__') no('__proto__');
      return (s) => {
        s[name] = rhs(s);
        return '';
      };
    }
    if (a.type === 'TupleLiteral') {
      const names = (a.value as Node[]).map((x) => (x.type === 'Identifier' && x.value !== '__proto__' ? (x.value as string) : no('set target')));
      return (s) => {
        const v = rhs(s);
        if (!Array.isArray(v) || v.length !== names.length) return fb();
        for (let i = 0; i < names.length; i++) s[names[i]!] = v[i];
        return '';
      };
    }
    if (a.type === 'MemberExpression') {
      const obj = this.expr(a.object as Node);
      const prop = a.property as Node;
      if (prop.type !== 'Identifier') no('set target');
      const key = prop.value as string;
      return (s) => {
        const v = rhs(s);
        const o = obj(s);
        if (!(o instanceof Ns)) return fb();
        o.m.set(key, v);
        return '';
      };
    }
    return no('set target');
  }

  macro(n: Node): Block {
    const name = (n.name as Node).value as string;
    if (name === '__proto__') no('__proto__');
    if (readsSpecialArguments(n)) no('a macro reading varargs, kwargs or caller');
    const params = (n.args as Node[]).map((p) => {
      if (p.type === 'Identifier') return { name: p.value as string, dflt: undefined as Expr | undefined };
      if (p.type === 'KeywordArgumentExpression') return { name: (p.key as Node).value as string, dflt: this.expr(p.value as Node) };
      return no('macro parameter');
    });
    if (params.some((p) => p.name === '__proto__')) no('__proto__');
    const body = this.block(n.body as Node[]);
    return (defScope) => {
      defScope[name] = new Fn((args, kw) => {
        const scope = Object.create(defScope) as Scope;
        const left = new Map(kw ?? []);
        const pending: Array<[string, Expr]> = [];
        for (let i = 0; i < params.length; i++) {
          const p = params[i]!;
          let has = i < args.length;
          let v = has ? args[i] : undefined;
          if (!has && left.has(p.name)) {
            v = left.get(p.name);
            left.delete(p.name);
            has = true;
          }
          if (!has && p.dflt) pending.push([p.name, p.dflt]);
          scope[p.name] = v;
        }
        if (left.size > 0 || args.length > params.length) return fb();
        for (const [k, d] of pending) scope[k] = d(scope);
        return body(scope);
      });
      return '';
    };
  }
}

/** Whether a macro's body reads varargs, kwargs or caller (the interpreter then binds them). */
function readsSpecialArguments(n: Node): boolean {
  let found = false;
  const walk = (x: unknown): void => {
    if (found || x === null || typeof x !== 'object') return;
    if (Array.isArray(x)) return x.forEach(walk);
    if (x instanceof Map) return [...x].forEach(([k, v]) => (walk(k), walk(v)));
    const node = x as Node;
    if (node.type === 'Identifier' && (node.value === 'varargs' || node.value === 'kwargs' || node.value === 'caller')) found = true;
    for (const k of Object.keys(node)) if (k !== 'type') walk(node[k]);
  };
  walk(n.body);
  walk(n.args);
  return found;
}

const truthyRaw = (v: V): boolean => !!(v === null ? undefined : v); // `first.value` / `blank.value` of the indent filter

/** Filters without arguments (`x | name`). */
function simpleFilter(name: string): ((v: V) => V) | undefined {
  switch (name) {
    case 'safe':
      return (v) => v;
    case 'tojson':
      return (v) => (j2 && v === undefined ? fb() : toJsonPlain(v, true)); // jinja2: json.dumps(Undefined) raises
    case 'length':
      return (v) => {
        if (Array.isArray(v) || typeof v === 'string') return v.length;
        if (j2 && v === undefined) return jinja2Rule(0);
        if (isPlainObject(v)) {
          let n = 0;
          for (const k in v) if (hasOwn.call(v, k)) n++;
          return n;
        }
        return fb();
      };
    case 'trim':
      return (v) => (typeof v === 'string' ? v.trim() : j2 && v === undefined ? jinja2Rule('') : fb());
    case 'upper':
      return (v) => (typeof v === 'string' ? v.toUpperCase() : j2 && v === undefined ? jinja2Rule('') : fb());
    case 'lower':
      return (v) => (typeof v === 'string' ? v.toLowerCase() : j2 && v === undefined ? jinja2Rule('') : fb());
    case 'capitalize':
      return (v) => (typeof v === 'string' ? v.charAt(0).toUpperCase() + v.slice(1) : j2 && v === undefined ? jinja2Rule('') : fb());
    case 'first':
      return (v) => (Array.isArray(v) ? v[0] : fb());
    case 'last':
      return (v) => (Array.isArray(v) ? v[v.length - 1] : fb());
    case 'list':
      return (v) => (Array.isArray(v) ? v : j2 && v === undefined ? jinja2Rule([]) : fb());
    case 'reverse':
      return (v) => (Array.isArray(v) ? v.slice().reverse() : fb());
    case 'items':
      return (v) => (isPlainObject(v) ? Object.entries(v) : j2 && v === undefined ? jinja2Rule([]) : fb());
    case 'string':
      return (v) => {
        if (typeof v === 'string') return v;
        if (Array.isArray(v)) return toJson(v, undefined, 0, false);
        if (typeof v === 'number') return String(v);
        if (typeof v === 'boolean') return v ? 'true' : 'false';
        return fb();
      };
    case 'int':
      return (v) => {
        if (typeof v === 'string') {
          const x = parseInt(v, 10);
          return isNaN(x) ? 0 : x;
        }
        if (typeof v === 'number') return Math.trunc(v) + 0;
        if (typeof v === 'boolean') return v ? 1 : 0;
        return fb();
      };
    case 'join':
      return (v) => {
        if (typeof v === 'string') return v;
        if (Array.isArray(v)) return v.map((x) => (isScalar(x) ? x : fb())).join('');
        if (j2 && v === undefined) return jinja2Rule('');
        return fb();
      };
    case 'indent':
      return (v) => (typeof v === 'string' ? v.split('\n').map((x, i) => (i === 0 || x.length === 0 ? x : '    ' + x)).join('\n') : fb());
  }
  return undefined;
}

function slice(a: V[], start: number | undefined, stop: number | undefined, step = 1): V[] {
  const dir = Math.sign(step);
  let s: number;
  let e: number;
  if (dir >= 0) {
    s = (start ??= 0) < 0 ? Math.max(a.length + start, 0) : Math.min(start, a.length);
    e = (stop ??= a.length) < 0 ? Math.max(a.length + stop, 0) : Math.min(stop, a.length);
  } else {
    s = (start ??= a.length - 1) < 0 ? Math.max(a.length + start, -1) : Math.min(start, a.length - 1);
    e = (stop ??= -1) < -1 ? Math.max(a.length + stop, -1) : Math.min(stop, a.length - 1);
  }
  const out: V[] = [];
  for (let i = s; dir * i < dir * e; i += step) out.push(a[i]);
  return out;
}

function range(args: V[], kw: Map<string, V> | undefined): V {
  if (kw || args.length === 0 || args.length > 3 || args.some((x) => typeof x !== 'number' || !isInt(x))) return fb();
  let [start, stop, step = 1] = args as number[];
  if (stop === undefined) {
    stop = start!;
    start = 0;
  }
  if (step === 0) return fb();
  const out: number[] = [];
  if (step > 0) for (let i = start!; i < stop; i += step) out.push(i);
  else for (let i = start!; i > stop; i += step) out.push(i);
  return out;
}

function namespace(args: V[], kw: Map<string, V> | undefined): V {
  if (args.length > 1) return fb();
  const m = new Map<string, V>();
  if (args.length === 1) {
    const src = args[0];
    if (isPlainObject(src)) for (const k of Object.keys(src)) m.set(k, src[k]);
    else return fb();
  }
  if (kw) for (const [k, v] of kw) m.set(k, v);
  return new Ns(m);
}

const MONTH_SHORT = new Intl.DateTimeFormat(undefined, { month: 'short' });
const MONTH_LONG = new Intl.DateTimeFormat(undefined, { month: 'long' });
/** The interpreter's strftime (its strftime_now global): %Y %m %d %b %B %H %M %%, local time. */
function strftime(d: Date, format: string): string {
  const pad2 = (n: number) => (n < 10 ? '0' + n : n.toString());
  return format.replace(/%[YmdbBHM%]/g, (t) => {
    switch (t) {
      case '%Y':
        return d.getFullYear().toString();
      case '%m':
        return pad2(d.getMonth() + 1);
      case '%d':
        return pad2(d.getDate());
      case '%b':
        return MONTH_SHORT.format(d);
      case '%B':
        return MONTH_LONG.format(d);
      case '%H':
        return pad2(d.getHours());
      case '%M':
        return pad2(d.getMinutes());
      default:
        return '%';
    }
  });
}

/** The globals the interpreter's setupGlobals declares, as the root scope's prototype. */
const GLOBALS: Scope = Object.assign(Object.create(null) as Scope, {
  false: false,
  true: true,
  none: null,
  False: false,
  True: true,
  None: null,
  namespace: new Fn(namespace),
  range: new Fn(range),
  raise_exception: new Fn(() => fb()),
  strftime_now: new Fn((args, kw) => (kw || args.length !== 1 || typeof args[0] !== 'string' ? fb() : strftime(new Date(), args[0]))),
});

/**
 * A compiled chat template: renders a context (messages, tools, ...) or throws FALLBACK. `jinja2` is true
 * when the row took a jinja2 rule where the interpreter raises (see the top of this file). mode 'jinja2'
 * renders with jinja2's Undefined (see `j2`): for a row the interpreter raises on, which jinja2 may render.
 * tests/export/real-templates.test.ts compares such rows with jinja2.
 */
export type CompiledTemplate = (context: Record<string, unknown>, mode?: 'interpreter' | 'jinja2') => { text: string; jinja2: boolean };

/**
 * Compiles a parsed template. A statement the compiler does not take is listed in `uncompiled` and hands
 * each row that runs it to the interpreter (FALLBACK).
 */
export function compileTemplate(t: Template): { render: CompiledTemplate; uncompiled: string[] } {
  const compiler = new Compiler();
  const body = compiler.block((t.parsed as unknown as Node).body as Node[]);
  return {
    uncompiled: [...compiler.uncompiled],
    render: (context, mode = 'interpreter') => {
      const scope = Object.create(GLOBALS) as Scope;
      for (const k of Object.keys(context)) {
        if (k === '__proto__') fb();
        scope[k] = context[k];
      }
      usedJinja2Rule = false;
      j2 = mode === 'jinja2';
      try {
        const text = body(Object.create(scope) as Scope);
        return { text, jinja2: usedJinja2Rule };
      } catch (e) {
        throw e === FALLBACK ? e : FALLBACK; // any error: the interpreter renders the row or says why not
      } finally {
        j2 = false;
      }
    },
  };
}
