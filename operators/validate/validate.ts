import { ObjectMemo } from '../../src/object-memo.js';
import { contentJson, NOT_JSON, shareContentJson, Trajectory, type Message, type ToolCall, type ToolDef } from '../../src/trajectory.js';
import { SchemaValidatorCache, sameJson, type CompiledSchema, type SchemaError } from './schema-validator-cache.js';

/** Stable rule ids; each is a `rejected{rule}` counter. */
export const VIOLATION_RULES = [
  /** Shape issues (what the zod schema rejects), or a field on a role that cannot carry it. */
  'schema',
  /** A tool's `parameters` does not compile as a JSON Schema, or does not describe an object. */
  'tool_schema_invalid',
  'tool_duplicate_name',
  /** A call names no defined tool. */
  'unknown_tool',
  /** A call's arguments fail its tool's JSON Schema. */
  'arguments_invalid',
  /** Two calls in the trajectory share an id. */
  'call_id_duplicate',
  /** messages[0] is not a system message. */
  'first_not_system',
  /** The dialogue does not open with a user turn right after the system prompt. */
  'no_user_turn',
  /** A system message after the first message. */
  'system_not_first',
  /** A user or tool message follows a user message. */
  'after_user_or_tool_not_assistant',
  /** An assistant message follows an assistant message without calls. */
  'consecutive_assistant',
  /** A tool message follows an assistant message without calls. */
  'tool_after_text_assistant',
  /** A tool reply's toolCallId names none of the preceding assistant turn's calls. */
  'tool_reply_unmatched',
  /** Calls not answered exactly once, in call order, right after the call turn, with the call's tool name. */
  'missing_tool_reply',
  /** A user message right after a tool reply (the assistant must speak first). */
  'user_after_tool',
  /** The dialogue does not end with an assistant message without calls. */
  'last_not_assistant',
  /** Blank content where content is required: system, user, assistant without calls. */
  'empty_content',
  /** A tool reply's content is not complete JSON. */
  'tool_reply_not_json',
] as const;
export type ViolationRule = (typeof VIOLATION_RULES)[number];

export interface Violation {
  rule: ViolationRule;
  message: string;
  /** The offending message, when the violation is about one. */
  messageIndex?: number;
}

const sharedCache = new SchemaValidatorCache();

/**
 * Verdicts already given with the shared cache, by trajectory object: the validate step checks the
 * very object the refine (or synthesize) stage's check validated a moment before. Trajectories are
 * not changed in place once made (a step that changes one emits a new object), and a verdict depends
 * only on the trajectory, so a second check of the same object returns the first one's result.
 */
const verdicts = new ObjectMemo<Trajectory, { violations: readonly Violation[]; schemas: ReadonlyMap<string, CompiledSchema> }>('gemflow.verdict');

/**
 * Compiled schemas a trajectory takes over from the one it restates (see shareChecks), by its tool
 * objects; used by a check with the shared cache.
 */
const adopted = new ObjectMemo<Trajectory, Map<ToolDef, CompiledSchema>>('gemflow.adoptedSchemas');

export interface ValidateOptions {
  /**
   * `t` came out of a zod parse with the Trajectory schema (a stage's output parsed by a schema that
   * embeds it), so its shape is known to be valid and is not parsed again.
   */
  parsed?: boolean;
}

/**
 * Checks one trajectory: its tools' JSON Schemas, every call against them, and the turn grammar
 *
 *   dialogue := system round+        round  := user step* answer
 *   step     := assistant-with-calls, then one tool reply per call, in call order
 *   answer   := assistant without calls
 *
 * Returns every violation found (empty = valid), tool-level ones first, then by message index.
 * Data that fails the zod shape is reported as `schema` only, since the other checks assume the
 * shape. `cache` holds compiled schemas; by default one shared by the whole process (and then a
 * trajectory object checked before gets the same verdict without a second check).
 */
export function validateTrajectory(t: Trajectory, cache: SchemaValidatorCache = sharedCache, opts: ValidateOptions = {}): Violation[] {
  const memo = cache === sharedCache;
  const known = memo ? verdicts.get(t) : undefined;
  if (known) return known.violations.map((v) => ({ ...v }));
  const { violations, schemas } = check(t, cache, opts, memo ? adopted.get(t) : undefined);
  if (memo) verdicts.set(t, { violations: violations.map((v) => ({ ...v })), schemas });
  return violations;
}

/**
 * Lets the check of `to`, a restatement of the checked trajectory `from` (refine restates ground's),
 * use what checking `from` worked out: a tool reply of the same text is not parsed again (see
 * shareContentJson), and a tool of the same name whose parameters are the same JSON takes the schema
 * `from`'s check compiled (no serialisation, no lookup). The verdict on `to` is what it would be
 * without this. Applies to checks with the shared cache, once `from` has been checked with it.
 */
export function shareChecks(from: Trajectory, to: Trajectory): void {
  shareContentJson(from.messages, to.messages);
  const schemas = verdicts.get(from)?.schemas;
  if (schemas === undefined || verdicts.has(to)) return;
  let taken: Map<ToolDef, CompiledSchema> | undefined;
  for (const tool of to.tools) {
    const compiled = schemas.get(tool.name);
    if (compiled === undefined) continue;
    let same: ToolDef | undefined;
    for (const f of from.tools) {
      if (f.name === tool.name) {
        same = f;
        break;
      }
    }
    if (same !== undefined && sameJson(tool.parameters, same.parameters)) (taken ??= new Map()).set(tool, compiled);
  }
  if (taken !== undefined) adopted.set(to, taken);
}

function check(
  t: Trajectory,
  cache: SchemaValidatorCache,
  opts: ValidateOptions,
  taken: ReadonlyMap<ToolDef, CompiledSchema> | undefined,
): { violations: Violation[]; schemas: Map<string, CompiledSchema> } {
  if (!opts.parsed) {
    const parsed = Trajectory.safeParse(t);
    if (!parsed.success) {
      const violations = parsed.error.issues.map((issue): Violation => ({
        rule: 'schema',
        message: `${issue.path.join('.') || '(root)'}: ${issue.message}`,
        messageIndex: issue.path[0] === 'messages' && typeof issue.path[1] === 'number' ? issue.path[1] : undefined,
      }));
      return { violations, schemas: new Map() };
    }
  }
  const out: Violation[] = [];
  const schemas = checkTools(t.tools, cache, out, taken);
  checkOpening(t.messages, out);
  const callIds = new Set<string>();
  t.messages.forEach((m, i) => {
    checkMessage(t.messages, i, out);
    if (m.role === 'assistant') for (const call of m.toolCalls ?? []) checkCall(call, i, schemas, callIds, out);
  });
  const last = t.messages[t.messages.length - 1]!;
  if (last.role !== 'assistant' || hasCalls(last)) {
    out.push({
      rule: 'last_not_assistant',
      message: `the dialogue ends with a ${hasCalls(last) ? 'call turn without replies' : `${last.role} message`}, not an assistant answer`,
      messageIndex: t.messages.length - 1,
    });
  }
  // Stable sort: tool-level violations (no index) first, each message's in the order found.
  return { violations: out.sort((a, b) => (a.messageIndex ?? -1) - (b.messageIndex ?? -1)), schemas };
}

function hasCalls(m: Message): boolean {
  return m.role === 'assistant' && (m.toolCalls?.length ?? 0) > 0;
}

/**
 * Compiles each tool's parameters (or takes the schema in `taken`, see shareChecks); returns name ->
 * compiled schema (the first definition wins).
 */
function checkTools(tools: ToolDef[], cache: SchemaValidatorCache, out: Violation[], taken: ReadonlyMap<ToolDef, CompiledSchema> | undefined): Map<string, CompiledSchema> {
  const byName = new Map<string, CompiledSchema>();
  for (const tool of tools) {
    if (byName.has(tool.name)) {
      out.push({ rule: 'tool_duplicate_name', message: `tool "${tool.name}" is defined more than once` });
      continue;
    }
    const notObject = nonObjectType(tool.parameters);
    const compiled: CompiledSchema = notObject ? { ok: false, error: notObject } : (taken?.get(tool) ?? cache.get(tool.parameters));
    if (!compiled.ok) out.push({ rule: 'tool_schema_invalid', message: `tool "${tool.name}": ${compiled.error}` });
    byName.set(tool.name, compiled);
  }
  return byName;
}

/** Arguments are always an object, so a parameters schema whose `type` excludes "object" is unusable. */
function nonObjectType(schema: Record<string, unknown>): string | undefined {
  const type = schema.type;
  if (type === undefined || type === 'object' || (Array.isArray(type) && type.includes('object'))) return undefined;
  return `parameters must describe an object, not type ${JSON.stringify(type)}`;
}

function checkOpening(msgs: Message[], out: Violation[]): void {
  const first = msgs[0]!;
  if (first.role !== 'system') {
    out.push({ rule: 'first_not_system', message: `messages[0] is ${first.role}, not system`, messageIndex: 0 });
  }
  // Without a system prompt the dialogue must still open with the user; one defect, one violation.
  const opening = first.role === 'system' ? 1 : 0;
  const m = msgs[opening]!;
  if (m.role !== 'user') {
    out.push({ rule: 'no_user_turn', message: `messages[${opening}] is ${m.role}, not user`, messageIndex: opening });
  }
}

/** The checks about message i: content, role fields, its place after messages[i - 1], its replies. */
function checkMessage(msgs: Message[], i: number, out: Violation[]): void {
  const m = msgs[i]!;
  const push = (rule: ViolationRule, message: string): void => {
    out.push({ rule, message, messageIndex: i });
  };

  if (m.toolCalls !== undefined && m.role !== 'assistant') push('schema', `toolCalls on a ${m.role} message`);
  if (m.toolCallId !== undefined && m.role !== 'tool') push('schema', `toolCallId on a ${m.role} message`);
  if (m.role === 'tool') {
    if (contentJson(m) === NOT_JSON) push('tool_reply_not_json', 'tool reply content is not complete JSON');
  } else if (!hasCalls(m) && m.content.trim() === '') {
    push('empty_content', `${m.role} message has no content`);
  }

  const prev = i > 0 ? msgs[i - 1]! : undefined;
  // Position checks. A predecessor with calls is judged by checkReplies, a system predecessor
  // (messages[0]) by checkOpening, so each defect is reported once.
  if (prev && !hasCalls(prev) && prev.role !== 'system') {
    if (m.role === 'system') push('system_not_first', 'a system message after the first message');
    else if (m.role === 'user' && prev.role === 'user') push('after_user_or_tool_not_assistant', 'a user message follows a user message');
    else if (m.role === 'user' && prev.role === 'tool') push('user_after_tool', 'a user message follows a tool reply');
    else if (m.role === 'assistant' && prev.role === 'assistant') push('consecutive_assistant', 'an assistant message follows an assistant answer');
    else if (m.role === 'tool' && prev.role === 'user') push('after_user_or_tool_not_assistant', 'a tool message follows a user message');
    else if (m.role === 'tool' && prev.role === 'assistant') push('tool_after_text_assistant', 'a tool message follows an assistant message without calls');
  }
  // A trailing call turn is reported as last_not_assistant.
  if (hasCalls(m) && i < msgs.length - 1) checkReplies(msgs, i, out);
}

/**
 * The run of tool messages after the call turn at `i` must answer each call exactly once, in call
 * order, naming the called tool. Replies to no call of this turn are tool_reply_unmatched; every other
 * defect of the turn is one missing_tool_reply on the call turn.
 */
function checkReplies(msgs: Message[], i: number, out: Violation[]): void {
  const calls = msgs[i]!.toolCalls!;
  const answered = new Set<string>();
  let problem: string | undefined;
  for (let j = i + 1; j < msgs.length && msgs[j]!.role === 'tool'; j++) {
    const reply = msgs[j]!;
    const call = calls.find((c) => c.id === reply.toolCallId);
    if (!call) {
      out.push({
        rule: 'tool_reply_unmatched',
        message: `tool reply's toolCallId ${JSON.stringify(reply.toolCallId)} names no call of message ${i}`,
        messageIndex: j,
      });
      continue;
    }
    if (answered.has(call.id)) problem ??= `call ${call.id} is answered more than once (message ${j})`;
    else if (reply.name !== call.name) problem ??= `the reply to call ${call.id} is named ${JSON.stringify(reply.name)}, the call is ${call.name}`;
    else if (calls[answered.size]!.id !== call.id) problem ??= `the reply to call ${call.id} (message ${j}) is out of call order`;
    answered.add(call.id);
  }
  const unanswered = calls.filter((c) => !answered.has(c.id)).map((c) => c.id);
  if (unanswered.length > 0) problem ??= `no tool reply for call ${unanswered.join(', ')}`;
  if (problem) out.push({ rule: 'missing_tool_reply', message: problem, messageIndex: i });
}

function checkCall(call: ToolCall, i: number, schemas: Map<string, CompiledSchema>, seenIds: Set<string>, out: Violation[]): void {
  if (seenIds.has(call.id)) {
    out.push({ rule: 'call_id_duplicate', message: `call id ${call.id} is used more than once`, messageIndex: i });
  }
  seenIds.add(call.id);
  const compiled = schemas.get(call.name);
  if (!compiled) {
    out.push({ rule: 'unknown_tool', message: `call ${call.id} names undefined tool "${call.name}"`, messageIndex: i });
  } else if (compiled.ok && !compiled.validate(call.arguments)) {
    out.push({
      rule: 'arguments_invalid',
      message: `call ${call.id} to ${call.name}: ${formatSchemaErrors(compiled.validate.errors)}`,
      messageIndex: i,
    });
  }
}

/** Schema errors as one line: "/path must be string; (root) must have required property 'x'". */
function formatSchemaErrors(errors: SchemaError[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'arguments do not match the schema';
  return errors.map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`).join('; ');
}
