import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import type { ConfigIssue } from '../config/interpolate-env.js';
import { GemflowError } from '../errors.js';
import type { ItemKind, StepType } from './step.js';

/** One entry of a pipeline's `steps:` list as written (plus where it was written, for messages). */
export interface StepSpec {
  id: string;
  type: string;
  /** A module exporting the step type as default (a path, relative to the pipeline file). */
  module?: string;
  [key: string]: unknown;
}

/** A step spec checked against its type: ready to create. */
export interface PlannedStep {
  id: string;
  type: StepType<unknown>;
  config: unknown;
}

const ID = /^[a-z][a-z0-9_]*$/;

/**
 * Step types by name. The composition root (src/compose.ts) registers the built-in ones; a pipeline
 * names others with `module:`. plan() checks a list of specs and reports every problem at once, with
 * its path: unknown types, duplicate ids, config errors (unknown keys included), and items that do not
 * flow (a step taking trajectories after one that makes documents; a list that does not start with
 * documents or end with rows).
 */
export class StepRegistry {
  readonly #types = new Map<string, StepType<unknown>>();

  constructor(types: Iterable<StepType<any>> = []) {
    for (const t of types) this.register(t);
  }

  register(t: StepType<any>): void {
    if (this.#types.has(t.type)) throw new GemflowError('config_invalid', `step type ${t.type} is registered twice`);
    this.#types.set(t.type, t);
  }

  types(): StepType<unknown>[] {
    return [...this.#types.values()];
  }

  /**
   * `paths[i]` names where spec i was written (default `steps[i]`); module paths resolve against baseDir.
   */
  async plan(specs: StepSpec[], opts: { baseDir?: string; paths?: string[] } = {}): Promise<PlannedStep[]> {
    const issues: ConfigIssue[] = [];
    const planned: Array<PlannedStep | undefined> = [];
    const ids = new Map<string, number>();
    for (const [i, spec] of specs.entries()) {
      const at = opts.paths?.[i] ?? `steps[${i}]`;
      const { id, type, module, ...rest } = spec;
      if (typeof id !== 'string' || !ID.test(id)) issues.push({ path: `${at}.id`, message: `a step id is lower_snake_case (letters, digits, _), got ${JSON.stringify(id)}` });
      else if (ids.has(id)) issues.push({ path: `${at}.id`, message: `duplicate step id "${id}" (also at ${opts.paths?.[ids.get(id)!] ?? `steps[${ids.get(id)}]`})` });
      else ids.set(id, i);
      let t: StepType<unknown> | undefined;
      if (module !== undefined) {
        try {
          t = await loadModule(String(module), opts.baseDir);
          if (t.type !== type) issues.push({ path: `${at}.type`, message: `module ${module} defines step type "${t.type}", not "${type}"` });
        } catch (e) {
          issues.push({ path: `${at}.module`, message: (e as Error).message });
        }
      } else {
        t = this.#types.get(String(type));
        if (!t) issues.push({ path: `${at}.type`, message: `unknown step type ${JSON.stringify(type)}; known: ${[...this.#types.keys()].join(', ')} (or name a module with module:)` });
      }
      if (!t) {
        planned.push(undefined);
        continue;
      }
      const parsed = t.config.safeParse(rest);
      if (!parsed.success) issues.push(...parsed.error.issues.flatMap((x) => toIssues(x, at)));
      planned.push(parsed.success ? { id: String(id), type: t, config: parsed.data } : undefined);
    }
    // Items must flow: documents in, rows out, each step taking what the one before makes.
    let kind: ItemKind = 'document';
    for (const [i, p] of planned.entries()) {
      const at = opts.paths?.[i] ?? `steps[${i}]`;
      if (!p) return fail(issues); // the kinds after an unknown step are unknown
      if (p.type.input !== kind) issues.push({ path: at, message: `step "${p.id}" (${p.type.type}) takes ${p.type.input} items, but ${i === 0 ? 'a pipeline starts with' : 'the step before it makes'} ${kind} items` });
      kind = p.type.output;
    }
    if (specs.length === 0) issues.push({ path: 'steps', message: 'a pipeline needs at least one step' });
    else if (kind !== 'row') issues.push({ path: opts.paths?.[specs.length - 1] ?? `steps[${specs.length - 1}]`, message: `the last step must make rows (e.g. type stats), but it makes ${kind} items` });
    if (issues.length > 0) fail(issues);
    return planned as PlannedStep[];
  }
}

async function loadModule(path: string, baseDir: string | undefined): Promise<StepType<unknown>> {
  const file = isAbsolute(path) ? path : resolve(baseDir ?? process.cwd(), path);
  let mod: { default?: StepType<unknown> };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: StepType<unknown> };
  } catch (e) {
    throw new Error(`cannot load step module ${file}: ${(e as Error).message}`);
  }
  const t = mod.default;
  if (!t || typeof t.type !== 'string' || typeof t.create !== 'function' || !t.config || typeof (t.config as z.ZodType).safeParse !== 'function') {
    throw new Error(`step module ${file} must export default a step type ({ type, description, input, output, config: zod schema, create })`);
  }
  return t;
}

function toIssues(issue: z.core.$ZodIssue, at: string): ConfigIssue[] {
  const path = [at, ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ path: `${path}.${k}`, message: 'unknown key' }));
  return [{ path, message: issue.message }];
}

function fail(issues: ConfigIssue[]): never {
  const lines = issues.map((i) => `  - ${i.path}: ${i.message}`);
  throw new GemflowError('config_invalid', [`invalid steps (${issues.length} problem${issues.length === 1 ? '' : 's'}):`, ...lines].join('\n'), { detail: { issues } });
}
