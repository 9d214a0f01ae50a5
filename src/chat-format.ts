import { ObjectMemo } from './object-memo.js';
import type { Message, ToolCall, ToolDef } from './trajectory.js';

/**
 * The row format a trainer reads: OpenAI / Hugging Face chat format. This is the contract between the
 * sink (which writes it), `gemflow export` (which converts it) and decontamination (which reads it).
 *
 *   messages: [{role, content, tool_calls?: [{id, type: "function", function: {name, arguments}}], tool_call_id?, name?}]
 *   tools:    [{type: "function", function: {name, description, parameters}}]
 *
 * `function.arguments` is a JSON string, as in OpenAI's API; `parameters` is a JSON Schema object.
 */
export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** assistant only, present when the turn calls tools. */
  tool_calls?: ChatToolCall[];
  /** tool only: the id of the call this message answers. */
  tool_call_id?: string;
  /** tool only: the tool's name. */
  name?: string;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** JSON text of each call's arguments, by call object: the row's tool_calls and its token estimate both need it. */
const argumentsText = new ObjectMemo<ToolCall, { args: Record<string, unknown>; json: string }>('gemflow.argumentsJson');

/** JSON.stringify(call.arguments), made once per call object (its arguments object must not change afterwards). */
export function argumentsJson(call: ToolCall): string {
  const known = argumentsText.get(call);
  if (known !== undefined && known.args === call.arguments) return known.json;
  const json = JSON.stringify(call.arguments);
  argumentsText.set(call, { args: call.arguments, json });
  return json;
}

/** The internal trajectory messages (camelCase, arguments as objects) in chat format. */
export function toChatMessages(messages: readonly Message[]): ChatMessage[] {
  return messages.map((m) => {
    const out: ChatMessage = { role: m.role, content: m.content };
    if (m.role === 'assistant' && m.toolCalls && m.toolCalls.length > 0) {
      out.tool_calls = m.toolCalls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: argumentsJson(c) },
      }));
    }
    if (m.role === 'tool') {
      if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
      if (m.name !== undefined) out.name = m.name;
    }
    return out;
  });
}

export function toChatTools(tools: readonly ToolDef[]): ChatTool[] {
  return tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } }));
}
