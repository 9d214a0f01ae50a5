import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { canonicalJson } from './canonical-json.js';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule.default;

/** A tool's parameters schema, compiled once: a validator, or why it does not compile. */
export type CompiledSchema = { ok: true; validate: ValidateFunction } | { ok: false; error: string };

/**
 * Compiles LLM-written JSON Schemas with ajv and keeps the results in an LRU keyed by the schema's
 * canonical JSON, so a tool defined by many trajectories (same schema, any key order) compiles once.
 * Failures are cached too.
 *
 * LLM schemas are sloppy, so ajv runs with strict:false (unknown keywords such as `example` and
 * unknown formats such as `currency` are ignored) and every schema is read as draft-07, ajv's
 * default: the top-level `$schema` and `$id` are dropped before compiling, because models name
 * drafts loosely and an `$id` would clash across tools. Meta-schema violations (a `type` of "text",
 * a `required` that is not an array, ...) and unresolvable `$ref`s still fail.
 *
 * Memory: an Ajv instance keeps every schema it ever compiled (its code-generation scope holds each
 * schema and validator; `removeSchema` does not release them), so one long-lived instance grows by
 * ~10 KB per distinct schema. Instead each Ajv instance compiles at most `maxEntries` schemas; then a
 * fresh one takes over and entries compiled two generations ago are dropped, which leaves at most
 * two instances reachable.
 *
 * Cost: compiling (code generation + `new Function`) is the expensive part, hundreds of µs per
 * schema; validating with a compiled schema takes about a µs. `code.optimize: false` skips ajv's
 * output optimisation passes, which cost more than they save for code that runs a few times.
 */
export class SchemaValidatorCache {
  private readonly entries = new Map<string, { compiled: CompiledSchema; generation: number }>();
  private ajv = newAjv();
  private generation = 0;
  private compiledInGeneration = 0;

  constructor(private readonly maxEntries = 1024) {}

  get(schema: Record<string, unknown>): CompiledSchema {
    const key = canonicalJson(schema);
    const hit = this.entries.get(key);
    if (hit) {
      // Re-insert to mark as most recently used (Map iterates in insertion order).
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.compiled;
    }
    if (this.compiledInGeneration >= this.maxEntries) this.rotate();
    this.compiledInGeneration++;
    // A private copy, so the caller's object is not retained.
    const own = JSON.parse(key) as Record<string, unknown>;
    delete own.$schema;
    delete own.$id;
    const compiled = this.compile(own);
    this.entries.set(key, { compiled, generation: this.generation });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return compiled;
  }

  get size(): number {
    return this.entries.size;
  }

  private compile(schema: Record<string, unknown>): CompiledSchema {
    try {
      return { ok: true, validate: this.ajv.compile(schema) };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private rotate(): void {
    this.ajv = newAjv();
    this.generation++;
    this.compiledInGeneration = 0;
    for (const [key, entry] of this.entries) {
      if (entry.generation < this.generation - 1) this.entries.delete(key);
    }
  }
}

function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, addUsedSchema: false, code: { optimize: false } });
  addFormats(ajv);
  return ajv;
}
