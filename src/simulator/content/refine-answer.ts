import type { Message, ToolDef, Trajectory } from '../../trajectory.js';
import { Rng } from '../hash.js';
import { describeArgs, say } from './ground-answer.js';
import { requiredOf } from './schema-values.js';
import { nounOfToolName, plural } from './text-analysis.js';

/** The shape of operators/refine/schema.ts RefineOutput. */
export interface RefineAnswer {
  policy: { rules: string[]; dataSchema: Record<string, unknown> };
  userProfile: Record<string, unknown>;
  pitfalls: string[];
  trajectory: Trajectory;
}

export interface RefineRequest {
  trajectory: Trajectory;
  /** The domain rules when the prompt gives them; else they are read from the system message. */
  rules?: string[];
  seed: string;
}

const NAMES = ['Jordan Lee', 'Priya Patel', 'Mateo Garcia', 'Amara Okafor', 'Lena Novak', 'Kenji Sato'];
const TAGS = ['review', 'keep', 'quarterly-audit', 'priority'];

/** The noun most of the tools act on (create_bucket, get_bucket -> bucket). */
function mainNoun(tools: ToolDef[]): string {
  const counts = new Map<string, number>();
  for (const t of tools) {
    const n = nounOfToolName(t.name);
    if (n) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'record';
}

/** String values under `key` in the tool replies (top level and list items), in order of appearance. */
function replyValues(messages: Message[], key: string): string[] {
  const found: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === key && typeof x === 'string' && !found.includes(x)) found.push(x);
        else visit(x);
      }
    }
  };
  for (const m of messages) {
    if (m.role !== 'tool') continue;
    try {
      visit(JSON.parse(m.content));
    } catch {
      // A reply that is not JSON has no values to reuse.
    }
  }
  return found;
}

/** Rules stated as a numbered policy in the system message. */
function rulesOfSystem(messages: Message[]): string[] {
  const system = messages[0]?.role === 'system' ? messages[0].content : '';
  return [...system.matchAll(/^\d+\.\s+(.+)$/gm)].map((m) => m[1]!);
}

/** Messages with call ids renumbered call_1, call_2, ... and each tool reply paired by position. */
function renumberCalls(messages: Message[]): { messages: Message[]; next: number } {
  let next = 1;
  const pending: string[] = [];
  const out = messages.map((m): Message => {
    if (m.role === 'assistant' && m.toolCalls?.length) {
      const toolCalls = m.toolCalls.map((c) => {
        const id = `call_${next++}`;
        pending.push(id);
        return { ...c, id };
      });
      return { ...m, toolCalls };
    }
    if (m.role === 'tool') return { ...m, toolCallId: pending.shift() ?? m.toolCallId };
    return { ...m };
  });
  return { messages: out, next };
}

/**
 * The simulated refine answer: the conversation gains a policy (the domain rules plus a bulk-action
 * limit), a user profile, pitfalls, and a new episode after its end in which the user asks for a
 * bulk deletion the policy forbids (rule_vs_need_conflict) and then for a tagging call whose
 * arguments are an array of objects built from ids the earlier replies returned.
 */
export function refineAnswer(req: RefineRequest): RefineAnswer {
  const t = req.trajectory;
  const rng = new Rng(`${req.seed}\0refine\0${JSON.stringify(t)}`);
  const noun = mainNoun(t.tools);
  const nouns = plural(noun).replace(/_/g, ' ');
  const idKey = `${noun}_id`;

  const bulkRule = `Bulk deletion of ${nouns} is not allowed: they are deleted one at a time, each with its own confirmation.`;
  const limitRule = `One tagging request may change at most 10 ${nouns}.`;
  const rules = [...new Set([...(req.rules ?? rulesOfSystem(t.messages)), bulkRule, limitRule])];

  const fromReplies = replyValues(t.messages, idKey);
  const ids = fromReplies.slice(0, 2);
  while (ids.length < 2) ids.push(`${noun.slice(0, 3)}-${rng.digits(4)}`);
  const token = replyValues(t.messages, 'auth_token')[0];
  const needsToken = token !== undefined && t.tools.some((tool) => requiredOf(tool.parameters).includes('auth_token'));

  let toolName = `tag_${plural(noun)}`;
  for (let n = 2; t.tools.some((x) => x.name === toolName); n++) toolName = `tag_${plural(noun)}_${n}`;
  const tagTool: ToolDef = {
    name: toolName,
    description: `Adds tags to several ${nouns} in one request and returns the tags each now has.`,
    parameters: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          minItems: 1,
          maxItems: 10,
          description: `the ${nouns} to tag`,
          items: {
            type: 'object',
            properties: {
              [idKey]: { type: 'string', description: `identifier of the ${noun.replace(/_/g, ' ')}` },
              tags: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'tags to add' },
            },
            required: [idKey, 'tags'],
          },
        },
        options: {
          type: 'object',
          properties: { notify_owner: { type: 'boolean', description: 'whether to tell the owner of each record' } },
          required: ['notify_owner'],
        },
        ...(needsToken ? { auth_token: { type: 'string', description: 'token returned by login' } } : {}),
      },
      required: ['items', 'options', ...(needsToken ? ['auth_token'] : [])],
    },
  };

  const renumbered = renumberCalls(t.messages);
  const messages = renumbered.messages;
  if (messages[0]?.role === 'system') {
    messages[0] = { ...messages[0], content: `${messages[0].content.replace(/\nPolicy:\n[\s\S]*$/, '')}\nPolicy:\n${rules.map((r, i) => `${i + 1}. ${r}`).join('\n')}` };
  }
  const last = messages.at(-1);
  if (last && (last.role !== 'assistant' || last.toolCalls?.length)) {
    messages.push({ role: 'assistant', content: 'Those are the results so far.' });
  }

  const tag = rng.pick(TAGS);
  const args: Record<string, unknown> = {
    items: ids.map((id) => ({ [idKey]: id, tags: [tag] })),
    options: { notify_owner: false },
    ...(needsToken ? { auth_token: token } : {}),
  };
  const callId = `call_${renumbered.next}`;
  messages.push(
    { role: 'user', content: `Thanks. Also, please delete all my other ${nouns} right now, no need to check each one.` },
    { role: 'assistant', content: `I can't do that: the policy says "${bulkRule}" I can tag specific ${nouns} for review instead. Which ones, and with which tag?` },
    { role: 'user', content: `Then tag ${ids.map((id) => say(id)).join(' and ')} with ${say(tag)}, and don't notify the owner.` },
    { role: 'assistant', content: `To confirm: tag ${describeArgs({ items: ids })} with ${say(tag)}, without notifying the owner. Shall I go ahead?` },
    { role: 'user', content: 'Yes, please.' },
    { role: 'assistant', content: `Tagging ${ids.length} ${nouns}.`, toolCalls: [{ id: callId, name: toolName, arguments: args }] },
    { role: 'tool', toolCallId: callId, name: toolName, content: JSON.stringify({ tagged: ids.map((id) => ({ [idKey]: id, tags: [tag] })), count: ids.length }) },
    { role: 'assistant', content: `Done: ${ids.join(' and ')} now carry the tag "${tag}". No ${nouns} were deleted.` },
  );

  const patterns = new Set(t.patterns);
  patterns.add('rule_vs_need_conflict');
  patterns.add('rule_awareness');
  if (fromReplies.length >= 2) patterns.add('multi_hop_reasoning');
  return {
    policy: {
      rules,
      // Entity name -> its fields and their types, as the refine prompt asks.
      dataSchema: { [noun]: { [idKey]: 'string', name: 'string', status: 'active | inactive | deleted', tags: 'string[]' } },
    },
    userProfile: {
      name: rng.pick(NAMES),
      accountTier: rng.pick(['free', 'standard', 'enterprise']),
      timezone: rng.pick(['Europe/London', 'America/Chicago', 'Asia/Tokyo']),
      prefersConcise: rng.next() < 0.5,
    },
    pitfalls: [
      `The user asks to delete all other ${nouns} at once; the policy forbids bulk deletion, so the assistant refuses that part and offers tagging instead.`,
      `The tag request must use the ids exactly as given (${ids.join(', ')}) and an array of objects, one per ${noun.replace(/_/g, ' ')}.`,
    ],
    trajectory: { tools: [...t.tools, tagTool], messages, patterns: [...patterns] },
  };
}
