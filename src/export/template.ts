import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Template } from '@huggingface/jinja';
import type { ChatMessage, ChatTool } from '../chat-format.js';
import { GemflowError } from '../errors.js';
import { compileTemplate, type CompiledTemplate } from './template-compile.js';

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

/**
 * The row's tool-call ids rewritten as 9 letters and digits, each derived from the id (sha256, base 62), the
 * same in the call and in the tool turn that answers it: what Mistral's templates (Nemo, Small 3.x) accept;
 * they raise on any other id. A collision within the row takes the next derivation.
 */
export function alnum9CallIds(messages: ChatMessage[]): ChatMessage[] {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  const map = (id: string): string => {
    let v = ids.get(id);
    if (v !== undefined) return v;
    for (let k = 0; v === undefined || used.has(v); k++) v = base62x9(createHash('sha256').update(k === 0 ? id : `${id}#${k}`).digest());
    ids.set(id, v);
    used.add(v);
    return v;
  };
  return messages.map((m) => {
    if (m.tool_calls) return { ...m, tool_calls: m.tool_calls.map((c) => ({ ...c, id: map(c.id) })) };
    if (m.tool_call_id !== undefined) return { ...m, tool_call_id: map(m.tool_call_id) };
    return m;
  });
}

const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const base62x9 = (b: Buffer): string => Array.from(b.subarray(0, 9), (x) => B62[x % 62]).join('');

/** How a template export rendered its rows (src/export/template-compile.ts). */
export interface TemplateEngineStats {
  /** compiled, or interpreter: asked for, or the first rows all went to the interpreter (notCompiled says which). */
  engine: 'compiled' | 'interpreter';
  notCompiled?: string;
  /** Statements left uncompiled: a row that runs one goes to the interpreter. */
  uncompiled?: string[];
  /** Rows the compiled form rendered; rows it handed to the interpreter; rows rendered by both and compared. */
  compiledRows: number;
  fallbackRows: number;
  checkedRows: number;
  /**
   * Rows the interpreter raises on, rendered by the compiled form with jinja2's rules there (as transformers
   * would render them; src/export/template-compile.ts). Not counted in compiledRows or fallbackRows.
   */
  jinja2Rows: number;
}

/** The compiled form's output differed from the interpreter's on a row: the export starts again interpreted. */
export class TemplateDivergence extends Error {}

/**
 * Renders rows with a chat template: compiled (src/export/template-compile.ts) when the template
 * compiles, else with the interpreter. A row the compiled form does not mirror is rendered by the
 * interpreter. The first CHECK_FIRST rows and every CHECK_EVERY-th after them are rendered by both and
 * must match (an interpreter error counts as a difference); when one does not, TemplateDivergence is
 * thrown, and the export runs again with the interpreter only. A row the interpreter raises on is rendered
 * again by the compiled form with jinja2's Undefined (transformers renders with jinja2); when that needs
 * no jinja2 rule or raises too, the interpreter's error stands.
 */
export class TemplateRenderer {
  static readonly CHECK_FIRST = 64;
  static readonly CHECK_EVERY = 512;
  static readonly GIVE_UP_AFTER = 64;
  readonly stats: TemplateEngineStats;
  #compiled: CompiledTemplate | undefined;
  /** The compiled form kept for rows the interpreter raises on, also after giving up on it for the others. */
  #rescue: CompiledTemplate | undefined;
  #n = 0;

  constructor(
    readonly t: ChatTemplate,
    engine: 'auto' | 'interpreter' = 'auto',
    compile: (t: Template) => ReturnType<typeof compileTemplate> = compileTemplate,
  ) {
    if (engine === 'interpreter') {
      this.stats = { engine, notCompiled: 'asked for the interpreter', compiledRows: 0, fallbackRows: 0, checkedRows: 0, jinja2Rows: 0 };
      return;
    }
    const c = compile(t.template);
    this.#compiled = c.render;
    this.#rescue = c.render;
    this.stats = { engine: 'compiled', compiledRows: 0, fallbackRows: 0, checkedRows: 0, jinja2Rows: 0, ...(c.uncompiled.length > 0 ? { uncompiled: c.uncompiled } : {}) };
  }

  render(messages: ChatMessage[], tools: ChatTool[]): string {
    const ctx = templateContext(messages, tools, this.t);
    let fellBack = false;
    if (this.#compiled) {
      let r: { text: string; jinja2: boolean } | undefined;
      try {
        r = this.#compiled(ctx);
      } catch {
        r = undefined;
      }
      if (r) return this.#checked(ctx, r);
      this.stats.fallbackRows++;
      fellBack = true;
      if (this.stats.compiledRows === 0 && this.stats.fallbackRows >= TemplateRenderer.GIVE_UP_AFTER) {
        // every row so far went to the interpreter (an uncompiled statement every row runs): stop trying
        this.#compiled = undefined;
        this.stats.engine = 'interpreter';
        this.stats.notCompiled = `its first ${TemplateRenderer.GIVE_UP_AFTER} rows all went to the interpreter (${this.stats.uncompiled?.join('; ') ?? 'cases the compiled form does not mirror'})`;
      }
    }
    try {
      return this.t.template.render(ctx);
    } catch (e) {
      // the interpreter raises: jinja2 (transformers) may still render the row, with its Undefined
      const text = this.#jinja2(ctx);
      if (text === undefined) throw e;
      if (fellBack) this.stats.fallbackRows--;
      return text;
    }
  }

  /** A row the compiled form rendered: checked against the interpreter when sampled or when it took a jinja2 rule. */
  #checked(ctx: Record<string, unknown>, { text, jinja2 }: { text: string; jinja2: boolean }): string {
    if (jinja2) {
      // a row the interpreter cannot render, rendered as jinja2 does: the interpreter must raise on it
      this.stats.jinja2Rows++;
      let ref: string | undefined;
      try {
        ref = this.t.template.render(ctx);
      } catch {
        return text;
      }
      throw new TemplateDivergence(`the compiled template took a jinja2 rule on a row the interpreter renders (differently from character ${firstDifference(ref, text)})`);
    }
    this.stats.compiledRows++;
    const n = this.#n++;
    if (n < TemplateRenderer.CHECK_FIRST || n % TemplateRenderer.CHECK_EVERY === 0) {
      this.stats.checkedRows++;
      let ref: string;
      try {
        ref = this.t.template.render(ctx);
      } catch (e) {
        throw new TemplateDivergence(`the compiled template rendered a row the interpreter rejects (${(e as Error).message})`);
      }
      if (ref !== text) throw new TemplateDivergence(`the compiled template's text differs from the interpreter's at character ${firstDifference(ref, text)} of a row`);
    }
    return text;
  }

  /** A row the interpreter raises on, rendered with jinja2's Undefined; undefined when that raises too or needs no jinja2 rule. */
  #jinja2(ctx: Record<string, unknown>): string | undefined {
    if (!this.#rescue) return undefined;
    try {
      const r = this.#rescue(ctx, 'jinja2');
      if (!r.jinja2) return undefined;
      this.stats.jinja2Rows++;
      return r.text;
    } catch {
      return undefined;
    }
  }
}

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

function parseObject(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}
