import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { canonicalJson } from './canonical-json.js';
import { compileSubsetSchema } from './subset-schema.js';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule.default;

/** Every keyword ajv (with ajv-formats) acts on; the subset checker ignores all others, as ajv does. */
export const AJV_KEYWORDS: ReadonlySet<string> = new Set(Object.keys(newAjv().RULES.keywords));

/** One reason a value fails a schema; ajv's ErrorObject has this shape too. */
export interface SchemaError {
  /** JSON Pointer to the offending value, "" for the root. */
  instancePath: string;
  message?: string;
}

/** Checks a value; after a false return, `errors` says why (the shape of ajv's ValidateFunction). */
export interface ArgumentValidator {
  (value: unknown): boolean;
  errors?: SchemaError[] | null;
}

/**
 * A tool's parameters schema, compiled once: a validator and the engine behind it, or why the schema
 * does not compile.
 */
export type CompiledSchema = { ok: true; validate: ArgumentValidator; engine: 'subset' | 'ajv' } | { ok: false; error: string };

export interface SchemaValidatorCacheOptions {
  /** Check schemas within the common subset with the interpreted checker (default true); false = ajv only. */
  subset?: boolean;
}

/**
 * Compiles LLM-written JSON Schemas and keeps the results in an LRU keyed by the schema's canonical
 * JSON, so a tool defined by many trajectories (same schema, any key order) compiles once. Failures
 * are cached too.
 *
 * Two engines. In GEM every document's extract step writes its own tools, so most schemas are seen
 * once, and an ajv compile (code generation + `new Function`, hundreds of µs) costs more than the
 * rest of validation. A schema that keeps to the subset LLM tool schemas use (see subset-schema.ts)
 * is prepared by one walk over it and interpreted instead; any other schema, and any schema whose
 * subset keywords are malformed, goes to ajv, which also reports why a schema is invalid. The choice
 * is made once per schema and cached with it.
 *
 * LLM schemas are sloppy, so ajv runs with strict:false (unknown keywords such as `example` and
 * unknown formats such as `currency` are ignored; the subset checker ignores keywords ajv does not
 * know) and every schema is read as draft-07, ajv's default: the top-level `$schema` and `$id` are
 * dropped before compiling, because models name drafts loosely and an `$id` would clash across
 * tools. Meta-schema violations (a `type` of "text", a `required` that is not an array, ...) and
 * unresolvable `$ref`s still fail.
 *
 * Memory: an Ajv instance keeps every schema it ever compiled (its code-generation scope holds each
 * schema and validator; `removeSchema` does not release them), so one long-lived instance grows by
 * ~10 KB per distinct schema. Instead each Ajv instance compiles at most `maxEntries` schemas; then a
 * fresh one takes over and entries compiled two generations ago are dropped, which leaves at most
 * two instances reachable. Subset entries hold no Ajv and only leave by LRU eviction.
 *
 * Cost: `code.optimize: false` skips ajv's output optimisation passes, which cost more than they
 * save for code that runs a few times.
 */
export class SchemaValidatorCache {
  /** generation: the Ajv instance that compiled the entry; undefined for subset entries. */
  private readonly entries = new Map<string, { compiled: CompiledSchema; generation?: number }>();
  /**
   * JSON.stringify of a schema -> its canonical JSON: the same tool is checked several times (ground,
   * refine, validate), mostly with its keys in the same order, and the native serialisation costs a
   * fraction of the canonical one. Equal JSON text means equal canonical JSON (schemas are JSON data),
   * so this only skips work; it is bounded like the entries (oldest dropped first).
   */
  private readonly canonicalOf = new Map<string, string>();
  private ajv = newAjv();
  private generation = 0;
  private compiledInGeneration = 0;
  private readonly subset: boolean;

  constructor(
    private readonly maxEntries = 1024,
    options: SchemaValidatorCacheOptions = {},
  ) {
    this.subset = options.subset ?? true;
  }

  get(schema: Record<string, unknown>): CompiledSchema {
    const text = JSON.stringify(schema);
    let key = this.canonicalOf.get(text);
    if (key === undefined) {
      key = canonicalJson(schema);
      this.canonicalOf.set(text, key);
      if (this.canonicalOf.size > this.maxEntries) this.canonicalOf.delete(this.canonicalOf.keys().next().value!);
    }
    const hit = this.entries.get(key);
    if (hit) {
      // Re-insert to mark as most recently used (Map iterates in insertion order).
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.compiled;
    }
    // A private copy, so the caller's object is not retained.
    const own = JSON.parse(key) as Record<string, unknown>;
    delete own.$schema;
    delete own.$id;
    const validate = this.subset ? compileSubsetSchema(own, AJV_KEYWORDS) : undefined;
    const entry = validate ? { compiled: { ok: true, validate, engine: 'subset' } as const } : this.compileWithAjv(own);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return entry.compiled;
  }

  get size(): number {
    return this.entries.size;
  }

  private compileWithAjv(schema: Record<string, unknown>): { compiled: CompiledSchema; generation: number } {
    if (this.compiledInGeneration >= this.maxEntries) this.rotate();
    this.compiledInGeneration++;
    let compiled: CompiledSchema;
    try {
      compiled = { ok: true, validate: this.ajv.compile(schema), engine: 'ajv' };
    } catch (e) {
      compiled = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    return { compiled, generation: this.generation };
  }

  private rotate(): void {
    this.ajv = newAjv();
    this.generation++;
    this.compiledInGeneration = 0;
    for (const [key, entry] of this.entries) {
      if (entry.generation !== undefined && entry.generation < this.generation - 1) this.entries.delete(key);
    }
  }
}

/**
 * Equal JSON data: the same primitives (===), arrays of equal elements, objects with the same own
 * enumerable keys (in any order) holding equal values. Implies equal canonical JSON, so the same
 * compiled schema; false for anything it cannot be sure of (NaN, an inherited key).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k) || !Object.hasOwn(y, k) || !sameJson(x[k], y[k])) return false;
    n++;
  }
  for (const k in y) if (Object.hasOwn(y, k)) n--;
  return n === 0;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, addUsedSchema: false, code: { optimize: false } });
  addFormats(ajv);
  return ajv;
}
