import type { Message, ToolCall, ToolDef, Trajectory, Workflow } from '../../trajectory.js';
import { Rng } from '../hash.js';
import { CONFIRM_RULE } from './extract-answer.js';
import { fitsType, propertiesOf, requiredOf, valueFor } from './schema-values.js';
import { categoryOfToolName, classifyStep, isWriteCategory, nounOfToolName, salientWords, toolNameOf, type ToolCategory } from './text-analysis.js';

/** The shape of operators/ground/schema.ts GroundOutput. */
export interface GroundAnswer {
  persona: string;
  trajectory: Trajectory;
}

export interface GroundRequest {
  workflow: Workflow;
  domain: string;
  rules: string[];
  document: string;
  seed: string;
}

/** The rule a read-only conversation applies unprompted (see groundAnswer). */
export const OWN_RECORDS_RULE = 'Only look up or change records that belong to the user you are talking to.';

/** Parameters the user should not be asked to repeat in a clarification. */
const SECRET = /password|token|secret/;
/** Most tool calls one simulated conversation makes (not counting the retry). */
const MAX_CALLS = 8;

const ROLES = ['small-business owner', 'operations analyst', 'graduate student', 'IT administrator', 'freelance designer', 'office manager'];
const STYLES = ['writes in short sentences', 'is polite but in a hurry', 'asks for confirmation of every detail', 'gives information a bit at a time'];

interface PlannedCall {
  tool: ToolDef;
  category: ToolCategory;
  args: Record<string, unknown>;
  reply: Record<string, unknown>;
}

interface Known {
  value: unknown;
  fromTool: boolean;
}

/** The numbered policy of a system message. */
export function systemMessage(domain: string, rules: readonly string[]): string {
  const policy = rules.map((r, i) => `${i + 1}. ${r}`).join('\n');
  return `You are an assistant for ${domain}. You act only through the tools you are given and report only what they return.\nPolicy:\n${policy}`;
}

/** A value as a user or assistant would say it: strings quoted, objects as their fields. */
export function say(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).map(([k, v]) => `${k.replace(/_/g, ' ')} ${say(v)}`).join(', ');
  }
  if (Array.isArray(value)) return value.map(say).join(' and ');
  return String(value);
}

/** The arguments worth repeating to the user (credentials left out). */
export function describeArgs(args: Record<string, unknown>): string {
  const shown = Object.entries(args).filter(([k]) => !SECRET.test(k));
  return shown.length === 0 ? 'no further details' : shown.map(([k, v]) => `${k.replace(/_/g, ' ')} ${say(v)}`).join(', ');
}

/** The tools in the order the conversation calls them: the steps' tools, then the others where they fit. */
function callOrder(w: Workflow, topic: string): ToolDef[] {
  const byName = new Map(w.tools.map((t) => [t.name, t]));
  const plan: string[] = [];
  let fallback = topic;
  for (const step of w.steps) {
    const a = classifyStep(step, fallback);
    if (a.kind !== 'tool') continue;
    if (a.noun) fallback = a.noun;
    const name = toolNameOf(a);
    if (byName.has(name) && !plan.includes(name)) plan.push(name);
  }
  for (const t of w.tools) {
    if (plan.includes(t.name)) continue;
    const cat = categoryOfToolName(t.name);
    const loginAt = plan.indexOf('login') + 1;
    if (t.name === 'login') plan.unshift(t.name);
    else if (cat === 'list' || cat === 'search') plan.splice(loginAt, 0, t.name);
    else if (cat === 'read') {
      const noun = nounOfToolName(t.name);
      const last = plan.map((n) => nounOfToolName(n)).lastIndexOf(noun);
      plan.splice(last < 0 ? plan.length : last + 1, 0, t.name);
    } else plan.push(t.name);
  }
  return plan.slice(0, MAX_CALLS).map((n) => byName.get(n)!);
}

/** The status a record has after a delete-like call. */
function removedStatus(toolName: string): string {
  const verb = toolName.split('_')[0]!;
  return verb === 'cancel' ? 'cancelled' : verb === 'archive' ? 'archived' : 'deleted';
}

/**
 * Replies to successful calls, kept consistent by a small store of the records the conversation has
 * seen: a read after a create, update or delete shows what that call did.
 */
class ToolWorld {
  private readonly records = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly rng: Rng,
    private readonly topic: string,
  ) {}

  reply(tool: ToolDef, category: ToolCategory, args: Record<string, unknown>): Record<string, unknown> {
    const noun = nounOfToolName(tool.name) || this.topic;
    const idKey = `${noun}_id`;
    const echo = Object.fromEntries(Object.entries(args).filter(([k]) => !SECRET.test(k)));
    switch (category) {
      case 'login':
        return { auth_token: valueFor('auth_token', { type: 'string' }, this.rng, this.topic), expires_in_sec: 3600 };
      case 'create':
        return { ...this.record(noun, undefined, echo) };
      case 'read':
        return { ...this.record(noun, args[idKey]) };
      case 'list':
      case 'search': {
        const items = [this.record(noun), this.record(noun)].map((r) => ({ ...r }));
        return { items, total: items.length };
      }
      case 'delete': {
        const r = this.record(noun, args[idKey]);
        r.status = removedStatus(tool.name);
        return { [idKey]: r[idKey], status: r.status };
      }
      case 'update':
        return { ...this.record(noun, args[idKey], echo) };
    }
  }

  /** The stored record with this id (a new one when unknown), updated with `fields`. */
  private record(noun: string, id?: unknown, fields: Record<string, unknown> = {}): Record<string, unknown> {
    const idKey = `${noun}_id`;
    const key = typeof id === 'string' ? id : (valueFor(idKey, { type: 'string' }, this.rng, this.topic) as string);
    let r = this.records.get(key);
    if (!r) {
      r = { [idKey]: key, name: valueFor('name', { type: 'string' }, this.rng, noun), status: 'active' };
      this.records.set(key, r);
    }
    Object.assign(r, fields);
    return r;
  }
}

/** Records a reply's ids and tokens (top-level and its first list item's) as known from a tool. */
function learn(known: Map<string, Known>, reply: Record<string, unknown>): void {
  const items = reply.items;
  const first = Array.isArray(items) && typeof items[0] === 'object' && items[0] !== null ? (items[0] as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries({ ...first, ...reply })) {
    if (k.endsWith('_id') || k.endsWith('token')) known.set(k, { value: v, fromTool: true });
  }
}

/**
 * The simulated ground answer: one conversation that carries out the workflow with its tools. It
 * shows clarification (the first request lacks a value), confirmation before writes (rule
 * awareness), error recovery (one call fails once and is retried) and multi-hop reasoning (ids and
 * tokens from replies feed later calls) whenever the workflow's tools allow it.
 */
export function groundAnswer(req: GroundRequest): GroundAnswer {
  const { workflow: w, domain } = req;
  const rng = new Rng(`${req.seed}\0ground\0${JSON.stringify(w)}`);
  const topic = salientWords(req.document, 1)[0] ?? (nounOfToolName(w.tools[0]!.name) || 'record');
  const rules = req.rules.includes(CONFIRM_RULE) ? req.rules : [...req.rules, CONFIRM_RULE];

  const world = new ToolWorld(rng, topic);
  const known = new Map<string, Known>();
  const userValues: { param: string; value: unknown }[] = [];
  let multiHop = false;
  const calls: PlannedCall[] = callOrder(w, topic).map((tool) => {
    const category = categoryOfToolName(tool.name);
    const props = propertiesOf(tool.parameters);
    const args: Record<string, unknown> = {};
    for (const p of requiredOf(tool.parameters)) {
      const schema = props[p] ?? {};
      const k = known.get(p);
      if (k && fitsType(k.value, schema)) {
        args[p] = k.value;
        multiHop ||= k.fromTool;
        continue;
      }
      const value = valueFor(p, schema, rng, topic);
      args[p] = value;
      known.set(p, { value, fromTool: false });
      userValues.push({ param: p, value });
    }
    const reply = world.reply(tool, category, args);
    learn(known, reply);
    return { tool, category, args, reply };
  });

  // The value the first request leaves out: a required one, else an optional filter of a call.
  let clarify = userValues.find((u) => !SECRET.test(u.param));
  if (!clarify) {
    for (const c of calls) {
      const [p, schema] = Object.entries(propertiesOf(c.tool.parameters)).find(([name]) => !(name in c.args) && !SECRET.test(name)) ?? [];
      if (p === undefined || schema === undefined) continue;
      clarify = { param: p, value: valueFor(p, schema, rng, topic) };
      c.args[p] = clarify.value;
      break;
    }
  }
  const errorAt = Math.max(0, calls.findIndex((c, i) => i > 0 && !isWriteCategory(c.category) && c.category !== 'login'));
  // The stage asks for at least three patterns. A workflow that only reads, with no value passed from
  // one reply to a later call, shows two (clarification, error recovery): the assistant then applies a
  // rule unprompted before its first call (rule awareness), a check on whose records it may open.
  const writes = calls.some((c) => isWriteCategory(c.category));
  const shown = [clarify !== undefined, calls.length > 0, multiHop, writes].filter(Boolean).length;
  const ownRecords = shown < 3 && calls.length > 0;
  const allRules = ownRecords ? [...rules, OWN_RECORDS_RULE] : rules;

  const messages: Message[] = [{ role: 'system', content: systemMessage(domain, allRules) }];
  const goal = w.name.replace(/_/g, ' ');
  const told = userValues.filter((u) => u !== clarify).map((u) => `My ${u.param.replace(/_/g, ' ')} is ${say(u.value)}.`);
  messages.push({ role: 'user', content: [`Hi, can you help me with this: ${goal}?`, ...told].join(' ') });
  if (clarify) {
    messages.push({ role: 'assistant', content: `Happy to help with ${goal}. What ${clarify.param.replace(/_/g, ' ')} should I use?` });
    messages.push({ role: 'user', content: `Use ${say(clarify.value)}.` });
  }
  let nextId = 1;
  const callMessage = (c: PlannedCall, content: string): ToolCall => {
    const call = { id: `call_${nextId++}`, name: c.tool.name, arguments: c.args };
    messages.push({ role: 'assistant', content, toolCalls: [call] });
    return call;
  };
  const toolMessage = (call: ToolCall, body: unknown): void => {
    messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: JSON.stringify(body) });
  };
  let confirmed = false;
  calls.forEach((c, i) => {
    const action = c.tool.name.replace(/_/g, ' ');
    // The rule check goes in the first call's own turn (the turn before it is the user's).
    let check = '';
    if (i === 0 && ownRecords) {
      const own = clarify ?? userValues[0];
      check = `One check first: the policy lets me open only records that belong to you${own ? `, and ${own.param.replace(/_/g, ' ')} ${say(own.value)} is the one you gave me` : ''}. That holds. `;
      confirmed = true;
    }
    if (isWriteCategory(c.category)) {
      messages.push({ role: 'assistant', content: `Before I run ${action} with ${describeArgs(c.args)}: the policy asks me to confirm changes first. Shall I go ahead?` });
      messages.push({ role: 'user', content: 'Yes, go ahead.' });
      confirmed = true;
    }
    const call = callMessage(c, `${check}Running ${action}.`);
    if (i === errorAt) {
      const code = rng.pick(['service_unavailable', 'timeout']);
      toolMessage(call, { error: code, message: `The ${action} service did not answer the request.` });
      const retry = callMessage(c, `${action} failed with ${code}, a temporary failure and not a problem with the request, so I am retrying it unchanged.`);
      toolMessage(retry, c.reply);
    } else {
      toolMessage(call, c.reply);
    }
  });
  messages.push({ role: 'assistant', content: summary(calls) });

  const patterns: Trajectory['patterns'] = [];
  if (clarify) patterns.push('clarification');
  if (calls.length > 0) patterns.push('error_recovery');
  if (multiHop) patterns.push('multi_hop_reasoning');
  if (confirmed) patterns.push('rule_awareness');
  return {
    persona: `A ${rng.pick(ROLES)} working with ${domain} who ${rng.pick(STYLES)}.`,
    trajectory: { tools: w.tools, messages, patterns },
  };
}

/** The closing turn: what the calls returned, nothing more. */
function summary(calls: PlannedCall[]): string {
  const facts = calls
    .filter((c) => c.category !== 'login')
    .map((c) => {
      const ids = Object.entries(c.reply).filter(([k, v]) => k.endsWith('_id') && typeof v === 'string');
      const what = ids.map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join(', ');
      const status = typeof c.reply.status === 'string' ? `status ${c.reply.status}` : `${String(c.reply.total ?? 0)} records`;
      return `${c.tool.name.replace(/_/g, ' ')}: ${[what, status].filter(Boolean).join(', ')}`;
    });
  return facts.length > 0 ? `All done. ${facts.join('; ')}.` : 'All done.';
}
