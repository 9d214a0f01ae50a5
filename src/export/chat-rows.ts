import { toChatMessages, toChatTools, type ChatMessage, type ChatTool, type ChatToolCall } from '../chat-format.js';
import { GemflowError } from '../errors.js';
import type { Message, ToolDef } from '../trajectory.js';

/**
 * A row's messages and tools in chat format (src/chat-format.ts), whatever the output holds: a JSON
 * string or nested columns, of chat-format messages or of the older internal ones (camelCase
 * `toolCalls` / `toolCallId`, arguments as objects). Nulls that nested columns give for absent fields
 * are ignored; `function.arguments` and `parameters` are accepted as text or as objects.
 * Throws `export_bad_row` when a value is neither.
 */
export function chatMessagesOf(value: unknown): ChatMessage[] {
  const list = parsed(value, 'messages');
  const internal = list.some((m) => isObj(m) && ('toolCalls' in m || 'toolCallId' in m) && !('tool_calls' in m) && !('tool_call_id' in m));
  if (internal) return toChatMessages(list as Message[]);
  return list.map((raw, i) => {
    if (!isObj(raw) || typeof raw.role !== 'string') throw bad(`messages[${i}] has no role`);
    const out: ChatMessage = { role: raw.role as ChatMessage['role'], content: typeof raw.content === 'string' ? raw.content : '' };
    const calls = Array.isArray(raw.tool_calls) ? raw.tool_calls : [];
    if (calls.length > 0) out.tool_calls = calls.map((c, j) => chatCall(c, `messages[${i}].tool_calls[${j}]`));
    if (typeof raw.tool_call_id === 'string') out.tool_call_id = raw.tool_call_id;
    if (typeof raw.name === 'string') out.name = raw.name;
    return out;
  });
}

export function chatToolsOf(value: unknown): ChatTool[] {
  const list = parsed(value, 'tools');
  return list.map((raw, i) => {
    if (!isObj(raw)) throw bad(`tools[${i}] is not an object`);
    const f = isObj(raw.function) ? raw.function : raw;
    if (typeof f.name !== 'string') throw bad(`tools[${i}] has no name`);
    const parameters = typeof f.parameters === 'string' ? (JSON.parse(f.parameters) as Record<string, unknown>) : ((f.parameters ?? {}) as Record<string, unknown>);
    if (!isObj(raw.function)) return toChatTools([{ name: f.name, description: String(f.description ?? ''), parameters } as ToolDef])[0]!;
    return { type: 'function', function: { name: f.name, description: typeof f.description === 'string' ? f.description : '', parameters } };
  });
}

function chatCall(c: unknown, at: string): ChatToolCall {
  if (!isObj(c)) throw bad(`${at} is not an object`);
  const f = isObj(c.function) ? c.function : c;
  if (typeof f.name !== 'string') throw bad(`${at} has no function name`);
  const args = typeof f.arguments === 'string' ? f.arguments : JSON.stringify(f.arguments ?? {});
  return { id: typeof c.id === 'string' ? c.id : '', type: 'function', function: { name: f.name, arguments: args } };
}

function parsed(value: unknown, what: string): unknown[] {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch (e) {
      throw bad(`${what} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!Array.isArray(v)) throw bad(`${what} is not a list`);
  return v;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const bad = (message: string) => new GemflowError('export_bad_row', message);

/** A JSON column (string or nested) as a value; null when absent or "null". */
export function jsonColumn(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? null;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
