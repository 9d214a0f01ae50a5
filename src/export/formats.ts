import type { ChatMessage, ChatTool } from '../chat-format.js';

/** One row as the export formats see it: messages and tools in chat format (src/chat-format.ts). */
export interface ChatRow {
  trajectoryId: string;
  documentId: string;
  messages: ChatMessage[];
  tools: ChatTool[];
}

/** What a format makes of a row: the record to write, or why the row cannot be written in it. */
export type Converted = { record: Record<string, unknown> } | { skip: string };

/**
 * OpenAI fine-tuning chat format with tools: `{"messages": [...], "tools": [...]}`, one per line.
 * Assistant turns that call tools carry `tool_calls` (content left out when empty); tool turns carry
 * `tool_call_id` and content (OpenAI's tool message has no `name`).
 */
export function toOpenAi(row: ChatRow): Converted {
  const messages = row.messages.map((m) => {
    if (m.role === 'tool') return { role: 'tool', content: m.content, tool_call_id: m.tool_call_id ?? '' };
    if (m.role === 'assistant' && m.tool_calls && m.tool_calls.length > 0) {
      return m.content === '' ? { role: 'assistant', tool_calls: m.tool_calls } : { role: 'assistant', content: m.content, tool_calls: m.tool_calls };
    }
    return { role: m.role, content: m.content };
  });
  return { record: { messages, tools: row.tools } };
}

const STR = String.raw`"[^"\\]*(?:\\.[^"\\]*)*"`; // a JSON string literal
const TOOL_TURN = new RegExp(String.raw`\{"role":"tool","content":(${STR})(?:,"tool_call_id":(${STR}))?(?:,"name":${STR})?\}`, 'g');

/**
 * toOpenAi's record as a JSON line, made from a row's messages and tools JSON text without parsing
 * them: when the text is chat format as the sink writes it (JSON.stringify of src/chat-format.ts's
 * shapes), the record is that text with tool turns' `name` left out and empty `content` beside
 * tool calls left out. (In JSON text an unescaped `"` is never inside a string, so these patterns
 * only match structure.) Undefined when the text does not start and end as chat format; whether it is
 * chat format (not, say, the older internal messages) the caller checks exactly against toOpenAi on
 * the first row of each file (src/export/export.ts, OpenAiSplice): O(1) checks here, one regex pass.
 */
export function openAiLineOf(messages: unknown, tools: unknown): string | undefined {
  if (typeof messages !== 'string' || typeof tools !== 'string') return undefined;
  if (!messages.startsWith('[{"role":"') || !messages.endsWith('}]')) return undefined;
  if (tools !== '[]' && !(tools.startsWith('[{"type":"function","function":{"name":"') && tools.endsWith('}]'))) return undefined;
  const ms = messages
    .replaceAll('{"role":"assistant","content":"","tool_calls":', '{"role":"assistant","tool_calls":')
    .replace(TOOL_TURN, (_, content: string, id: string | undefined) => `{"role":"tool","content":${content},"tool_call_id":${id ?? '""'}}`);
  return `{"messages":${ms},"tools":${tools}}`;
}

/** The roles sharegpt and hermes know; a row with another (say "developer") is skipped as unknown_role. */
const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

type ShareGptTurn = { from: 'human' | 'gpt' | 'function_call' | 'observation'; value: string };

/**
 * LLaMA-Factory's ShareGPT format with tools (its data/README.md): `conversations` of
 * {from, value} where human / observation turns sit at odd positions and gpt / function_call turns at
 * even ones, `system` the system prompt, `tools` the tool definitions as a JSON string. A call turn
 * becomes a function_call turn whose value is {"name", "arguments"} JSON (a list when the turn makes
 * several calls); the tool replies after it become one observation turn (a JSON list of the replies
 * when there are several). Text the assistant says in the same turn as its calls has no place in
 * a function_call turn and is left out; consecutive turns of one side are joined.
 */
export function toShareGpt(row: ChatRow): Converted {
  if (row.messages.some((m) => !ROLES.has(m.role))) return { skip: 'unknown_role' };
  const system: string[] = [];
  const turns: ShareGptTurn[] = [];
  const push = (t: ShareGptTurn) => {
    const last = turns.at(-1);
    const side = (f: ShareGptTurn['from']) => (f === 'human' || f === 'observation' ? 'in' : 'out');
    if (!last || side(last.from) !== side(t.from)) return void turns.push(t);
    if (last.from === t.from && t.from !== 'function_call') last.value = `${last.value}\n\n${t.value}`;
    else if (t.from === 'function_call' && last.from === 'gpt') turns[turns.length - 1] = t; // text beside calls: dropped
    else if (t.from === 'function_call' && last.from === 'function_call') last.value = JSON.stringify([...asList(JSON.parse(last.value)), ...asList(JSON.parse(t.value))]);
    else if (t.from === 'gpt' && last.from === 'function_call') return; // cannot follow its own calls without replies
    else last.value = `${last.value}\n\n${t.value}`;
  };
  const ms = row.messages;
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    if (m.role === 'system') system.push(m.content);
    else if (m.role === 'user') push({ from: 'human', value: m.content });
    else if (m.role === 'assistant') {
      const calls = m.tool_calls ?? [];
      if (calls.length === 0) push({ from: 'gpt', value: m.content });
      else {
        const list = calls.map((c) => ({ name: c.function.name, arguments: parseArgs(c.function.arguments) }));
        push({ from: 'function_call', value: JSON.stringify(list.length === 1 ? list[0] : list) });
      }
    } else {
      const replies: string[] = [];
      while (i < ms.length && ms[i]!.role === 'tool') replies.push(ms[i++]!.content);
      i--;
      push({ from: 'observation', value: replies.length === 1 ? replies[0]! : JSON.stringify(replies) });
    }
  }
  while (turns.length > 0 && (turns.at(-1)!.from === 'human' || turns.at(-1)!.from === 'observation')) turns.pop();
  if (turns.length === 0 || turns[0]!.from !== 'human') return { skip: 'sharegpt_no_user_turn' };
  return {
    record: {
      conversations: turns,
      system: system.join('\n\n'),
      tools: JSON.stringify(row.tools.map((t) => t.function)),
    },
  };
}

/** LLaMA-Factory's dataset_info.json entry for a ShareGPT export file (columns and tags it uses). */
export function shareGptDatasetInfo(fileName: string): Record<string, unknown> {
  return {
    file_name: fileName,
    formatting: 'sharegpt',
    columns: { messages: 'conversations', system: 'system', tools: 'tools' },
    tags: { role_tag: 'from', content_tag: 'value', user_tag: 'human', assistant_tag: 'gpt', observation_tag: 'observation', function_tag: 'function_call' },
  };
}

/** The system prompt of Hermes function calling: the tools inside <tools></tools>, the call format. */
export function hermesSystemPrompt(system: string, tools: ChatTool[]): string {
  const head = system === '' ? '' : `${system}\n\n`;
  return (
    `${head}You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. ` +
    `You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions. ` +
    `Here are the available tools: <tools> ${JSON.stringify(tools)} </tools> ` +
    `For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:\n` +
    `<tool_call>\n{"name": <function-name>, "arguments": <args-dict>}\n</tool_call>`
  );
}

/**
 * Hermes function-calling format (NousResearch hermes-function-calling-v1): `conversations` of
 * {from: system | human | gpt | tool, value}; the system turn lists the tools in <tools>; each call
 * is a <tool_call>{"name", "arguments"}</tool_call> block after the assistant's text; the replies to
 * a call turn are one tool turn of <tool_response>{"name", "content"}</tool_response> blocks.
 */
export function toHermes(row: ChatRow): Converted {
  if (row.messages.some((m) => !ROLES.has(m.role))) return { skip: 'unknown_role' };
  const system = row.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
  const conversations: Array<{ from: string; value: string }> = [{ from: 'system', value: hermesSystemPrompt(system, row.tools) }];
  const ms = row.messages;
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    if (m.role === 'system') continue;
    if (m.role === 'user') conversations.push({ from: 'human', value: m.content });
    else if (m.role === 'assistant') {
      const calls = (m.tool_calls ?? []).map((c) => `<tool_call>\n${JSON.stringify({ name: c.function.name, arguments: parseArgs(c.function.arguments) })}\n</tool_call>`);
      conversations.push({ from: 'gpt', value: [m.content, ...calls].filter((s) => s !== '').join('\n') });
    } else {
      const blocks: string[] = [];
      for (; i < ms.length && ms[i]!.role === 'tool'; i++) {
        blocks.push(`<tool_response>\n${JSON.stringify({ name: ms[i]!.name ?? '', content: parseArgs(ms[i]!.content) })}\n</tool_response>`);
      }
      i--;
      conversations.push({ from: 'tool', value: blocks.join('\n') });
    }
  }
  return { record: { id: row.trajectoryId, conversations, tools: JSON.stringify(row.tools) } };
}

/** JSON text as a value (a tool's reply may be plain text: kept as the string). */
export function parseArgs(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
