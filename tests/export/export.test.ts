import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthesizeStep } from '../../operators/synthesize/step.js';
import { synthesizeStage } from '../../operators/synthesize/index.js';
import { SynthesizeOutput } from '../../operators/synthesize/schema.js';
import { chatMessagesOf, chatToolsOf } from '../../src/export/chat-rows.js';
import { judgePassed, runExport } from '../../src/export/export.js';
import { openAiLineOf, toHermes, toOpenAi, toShareGpt } from '../../src/export/formats.js';
import { toChatMessages, toChatTools } from '../../src/chat-format.js';
import { readRows, type RowRecord } from '../../src/export/read-rows.js';
import type { ChatMessage } from '../../src/llm/types.js';
import type { DocumentItem, StepContext } from '../../src/steps/step.js';
import { CORPUS, runCli, tempDir, writePipeline } from '../e2e/harness.js';
import { duck, sqlString } from '../sinks/fixtures.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const jsonl = async (p: string) => (await readFile(p, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const obj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** One gemflow run over the sample corpus (simulator, judge on, sources kept), exported in every test. */
let dir: string;
let out: string;
let rows: RowRecord[];
beforeAll(async () => {
  dir = await tempDir('export');
  out = join(dir, 'out');
  const cfg = await writePipeline(dir, {
    source: { type: 'files', paths: [CORPUS] },
    llm: { simulate: true },
    steps: [
      { id: 'relevance', type: 'relevance', threshold: 0.35, threads: 1 },
      { id: 'dedupe', type: 'dedupe-documents' },
      { id: 'extract', type: 'extract' },
      { id: 'ground', type: 'ground' },
      { id: 'refine', type: 'refine' },
      { id: 'judge', type: 'judge' },
      { id: 'validate', type: 'validate' },
      { id: 'dedupe_trajectories', type: 'dedupe-trajectories' },
      { id: 'keep_sources', type: 'keep-sources' },
      { id: 'stats', type: 'stats' },
    ],
    sink: { dir: out, maxRows: 6 },
  });
  const run = await runCli(['run', cfg, '--quiet']);
  expect(run.code, run.stderr).toBe(0);
  rows = [];
  for await (const r of readRows(out)) rows.push(r);
  expect(rows.length).toBeGreaterThan(10);
}, 120_000);

/** OpenAI's fine-tuning chat format with tools: the structure its docs give, checked strictly. */
function checkOpenAi(rec: Record<string, unknown>): string[] {
  const p: string[] = [];
  if (Object.keys(rec).sort().join() !== 'messages,tools') p.push(`keys ${Object.keys(rec)}`);
  const tools = rec.tools as unknown[];
  const names = new Set<string>();
  for (const t of tools) {
    if (!obj(t) || t.type !== 'function' || !obj(t.function) || typeof t.function.name !== 'string' || typeof t.function.description !== 'string' || !obj(t.function.parameters)) p.push(`bad tool ${JSON.stringify(t)}`);
    else names.add(t.function.name as string);
  }
  const open = new Set<string>();
  for (const m of rec.messages as Array<Record<string, unknown>>) {
    const keys = Object.keys(m);
    if (m.role === 'system' || m.role === 'user') {
      if (keys.sort().join() !== 'content,role' || typeof m.content !== 'string') p.push(`bad ${m.role} ${keys}`);
    } else if (m.role === 'assistant') {
      if (!keys.every((k) => ['role', 'content', 'tool_calls'].includes(k))) p.push(`assistant keys ${keys}`);
      if (m.tool_calls === undefined && typeof m.content !== 'string') p.push('assistant without content or calls');
      for (const c of (m.tool_calls as Array<Record<string, unknown>>) ?? []) {
        const f = c.function as Record<string, unknown>;
        if (typeof c.id !== 'string' || c.type !== 'function' || typeof f?.name !== 'string' || typeof f.arguments !== 'string') p.push(`bad call ${JSON.stringify(c)}`);
        else {
          if (!obj(JSON.parse(f.arguments as string))) p.push('arguments not a JSON object');
          if (!names.has(f.name as string)) p.push(`call to undefined tool ${f.name}`);
          open.add(c.id as string);
        }
      }
    } else if (m.role === 'tool') {
      if (keys.sort().join() !== 'content,role,tool_call_id' || typeof m.content !== 'string') p.push(`tool keys ${keys}`);
      if (!open.delete(m.tool_call_id as string)) p.push(`tool reply to no open call ${m.tool_call_id}`);
    } else p.push(`role ${m.role}`);
  }
  return p;
}

/** LLaMA-Factory's ShareGPT (data/README.md): human/observation at odd positions, gpt/function_call at even. */
function checkShareGpt(rec: Record<string, unknown>): string[] {
  const p: string[] = [];
  const conv = rec.conversations as Array<{ from: string; value: string }>;
  if (!Array.isArray(conv) || conv.length < 2 || conv.length % 2 !== 0) p.push(`conversation length ${conv?.length}`);
  conv.forEach((t, i) => {
    const odd = i % 2 === 0; // 1st, 3rd, ... (1-based odd positions)
    if (odd ? !['human', 'observation'].includes(t.from) : !['gpt', 'function_call'].includes(t.from)) p.push(`turn ${i + 1} is ${t.from}`);
    if (typeof t.value !== 'string') p.push(`turn ${i + 1} value`);
    if (t.from === 'function_call') {
      const v = JSON.parse(t.value) as unknown;
      for (const c of Array.isArray(v) ? v : [v]) if (!obj(c) || typeof c.name !== 'string' || !obj(c.arguments)) p.push(`function_call ${t.value}`);
    }
  });
  if (typeof rec.system !== 'string') p.push('system');
  const tools = JSON.parse(String(rec.tools)) as unknown[];
  if (!Array.isArray(tools) || tools.some((t) => !obj(t) || typeof t.name !== 'string' || !obj(t.parameters))) p.push('tools');
  return p;
}

/** Hermes function calling: <tools> in the system turn, <tool_call> / <tool_response> blocks of JSON. */
function checkHermes(rec: Record<string, unknown>): string[] {
  const p: string[] = [];
  const conv = rec.conversations as Array<{ from: string; value: string }>;
  const sys = conv[0]!;
  const m = /<tools> (.*) <\/tools>/s.exec(sys.value);
  if (sys.from !== 'system' || !m) p.push('no system turn with <tools>');
  else if (JSON.stringify(JSON.parse(m[1]!)) !== JSON.stringify(JSON.parse(String(rec.tools)))) p.push('<tools> differs from tools');
  const names = new Set((JSON.parse(String(rec.tools)) as Array<{ function: { name: string } }>).map((t) => t.function.name));
  for (const t of conv.slice(1)) {
    if (!['human', 'gpt', 'tool'].includes(t.from)) p.push(`from ${t.from}`);
    if (t.from === 'gpt') {
      for (const c of t.value.matchAll(/<tool_call>\n(.*?)\n<\/tool_call>/gs)) {
        const call = JSON.parse(c[1]!) as Record<string, unknown>;
        if (typeof call.name !== 'string' || !obj(call.arguments) || !names.has(call.name)) p.push(`tool_call ${c[1]}`);
      }
    }
    if (t.from === 'tool') {
      const rest = t.value.replace(/<tool_response>\n(.*?)\n<\/tool_response>/gs, (_, j: string) => {
        const r = JSON.parse(j) as Record<string, unknown>;
        if (typeof r.name !== 'string' || !('content' in r)) p.push(`tool_response ${j}`);
        return '';
      });
      if (rest.trim() !== '') p.push(`tool turn has more than responses: ${rest}`);
    }
  }
  return p;
}

describe('gemflow export', () => {
  it('openai: one valid fine-tuning record per row, messages and tools as the rows hold them', async () => {
    const dest = join(dir, 'openai');
    const r = await runCli(['export', out, '--format', 'openai', '--out', dest]);
    expect(r.code, r.stderr).toBe(0);
    const recs = await jsonl(join(dest, 'train.jsonl'));
    expect(recs).toHaveLength(rows.length);
    for (const rec of recs) expect(checkOpenAi(rec)).toEqual([]);
    expect(recs.map((x) => (x.messages as unknown[]).length)).toEqual(rows.map((x) => chatMessagesOf(x.messages).length));
  });

  it('sharegpt: LLaMA-Factory records and a dataset_info.json whose columns and tags exist in them', async () => {
    const dest = join(dir, 'sharegpt');
    const res = await runExport({ output: out, format: 'sharegpt', outDir: dest, validation: 0.3, seed: 'x', name: 'gem' });
    const info = JSON.parse(await readFile(join(dest, 'dataset_info.json'), 'utf8')) as Record<string, { file_name: string; formatting: string; columns: Record<string, string>; tags: Record<string, string> }>;
    expect(Object.keys(info).sort()).toEqual(['gem', 'gem_validation']);
    let total = 0;
    for (const entry of Object.values(info)) {
      expect(entry.formatting).toBe('sharegpt');
      const recs = await jsonl(join(dest, entry.file_name));
      total += recs.length;
      const roles = new Set<string>();
      for (const rec of recs) {
        for (const col of Object.values(entry.columns)) expect(rec).toHaveProperty(col);
        expect(checkShareGpt(rec)).toEqual([]);
        for (const t of rec[entry.columns.messages!] as Array<Record<string, string>>) {
          expect(t).toHaveProperty(entry.tags.role_tag!);
          expect(t).toHaveProperty(entry.tags.content_tag!);
          roles.add(t[entry.tags.role_tag!]!);
        }
      }
      const tagged = new Set([entry.tags.user_tag, entry.tags.assistant_tag, entry.tags.observation_tag, entry.tags.function_tag]);
      for (const role of roles) expect(tagged.has(role)).toBe(true);
      expect(roles.has('function_call') && roles.has('observation')).toBe(true);
    }
    expect(total).toBe(rows.length);
    expect(res.written.train + res.written.validation).toBe(rows.length);
  });

  it('--parquet: the same records as nested columns, read back by DuckDB (sharegpt, synthesizer)', async () => {
    for (const format of ['sharegpt', 'synthesizer'] as const) {
      const dest = join(dir, `pq-${format}`);
      const r = await runCli(['export', out, '--format', format, '--out', dest, '--parquet']);
      expect(r.code, r.stderr).toBe(0);
      const recs = await jsonl(join(dest, 'train.jsonl'));
      const db = await duck();
      try {
        const col = format === 'sharegpt' ? 'conversations' : 'messages';
        const got = await db.all(`SELECT ${col} AS c FROM read_parquet(${sqlString(join(dest, 'train.parquet'))})`);
        expect(got.map((g) => g.c)).toEqual(recs.map((x) => x[col]));
      } finally {
        db.close();
      }
    }
    const bad = await runCli(['export', out, '--format', 'openai', '--out', join(dir, 'pq-openai'), '--parquet']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('JSONL only');
  });

  it('hermes: <tools>, <tool_call> and <tool_response> blocks of valid JSON', async () => {
    const dest = join(dir, 'hermes');
    await runExport({ output: out, format: 'hermes', outDir: dest });
    const recs = await jsonl(join(dest, 'train.jsonl'));
    expect(recs).toHaveLength(rows.length);
    for (const rec of recs) expect(checkHermes(rec)).toEqual([]);
    expect(recs.some((x) => (x.conversations as Array<{ value: string }>).some((t) => t.value.includes('<tool_call>')))).toBe(true);
  });

  it('template: reproduces the template\'s own rendering (jinja2 as transformers runs it), from .jinja and tokenizer_config.json', async () => {
    const source = await readFile(join(FIXTURES, 'qwen2.5-tools.jinja'), 'utf8');
    const cfg = join(dir, 'tokenizer_config.json');
    await writeFile(cfg, JSON.stringify({ chat_template: [{ name: 'default', template: source }], eos_token: { content: '<|im_end|>' } }));
    const expected = spawnSync(join(import.meta.dirname, '../../.cache/python/venv/bin/python'), [join(FIXTURES, 'render_chat_template.py')], {
      input: JSON.stringify({ template: source, bos_token: '', eos_token: '<|im_end|>', rows: rows.map((r) => ({ messages: chatMessagesOf(r.messages), tools: chatToolsOf(r.tools) })) }),
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    expect(expected.status, expected.stderr).toBe(0);
    const texts = JSON.parse(expected.stdout) as string[];
    for (const file of [join(FIXTURES, 'qwen2.5-tools.jinja'), cfg]) {
      const dest = join(dir, `template-${file.endsWith('.json') ? 'cfg' : 'jinja'}`);
      const r = await runCli(['export', out, '--format', 'template', '--template', file, '--out', dest]);
      expect(r.code, r.stderr).toBe(0);
      const recs = await jsonl(join(dest, 'train.jsonl'));
      expect(recs.map((x) => x.text)).toEqual(texts);
      expect(recs.map((x) => x.trajectory_id)).toEqual(rows.map((x) => x.trajectory_id));
    }
    expect(texts[0]).toContain('<tool_call>\n{"name": "');
  });

  it('template: a template that raises on every row writes no rows and exits 2, saying why; filtering every row away exits 0', async () => {
    const file = join(dir, 'raises.jinja');
    await writeFile(file, "{{ raise_exception('this template takes no tools') }}");
    const r = await runCli(['export', out, '--format', 'template', '--template', file, '--out', join(dir, 'template-raises')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('export wrote no rows');
    expect(r.stderr).toContain('template_render_failed');
    const none = await runCli(['export', out, '--format', 'openai', '--max-complexity=-1', '--out', join(dir, 'filtered-all')]);
    expect(none.code, none.stderr).toBe(0);
  });

  it('split by document: no document on both sides, every row once, same seed same split', async () => {
    const a = await runExport({ output: out, format: 'openai', outDir: join(dir, 'split-a'), validation: 0.4, seed: 's1' });
    const b = await runExport({ output: out, format: 'openai', outDir: join(dir, 'split-b'), validation: 0.4, seed: 's1' });
    expect(a.written).toEqual(b.written);
    expect(a.written.validation).toBeGreaterThan(0);
    expect(a.written.train).toBeGreaterThan(0);
    // The records carry no ids: map them back to rows by their messages.
    const byMessages = new Map(rows.map((r) => [JSON.stringify(chatMessagesOf(r.messages).map((m) => m.content)), String(r.document_id)]));
    const docs = async (f: string) => (await jsonl(f)).map((x) => byMessages.get(JSON.stringify((x.messages as Array<{ content?: string }>).map((m) => m.content ?? '')))!);
    const train = await docs(join(dir, 'split-a', 'train.jsonl'));
    const val = await docs(join(dir, 'split-a', 'validation.jsonl'));
    expect(train.length + val.length).toBe(rows.length);
    expect(train.every((d) => d !== undefined) && val.every((d) => d !== undefined)).toBe(true);
    const trainDocs = new Set(train);
    expect(val.filter((d) => trainDocs.has(d))).toEqual([]);
    expect(await readFile(join(dir, 'split-a', 'train.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'split-b', 'train.jsonl'), 'utf8'));
  });

  it('filters by complexity score and by judge verdict, and the books balance', async () => {
    const scores = rows.map((r) => Number(r.complexity_score)).sort((x, y) => x - y);
    const median = scores[Math.floor(scores.length / 2)]!;
    const res = await runExport({ output: out, format: 'openai', outDir: join(dir, 'filtered'), minComplexity: median, judge: 'pass' });
    const keep = rows.filter((r) => Number(r.complexity_score) >= median && judgePassed(JSON.parse(String(r.judge))));
    expect(res.written.train).toBe(keep.length);
    expect(keep.length).toBeGreaterThan(0);
    expect(keep.length).toBeLessThan(rows.length);
    expect(res.read).toBe(res.written.train + Object.values(res.filtered).reduce((a, b) => a + b, 0) + Object.values(res.skipped).reduce((a, b) => a + b, 0));
    expect(judgePassed({ r1GroundedArguments: { pass: true, reason: '' }, r2HonestLimits: { pass: false, reason: 'x' } })).toBe(false);
    expect(judgePassed(null)).toBe(false);
  });

  it('synthesizer: the prompt is what the synthesize step sends for the document, the answer parses with its schema', async () => {
    const dest = join(dir, 'synth');
    const res = await runExport({ output: out, format: 'synthesizer', outDir: dest });
    const pairs = await jsonl(join(dest, 'train.jsonl'));
    expect(pairs.length).toBe(new Set(rows.map((r) => r.document_id)).size);
    expect(res.skipped).toEqual({});
    const corpus = new Map((await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean).map((l) => {
      const d = JSON.parse(l) as { id: string; text: string };
      return [d.id, d.text] as const;
    }));
    for (const pair of pairs) {
      const messages = pair.messages as ChatMessage[];
      // What the synthesize step sends for this document: run the step on it and catch its request.
      let sent: ChatMessage[] | undefined;
      const step = await synthesizeStep.create(synthesizeStep.config.parse({}), { id: 'synthesize', log: {} as never, state: () => ({ get: () => undefined, put() {} }), onClose() {} });
      const doc: DocumentItem = { kind: 'document', doc: { id: String(pair.document_id), text: corpus.get(String(pair.document_id))!, origin: { kind: 'file', partition: CORPUS, offset: 0, file: CORPUS, line: 0 }, meta: {}, bytes: 0 }, notes: {} };
      const ctx = {
        id: 'synthesize',
        llm: {
          contextTokens: () => undefined,
          call: async (stage: typeof synthesizeStage, input: Parameters<typeof synthesizeStage.render>[0]) => {
            sent = stage.render(input);
            return { output: { domain: 'd', items: [] }, promptTokens: 0, completionTokens: 0, calls: 1, model: 'm', cached: false };
          },
        },
      } as unknown as StepContext;
      await step.process(doc as never, ctx);
      expect(messages.slice(0, 2)).toEqual(sent);
      const answer = SynthesizeOutput.parse(JSON.parse(messages[2]!.content));
      expect(messages[2]!.role).toBe('assistant');
      expect(synthesizeStage.check!(answer, { text: doc.doc.text, maxWorkflows: 3 })).toEqual([]);
      const mine = rows.filter((r) => r.document_id === pair.document_id);
      expect(answer.items.map((i) => i.trajectory.messages.length)).toEqual(mine.slice(0, 3).map((r) => chatMessagesOf(r.messages).length));
    }
  });

  it('parallel calls, text beside calls and tool replies in every format', () => {
    const messages = toChatMessages([
      { role: 'system', content: 'policy' },
      { role: 'user', content: 'check orders 1 and 2' },
      { role: 'assistant', content: 'Checking both.', toolCalls: [{ id: 'a', name: 'get_order', arguments: { id: 1 } }, { id: 'b', name: 'get_order', arguments: { id: 2 } }] },
      { role: 'tool', content: '{"id":1}', toolCallId: 'a', name: 'get_order' },
      { role: 'tool', content: 'not found', toolCallId: 'b', name: 'get_order' },
      { role: 'assistant', content: 'Order 1 is there; order 2 is not.' },
    ]);
    const row = { trajectoryId: 't', documentId: 'd', messages, tools: toChatTools([{ name: 'get_order', description: 'reads an order', parameters: { type: 'object', properties: { id: { type: 'integer' } } } }]) };
    const sg = toShareGpt(row);
    if (!('record' in sg)) throw new Error('skipped');
    expect(checkShareGpt(sg.record)).toEqual([]);
    expect(sg.record.conversations).toEqual([
      { from: 'human', value: 'check orders 1 and 2' },
      { from: 'function_call', value: JSON.stringify([{ name: 'get_order', arguments: { id: 1 } }, { name: 'get_order', arguments: { id: 2 } }]) },
      { from: 'observation', value: JSON.stringify(['{"id":1}', 'not found']) },
      { from: 'gpt', value: 'Order 1 is there; order 2 is not.' },
    ]);
    const h = toHermes(row);
    if (!('record' in h)) throw new Error('skipped');
    expect(checkHermes(h.record)).toEqual([]);
    const turns = h.record.conversations as Array<{ from: string; value: string }>;
    expect(turns[2]!.value.startsWith('Checking both.\n<tool_call>')).toBe(true);
    expect(turns[3]!.value.match(/<tool_response>/g)).toHaveLength(2);
    const oa = toOpenAi(row);
    if (!('record' in oa)) throw new Error('skipped');
    expect(checkOpenAi(oa.record)).toEqual([]);
  });

  it('openai from the stored JSON text: the line parse-convert-serialise gives; rows of the older internal JSON take the slow way', async () => {
    const internal = [
      { role: 'system', content: 'policy' },
      { role: 'user', content: 'check "orders" 1 and 2 \\' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'a', name: 'get_order', arguments: { id: 1 } }, { id: 'b', name: 'get_order', arguments: { id: 2 } }] },
      { role: 'tool', content: '{"id":1,"name":"x"}', toolCallId: 'a', name: 'get_order' },
      { role: 'tool', content: 'not found', toolCallId: 'b', name: 'get_order' },
      { role: 'assistant', content: 'Both checked.', toolCalls: [{ id: 'c', name: 'get_order', arguments: { id: 3 } }] },
      { role: 'tool', content: '{}', toolCallId: 'c', name: 'get_order' },
      { role: 'assistant', content: 'Done.' },
    ] as const;
    const messages = toChatMessages(internal as never);
    const tools = toChatTools([{ name: 'get_order', description: 'reads an order', parameters: { type: 'object', properties: { id: { type: 'integer' } } } }]);
    const slow = toOpenAi({ trajectoryId: 't', documentId: 'd', messages, tools });
    if (!('record' in slow)) throw new Error('skipped');
    const line = openAiLineOf(JSON.stringify(messages), JSON.stringify(tools));
    expect(line).toBe(JSON.stringify(slow.record));
    expect(checkOpenAi(JSON.parse(line!) as Record<string, unknown>)).toEqual([]);
    expect(openAiLineOf(messages, JSON.stringify(tools))).toBeUndefined(); // nested values: not text

    // An output whose rows hold the older internal JSON: its text starts like chat format, so only the
    // exact check on the file's first row sends it the slow way; every record must still be right.
    const old = await tempDir('export-internal');
    const pq = createRequire(import.meta.url)('parquetjs-lite') as {
      ParquetSchema: new (f: Record<string, unknown>) => unknown;
      ParquetWriter: { openFile(s: unknown, p: string): Promise<{ appendRow(r: Record<string, unknown>): Promise<void>; close(): Promise<void> }> };
    };
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(old, 'shards'), { recursive: true });
    const w = await pq.ParquetWriter.openFile(new pq.ParquetSchema({ trajectory_id: { type: 'UTF8' }, document_id: { type: 'UTF8' }, messages: { type: 'UTF8' }, tools: { type: 'UTF8' } }), join(old, 'shards', 'a.parquet'));
    for (const id of ['t1', 't2', 't3']) await w.appendRow({ trajectory_id: id, document_id: 'd', messages: JSON.stringify(internal), tools: JSON.stringify(tools) });
    await w.close();
    const r = await runExport({ output: old, format: 'openai', outDir: join(old, 'exp') });
    expect(r.written.train).toBe(3);
    for (const rec of await jsonl(join(old, 'exp', 'train.jsonl'))) expect(rec).toEqual(slow.record);
  });

  it('says clearly what is missing: no rows, no sources, no template', async () => {
    const empty = await tempDir('export-empty');
    const r = await runCli(['export', empty, '--format', 'openai', '--out', join(empty, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds no row files');
    await expect(runExport({ output: out, format: 'synthesizer', outDir: join(dir, 'x'), sources: join(dir, 'nope.sqlite') })).rejects.toThrow();
    const t = await runCli(['export', out, '--format', 'template', '--out', join(dir, 'y')]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('--template');
  });
});
