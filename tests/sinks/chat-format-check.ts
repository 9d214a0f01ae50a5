import { z } from 'zod';
import type { Trajectory } from '../../src/trajectory.js';

/**
 * A checker of the OpenAI chat-format record the sink writes (src/chat-format.ts): messages with
 * role / content / tool_calls{id, type: function, function{name, arguments: JSON text of an object}} /
 * tool_call_id, tools as {type: function, function{name, description, parameters: JSON Schema object}},
 * no other keys; then the record's own consistency: every tool reply answers an earlier call by id and
 * name, every call names a defined tool, every call is answered.
 */
const jsonObjectText = z.string().refine((s) => {
  try {
    const v: unknown = JSON.parse(s);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}, 'arguments must be the JSON text of an object');

/** OpenAI's rule for function names. */
const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/);

const ToolCall = z.strictObject({ id: z.string().min(1), type: z.literal('function'), function: z.strictObject({ name: functionName, arguments: jsonObjectText }) });

const ChatMessage = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('system'), content: z.string() }),
  z.strictObject({ role: z.literal('user'), content: z.string().min(1) }),
  z.strictObject({ role: z.literal('assistant'), content: z.string(), tool_calls: z.array(ToolCall).min(1).optional() }),
  z.strictObject({ role: z.literal('tool'), content: z.string(), tool_call_id: z.string().min(1), name: functionName.optional() }),
]);

const ChatTool = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({ name: functionName, description: z.string(), parameters: z.looseObject({ type: z.literal('object') }) }),
});

export const ChatRecord = z
  .object({ messages: z.array(ChatMessage).min(2), tools: z.array(ChatTool).min(1) })
  .superRefine((r, ctx) => {
    const defined = new Set(r.tools.map((t) => t.function.name));
    const open = new Map<string, string>();
    r.messages.forEach((m, i) => {
      if (m.role === 'assistant') {
        for (const c of m.tool_calls ?? []) {
          if (!defined.has(c.function.name)) ctx.addIssue({ code: 'custom', path: ['messages', i], message: `calls undefined tool ${c.function.name}` });
          open.set(c.id, c.function.name);
        }
      } else if (m.role === 'tool') {
        const name = open.get(m.tool_call_id);
        if (name === undefined) ctx.addIssue({ code: 'custom', path: ['messages', i], message: `tool reply to unknown call ${m.tool_call_id}` });
        else if (m.name !== undefined && m.name !== name) ctx.addIssue({ code: 'custom', path: ['messages', i], message: `tool reply names ${m.name}, call was ${name}` });
        open.delete(m.tool_call_id);
      }
    });
    if (open.size > 0) ctx.addIssue({ code: 'custom', path: ['messages'], message: `calls never answered: ${[...open.keys()].join(', ')}` });
  });
export type ChatRecord = z.infer<typeof ChatRecord>;

/** A row's messages and tools columns (JSON text), checked; throws with the issues when it is not a record. */
export function checkChatRow(row: { messages: unknown; tools: unknown }): ChatRecord {
  return ChatRecord.parse({ messages: JSON.parse(String(row.messages)), tools: JSON.parse(String(row.tools)) });
}

/**
 * The record as Hugging Face chat templates take it (`apply_chat_template(messages, tools=tools)`):
 * the same, with each call's arguments parsed to an object (transformers' documented tool-call form).
 */
export function forChatTemplate(r: ChatRecord): { messages: unknown[]; tools: unknown[] } {
  return {
    messages: r.messages.map((m) => (m.role === 'assistant' && m.tool_calls ? { ...m, tool_calls: m.tool_calls.map((c) => ({ ...c, function: { ...c.function, arguments: JSON.parse(c.function.arguments) } })) } : m)),
    tools: r.tools,
  };
}

/** A chat-format record back in the internal trajectory form (src/trajectory.ts): the inverse of toChatMessages / toChatTools. */
export function fromChatRecord(r: ChatRecord): Pick<Trajectory, 'tools' | 'messages'> {
  return <Pick<Trajectory, 'tools' | 'messages'>>{
    tools: r.tools.map((t) => ({ name: t.function.name, description: t.function.description, parameters: t.function.parameters })),
    messages: r.messages.map((m) => {
      if (m.role === 'assistant' && m.tool_calls) return { role: m.role, content: m.content, toolCalls: m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: JSON.parse(c.function.arguments) as unknown })) };
      if (m.role === 'tool') return { role: m.role, content: m.content, toolCallId: m.tool_call_id, ...(m.name !== undefined && { name: m.name }) };
      return { role: m.role, content: m.content };
    }),
  };
}
