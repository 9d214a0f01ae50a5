import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import type { ChatMessage, ChatTool } from '../../src/chat-format.js';
import { compileTemplate, FALLBACK } from '../../src/export/template-compile.js';
import { alnum9CallIds, loadChatTemplate, templateContext, TemplateDivergence, TemplateRenderer } from '../../src/export/template.js';
import { mulberry32 } from '../mulberry32.js';

const TEMPLATES = join(import.meta.dirname, '../fixtures/templates');
const EXPORT_FIXTURES = join(import.meta.dirname, 'fixtures');

/** Rows unlike the sink's tidy ones too: odd characters, empty and long texts, nested and float arguments, calls in runs. */
function randomRows(seed: number, n: number): Array<{ messages: ChatMessage[]; tools: ChatTool[] }> {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const pieces = ['plain', 'How to', 'What', 'quote " here', 'back\\slash', 'new\nline', 'tab\t', 'ünïcødé', '日本語', '😀 emoji', '<tool_call>', '{"json": 1}', '', '  padded  ', 'x'.repeat(200), '\u2028sep', 'a, b: c'];
  const text = () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(pieces)).join(pick([' ', '', '\n']));
  const value = (depth: number): unknown => {
    const k = Math.floor(r() * (depth > 2 ? 6 : 8));
    switch (k) {
      case 0:
        return text();
      case 1:
        return Math.floor(r() * 2000) - 1000;
      case 2:
        return Math.round(r() * 1e4) / 100 + 0.005;
      case 3:
        return r() < 0.5;
      case 4:
        return null;
      case 5:
        return -0.25;
      case 6:
        return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
      default:
        return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, () => [pick(['a', 'b_c', 'ключ', 'x y', '10', '2', 'z']), value(depth + 1)]));
    }
  };
  const tools = (): ChatTool[] =>
    Array.from({ length: Math.floor(r() * 4) }, (_, i) => ({
      type: 'function' as const,
      function: {
        name: `tool_${i}_${pick(['get', 'set', 'list'])}`,
        description: text(),
        parameters: {
          type: 'object',
          properties: Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, j) => [`p${j}`, { type: pick(['string', 'integer', 'number', 'boolean', 'array']), description: text() }])),
          required: r() < 0.5 ? ['p0'] : [],
        },
      },
    }));
  return Array.from({ length: n }, () => {
    const messages: ChatMessage[] = [];
    if (r() < 0.7) messages.push({ role: 'system', content: text() });
    const turns = 1 + Math.floor(r() * 5);
    for (let t = 0; t < turns; t++) {
      messages.push({ role: 'user', content: text() });
      const calls = r() < 0.2 ? 2 : r() < 0.7 ? 1 : 0;
      if (calls === 0) {
        messages.push({ role: 'assistant', content: text() });
        continue;
      }
      const ids = Array.from({ length: calls }, (_, c) => `call_${t}_${c}_${Math.floor(r() * 1e6)}`);
      messages.push({
        role: 'assistant',
        content: r() < 0.5 ? '' : text(),
        tool_calls: ids.map((id) => ({ id, type: 'function' as const, function: { name: `tool_${t}`, arguments: r() < 0.1 ? 'not json' : JSON.stringify(value(0) ?? {}) } })),
      });
      for (const id of ids) messages.push({ role: 'tool', content: text(), tool_call_id: id, ...(r() < 0.5 ? { name: `tool_${t}` } : {}) });
      if (r() < 0.5) messages.push({ role: 'assistant', content: text() });
    }
    return { messages, tools: tools() };
  });
}

async function templateFiles(): Promise<string[]> {
  const here = (await readdir(TEMPLATES)).filter((f) => f.endsWith('.jinja')).map((f) => join(TEMPLATES, f));
  return [...here, join(EXPORT_FIXTURES, 'qwen2.5-tools.jinja'), join(EXPORT_FIXTURES, 'compile/constructs.jinja')];
}

/** Renders with both; the compiled text must equal the interpreter's wherever the compiled form gives one. */
function compare(source: string, rows: Array<{ messages: ChatMessage[]; tools: ChatTool[] }>, extra: Record<string, unknown> = {}) {
  const t = new Template(source);
  const c = compileTemplate(t);
  let compiled = 0;
  let fellBack = 0;
  let interpreterErrors = 0;
  let jinja2 = 0;
  for (const row of rows) {
    const ctx = { ...templateContext(row.messages, row.tools, { bosToken: '<s>', eosToken: '</s>' }), ...extra };
    let want: string | Error;
    try {
      want = t.render(ctx);
    } catch (e) {
      want = e as Error;
      interpreterErrors++;
    }
    let got: string | typeof FALLBACK;
    try {
      const r = c.render(ctx);
      got = r.text;
      if (r.jinja2) {
        // a jinja2 rule: only where the interpreter raises
        expect(want).toBeInstanceOf(Error);
        jinja2++;
        continue;
      }
    } catch (e) {
      expect(e).toBe(FALLBACK);
      got = FALLBACK;
    }
    if (got === FALLBACK) fellBack++;
    else {
      compiled++;
      expect(got).toBe(want); // an interpreter error here would be a string compared with an Error: fails
    }
  }
  return { compiled, fellBack, interpreterErrors, jinja2 };
}

describe('compiled chat templates', () => {
  it('compile, and render every row as the interpreter does, for each template in the fixtures', async () => {
    const files = await templateFiles();
    expect(files.length).toBeGreaterThanOrEqual(5);
    const rows = randomRows(7, 400);
    for (const f of files) {
      const t = await loadChatTemplate(f);
      for (const agp of [false, true]) {
        const r = compare(t.source, rows, { add_generation_prompt: agp });
        // the compiled form must carry the load, not hand it to the interpreter
        expect(r.compiled, `${f}: ${JSON.stringify(r)}`).toBeGreaterThan(rows.length * 0.5);
        // each fall-back is a row the interpreter fails too, or a case the compiler leaves to it
        expect(r.compiled + r.fellBack + r.jinja2).toBe(rows.length);
      }
    }
  });

  it('hands a row it does not mirror to the interpreter: a float with an integer value, raise_exception, errors', () => {
    const rows = randomRows(11, 60);
    // messages | length / 2: a float; with an even length its value is an integer ("2.0" in the interpreter)
    const r = compare(`{{ (messages | length) / 2 }}|{{ 7 / 2 }}|{{ 1.5 + 1.5 }}`, rows);
    expect(r.fellBack).toBe(rows.length); // 1.5 + 1.5 is 3.0 in every row
    const even = compare(`{{ (messages | length) / 2 }}`, rows);
    expect(even.compiled).toBeGreaterThan(0);
    expect(even.fellBack).toBeGreaterThan(0);
    const raise = compare(`{% if messages | length > 6 %}{{ raise_exception("too long") }}{% endif %}ok`, rows);
    expect(raise.fellBack).toBe(raise.interpreterErrors);
    expect(raise.interpreterErrors).toBeGreaterThan(0);
    const nulls = compare(`{% for m in messages %}{{ m.content + m.missing }}{% endfor %}`, rows); // string + undefined: an error
    expect(nulls.fellBack).toBe(rows.length);
  });

  it('leaves a statement it does not compile to the interpreter, for the rows that run it', () => {
    const ctx = (n: number) => templateContext(randomRows(13, 1)[0]!.messages.slice(0, n), [], { bosToken: '', eosToken: '' });
    for (const part of ['{{ messages | unique | length }}', '{% filter upper %}x{% endfilter %}', '{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}y{% endcall %}', '{{ messages | reject("none") | list }}', '{{ 2.0 }}']) {
      const src = `a{% if messages | length > 1 %}${part}{% endif %}b`;
      const t = new Template(src);
      const c = compileTemplate(t);
      expect(c.uncompiled.length, src).toBeGreaterThanOrEqual(1);
      expect(c.render(ctx(1)).text).toBe(t.render(ctx(1))); // the branch does not run: compiled
      expect(() => c.render(ctx(2))).toThrow(); // it runs: the row goes to the interpreter
      expect((() => { try { c.render(ctx(2)); } catch (e) { return e; } })()).toBe(FALLBACK);
    }
  });

  it('gives up compiling when the first rows all go to the interpreter', async () => {
    const t = await loadChatTemplate(join(TEMPLATES, 'hermes.jinja'));
    const always = { ...t, template: new Template(`{% filter upper %}x{% endfilter %}{{ messages | length }}`) };
    const r = new TemplateRenderer(always);
    const rows = randomRows(17, TemplateRenderer.GIVE_UP_AFTER + 10);
    for (const row of rows) expect(r.render(row.messages, row.tools)).toBe(always.template.render(templateContext(row.messages, row.tools, always)));
    expect(r.stats.engine).toBe('interpreter');
    expect(r.stats.fallbackRows).toBe(TemplateRenderer.GIVE_UP_AFTER);
    expect(r.stats.notCompiled).toMatch(/first 64 rows all went to the interpreter/);
  });

  it('the renderer checks sampled rows against the interpreter and stops on a difference', async () => {
    const t = await loadChatTemplate(join(TEMPLATES, 'qwen2.5.jinja'));
    const rows = randomRows(3, TemplateRenderer.CHECK_FIRST + 2 * TemplateRenderer.CHECK_EVERY);
    const ok = new TemplateRenderer(t);
    for (const row of rows) expect(ok.render(row.messages, row.tools)).toBe(t.template.render(templateContext(row.messages, row.tools, t)));
    expect(ok.stats.engine).toBe('compiled');
    expect(ok.stats.checkedRows).toBe(TemplateRenderer.CHECK_FIRST + 2);
    expect(ok.stats.compiledRows).toBe(rows.length);

    // a compiled form that goes wrong on its 100th row: the check at row 512 (the first after 64) sees it
    let n = 0;
    const wrong = new TemplateRenderer(t, 'auto', (tpl) => {
      const c = compileTemplate(tpl);
      return { ...c, render: (ctx) => (++n >= 100 ? { text: c.render(ctx).text + ' ', jinja2: false } : c.render(ctx)) };
    });
    let threw: unknown;
    let rendered = 0;
    try {
      for (const row of rows) {
        wrong.render(row.messages, row.tools);
        rendered++;
      }
    } catch (e) {
      threw = e;
    }
    expect(threw).toBeInstanceOf(TemplateDivergence);
    expect(rendered).toBe(TemplateRenderer.CHECK_EVERY);
  });

  it('renders a row the interpreter raises on with jinja2\'s Undefined, where jinja2 renders it', async () => {
    const t = await loadChatTemplate(join(TEMPLATES, 'hermes.jinja'));
    // a type map read with a missing key (the interpreter: "Cannot access property with non-string"), then undefined iterated and trimmed
    const src = `{% set m = {"string": "str"} %}{% for tool in tools %}{{ m[tool.function.parameters.type] is defined }} {% for x in tool.nothing %}{{ x }}{% else %}none{% endfor %} [{{ tool.nothing | trim }}]{{ tool.nothing | length }} {{ tool.nothing is iterable }} {{ tool.nothing == none }}{% endfor %}`;
    const tpl = { ...t, template: new Template(src) };
    const r = new TemplateRenderer(tpl);
    const tools = [{ type: 'function' as const, function: { name: 'f', description: '', parameters: {} } }];
    expect(() => tpl.template.render(templateContext([], tools, tpl))).toThrow(/non-string/);
    // jinja2's Undefined (not defined, iterable and empty, trims to "", length 0, unequal to none), with
    // booleans written as the interpreter writes them (jinja2 writes False / True)
    expect(r.render([], tools)).toBe('false none []0 true false');
    expect(r.stats).toMatchObject({ jinja2Rows: 1, compiledRows: 0, fallbackRows: 0 });
    // a row jinja2 raises on too (an attribute of undefined) stays an error
    const bad = { ...t, template: new Template(`{{ m[tools.x] }}{{ tools.x.y.z }}`) };
    expect(() => new TemplateRenderer(bad).render([], tools)).toThrow();
  });

  it('rewrites tool-call ids as 9 letters and digits, the same in a call and its reply, distinct per id, the same every time', () => {
    for (const row of randomRows(19, 200)) {
      const out = alnum9CallIds(row.messages);
      const map = new Map<string, string>();
      row.messages.forEach((m, i) => {
        const o = out[i]!;
        const pairs: Array<[string, string]> = m.tool_calls ? m.tool_calls.map((c, j) => [c.id, o.tool_calls![j]!.id]) : m.tool_call_id !== undefined ? [[m.tool_call_id, o.tool_call_id!]] : [];
        for (const [from, to] of pairs) {
          expect(to).toMatch(/^[A-Za-z0-9]{9}$/);
          if (map.has(from)) expect(to).toBe(map.get(from));
          map.set(from, to);
        }
        expect(o.content).toBe(m.content);
      });
      expect(new Set(map.values()).size).toBe(map.size);
      expect(alnum9CallIds(row.messages)).toEqual(out);
    }
  });

  it('renders with the interpreter only when asked', async () => {
    const t = await loadChatTemplate(join(TEMPLATES, 'hermes.jinja'));
    const r = new TemplateRenderer(t, 'interpreter');
    const [row] = randomRows(5, 1);
    expect(r.render(row!.messages, row!.tools)).toBe(t.template.render(templateContext(row!.messages, row!.tools, t)));
    expect(r.stats).toMatchObject({ engine: 'interpreter', compiledRows: 0 });
  });
});
