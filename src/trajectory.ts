import { z } from 'zod';
import { ObjectMemo } from './object-memo.js';

/**
 * The data model every LLM stage speaks: tool definitions, messages and trajectories (GEM's
 * "multi-turn tool-use trajectory"). Stage output schemas in operators/ are built from these, and the
 * JSON Schema sent as `response_format` is derived from them with z.toJSONSchema.
 */

/** A JSON Schema object (the LLM writes it; ajv checks it in validate). */
export const JsonSchemaObject = z.record(z.string(), z.unknown());

export const ToolDef = z.object({
  name: z.string().min(1).describe('short general snake_case name, one job per tool'),
  description: z.string().min(1),
  parameters: JsonSchemaObject.describe('JSON Schema of the arguments: {"type":"object","properties":{...},"required":[...]}'),
});
export type ToolDef = z.infer<typeof ToolDef>;

export const ToolCall = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()),
});
export type ToolCall = z.infer<typeof ToolCall>;

export const Message = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  /** assistant only: the calls this turn makes (may be empty). */
  toolCalls: z.array(ToolCall).optional(),
  /** tool only: the id of the call this message answers. */
  toolCallId: z.string().optional(),
  /** tool only: the tool's name. */
  name: z.string().optional(),
});
export type Message = z.infer<typeof Message>;

export const Workflow = z.object({
  name: z.string().min(1),
  description: z.string().min(1),
  steps: z.array(z.string()).min(1),
  /** e.g. "(a)->(b,c)->(d)": step letters, parallel branches in one group. */
  executionGraph: z.string().min(1),
  exampleActions: z.array(z.string()),
  tools: z.array(ToolDef).min(1),
});
export type Workflow = z.infer<typeof Workflow>;

export const InteractionPattern = z.enum([
  'rule_vs_need_conflict',
  'error_recovery',
  'clarification',
  'multi_hop_reasoning',
  'rule_awareness',
]);
export type InteractionPattern = z.infer<typeof InteractionPattern>;

export const Trajectory = z.object({
  tools: z.array(ToolDef).min(1),
  messages: z.array(Message).min(3),
  patterns: z.array(InteractionPattern),
});
export type Trajectory = z.infer<typeof Trajectory>;

/**
 * Parsing the LLM's answers without zod's interpreter: each `parse*` below returns exactly what the
 * zod schema of the same name returns for an input the schema accepts (new objects with the schema's
 * keys in the schema's order, unknown keys dropped, new arrays, record values shared), and undefined
 * for anything else or anything it is not sure about, such as a `__proto__` or `constructor` key (zod
 * then decides, and words the errors). Tested against zod in tests/src/fast-parse.test.ts.
 */
export type FastParse<T> = (value: unknown) => T | undefined;

/**
 * `schema` with `safeParse` and `parse` trying `fast` first (on this instance only; its JSON Schema,
 * its error messages and every schema built from it are zod's own).
 */
export function withFastParse<S extends z.ZodType>(schema: S, fast: FastParse<z.output<S>>): S {
  const slowSafe = schema.safeParse.bind(schema);
  const slow = schema.parse.bind(schema);
  return Object.assign(schema, {
    safeParse: (value: unknown, params?: z.core.ParseContext<z.core.$ZodIssue>): z.ZodSafeParseResult<z.output<S>> => {
      const data = fast(value);
      return data !== undefined ? { success: true, data } : slowSafe(value, params);
    },
    parse: (value: unknown, params?: z.core.ParseContext<z.core.$ZodIssue>): z.output<S> => {
      const data = fast(value);
      return data !== undefined ? data : slow(value, params);
    },
  });
}

type Obj = Record<string, unknown>;

/** A value z.object accepts as an object. */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** z.string() (with `.min(min)`). */
export const isStr = (v: unknown, min = 0): v is string => typeof v === 'string' && v.length >= min;

/** z.record(z.string(), z.unknown()): a shallow copy of a plain JSON object. */
export function parseRecord(v: unknown): Obj | undefined {
  if (!isObj(v) || Object.getPrototypeOf(v) !== Object.prototype) return undefined;
  const out: Obj = {};
  for (const k of Object.keys(v)) {
    if (k === '__proto__' || k === 'constructor') return undefined;
    out[k] = v[k];
  }
  return out;
}

/** z.array(item) with `.min(min)`: a new array of the parsed items. */
export function parseArray<T>(v: unknown, item: FastParse<T>, min = 0): T[] | undefined {
  if (!Array.isArray(v) || v.length < min) return undefined;
  const out = new Array<T>(v.length);
  for (let i = 0; i < v.length; i++) {
    const r = item(v[i]);
    if (r === undefined) return undefined;
    out[i] = r;
  }
  return out;
}

/** z.array(z.string()) with `.min(min)`. */
export const parseStrings = (v: unknown, min = 0): string[] | undefined => parseArray(v, (s) => (typeof s === 'string' ? s : undefined), min);

function parseToolDef(v: unknown): ToolDef | undefined {
  if (!isObj(v) || !isStr(v.name, 1) || !isStr(v.description, 1)) return undefined;
  const parameters = parseRecord(v.parameters);
  return parameters && { name: v.name, description: v.description, parameters };
}

function parseToolCall(v: unknown): ToolCall | undefined {
  if (!isObj(v) || !isStr(v.id, 1) || !isStr(v.name, 1)) return undefined;
  const args = parseRecord(v.arguments);
  return args && { id: v.id, name: v.name, arguments: args };
}

const ROLES: ReadonlySet<unknown> = new Set(Message.shape.role.options);

function parseMessage(v: unknown): Message | undefined {
  if (!isObj(v) || !ROLES.has(v.role) || !isStr(v.content)) return undefined;
  const out: Message = { role: v.role as Message['role'], content: v.content };
  // Optional keys: present in the output when present in the input (undefined stays undefined).
  if ('toolCalls' in v) {
    if (v.toolCalls === undefined) out.toolCalls = undefined;
    else if ((out.toolCalls = parseArray(v.toolCalls, parseToolCall)) === undefined) return undefined;
  }
  for (const k of ['toolCallId', 'name'] as const) {
    if (!(k in v)) continue;
    const x = v[k];
    if (x !== undefined && typeof x !== 'string') return undefined;
    out[k] = x;
  }
  return out;
}

/** Same as Workflow.parse for what Workflow accepts; undefined otherwise. */
export function parseWorkflow(v: unknown): Workflow | undefined {
  if (!isObj(v) || !isStr(v.name, 1) || !isStr(v.description, 1)) return undefined;
  const steps = parseStrings(v.steps, 1);
  if (!steps || !isStr(v.executionGraph, 1)) return undefined;
  const exampleActions = parseStrings(v.exampleActions);
  const tools = exampleActions && parseArray(v.tools, parseToolDef, 1);
  return tools && { name: v.name, description: v.description, steps, executionGraph: v.executionGraph, exampleActions: exampleActions!, tools };
}

const PATTERNS: ReadonlySet<unknown> = new Set(InteractionPattern.options);

/** Same as Trajectory.parse for what Trajectory accepts; undefined otherwise. */
export function parseTrajectory(v: unknown): Trajectory | undefined {
  if (!isObj(v)) return undefined;
  const tools = parseArray(v.tools, parseToolDef, 1);
  const messages = tools && parseArray(v.messages, parseMessage, 3);
  const patterns = messages && parseArray(v.patterns, (p) => (PATTERNS.has(p) ? (p as InteractionPattern) : undefined));
  return patterns && { tools: tools!, messages: messages!, patterns };
}

/** contentJson's answer for a content that is not complete JSON. */
export const NOT_JSON: unique symbol = Symbol('not JSON');

/** Parsed contents, on the message objects (see contentJson). */
const parsedContents = new ObjectMemo<Message, { content: string; value: unknown }>('gemflow.parsedContent');

/**
 * A message's content parsed as JSON, or NOT_JSON: parsed once per message object, since validation
 * (is a tool reply complete JSON?) and the complexity statistics (what does it say?) both read tool
 * replies. The value is shared: read it, never change it.
 */
export function contentJson(m: Message): unknown {
  const known = parsedContents.get(m);
  if (known !== undefined && known.content === m.content) return known.value;
  let value: unknown;
  try {
    value = JSON.parse(m.content) as unknown;
  } catch {
    value = NOT_JSON;
  }
  parsedContents.set(m, { content: m.content, value });
  return value;
}

/**
 * Gives the tool replies of `to` the parsed contents already known for `from`'s tool replies with the
 * same text: refine restates most of ground's replies verbatim, so each reply text is parsed once for
 * both checks (and the statistics) instead of once per message object. A reply of `to` whose text
 * `from` does not have (or has unparsed) is left alone and parsed when it is read. Values are shared:
 * read them, never change them.
 */
export function shareContentJson(from: readonly Message[], to: readonly Message[]): void {
  let known: Map<string, unknown> | undefined;
  for (const m of from) {
    if (m.role !== 'tool') continue;
    const p = parsedContents.get(m);
    if (p !== undefined && p.content === m.content) (known ??= new Map()).set(p.content, p.value);
  }
  if (known === undefined) return;
  for (const m of to) {
    if (m.role !== 'tool' || parsedContents.has(m)) continue;
    // A parsed value is never undefined (JSON.parse gives none; a bad text is NOT_JSON).
    const value = known.get(m.content);
    if (value !== undefined) parsedContents.set(m, { content: m.content, value });
  }
}

/** What the pipeline carries per workflow once a trajectory exists. */
export interface TrajectoryRecord {
  /** Deterministic: hash of document id + workflow index (+ stage versions). */
  trajectoryId: string;
  documentId: string;
  workflowIndex: number;
  workflow: Workflow;
  trajectory: Trajectory;
  /** stage id -> prompt version, e.g. {extract: "extract.v1", ground: "ground.v1"} */
  promptVersions: Record<string, string>;
  /** stage id -> model name */
  models: Record<string, string>;
  promptTokens: number;
  completionTokens: number;
  /** refine's extra structure, when refine ran */
  policy?: unknown;
  userProfile?: unknown;
  judge?: unknown;
}
