import { readFile } from 'node:fs/promises';
import { Template } from '@huggingface/jinja';
import type { ChatMessage, ChatTool } from '../chat-format.js';
import { GemflowError } from '../errors.js';

/** A model's chat template, loaded from a tokenizer_config.json or a .jinja file. */
export interface ChatTemplate {
  source: string;
  template: Template;
  /** The special tokens a template may use (tokenizer_config.json's, else empty). */
  bosToken: string;
  eosToken: string;
}

/**
 * Loads a chat template: a `.jinja` file is the template itself; a JSON file is a tokenizer_config.json
 * whose `chat_template` is a string or a list of {name, template} (then `name`, else "tool_use" when
 * present, else "default" is taken). Throws `export_bad_template` saying what is wrong.
 */
export async function loadChatTemplate(path: string, name?: string): Promise<ChatTemplate> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new GemflowError('export_bad_template', `cannot read template ${path}: ${(e as Error).message}`, { cause: e });
  }
  let source = text;
  let bosToken = '';
  let eosToken = '';
  if (!path.endsWith('.jinja') && text.trimStart().startsWith('{') && !text.trimStart().startsWith('{%') && !text.trimStart().startsWith('{{')) {
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new GemflowError('export_bad_template', `${path} is neither a .jinja template nor valid JSON: ${(e as Error).message}`);
    }
    const ct = cfg.chat_template;
    if (typeof ct === 'string') source = ct;
    else if (Array.isArray(ct)) {
      const named = ct as Array<{ name?: string; template?: string }>;
      const pick = named.find((t) => t.name === name) ?? (name ? undefined : (named.find((t) => t.name === 'tool_use') ?? named.find((t) => t.name === 'default')));
      if (!pick?.template) throw new GemflowError('export_bad_template', `${path} has no chat template named ${name ?? 'tool_use or default'}; it has: ${named.map((t) => t.name).join(', ')}`);
      source = pick.template;
    } else throw new GemflowError('export_bad_template', `${path} has no chat_template`);
    bosToken = tokenText(cfg.bos_token);
    eosToken = tokenText(cfg.eos_token);
  }
  try {
    return { source, template: new Template(source), bosToken, eosToken };
  } catch (e) {
    throw new GemflowError('export_bad_template', `cannot parse the chat template of ${path}: ${(e as Error).message}`, { cause: e });
  }
}

const tokenText = (t: unknown): string => (typeof t === 'string' ? t : t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string' ? (t as { content: string }).content : '');

/**
 * The messages and tools as chat templates take them (transformers' `apply_chat_template`): tool-call
 * arguments as objects, tools as {type: function, function: {...}}.
 */
export function templateContext(messages: ChatMessage[], tools: ChatTool[], t: Pick<ChatTemplate, 'bosToken' | 'eosToken'>): Record<string, unknown> {
  const msgs = messages.map((m) =>
    m.tool_calls ? { ...m, tool_calls: m.tool_calls.map((c) => ({ ...c, function: { name: c.function.name, arguments: parseObject(c.function.arguments) } })) } : m,
  );
  return { messages: msgs, tools, add_generation_prompt: false, bos_token: t.bosToken, eos_token: t.eosToken };
}

/** One row rendered to text with the template. */
export function renderRow(t: ChatTemplate, messages: ChatMessage[], tools: ChatTool[]): string {
  return t.template.render(templateContext(messages, tools, t));
}

function parseObject(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}
