import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join, resolve } from 'node:path';
import { Field, Int32, List, Struct, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { toChatMessages, toChatTools } from '../../src/chat-format.js';
import { chatMessagesOf, chatToolsOf } from '../../src/export/chat-rows.js';
import { listRowFiles, readBatches, readRows } from '../../src/export/read-rows.js';
import type { Message, ToolDef } from '../../src/trajectory.js';
import { tempDir } from '../e2e/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

const internal: Message[] = [
  { role: 'system', content: 'policy' },
  { role: 'user', content: 'cancel order 7' },
  { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'cancel_order', arguments: { order_id: 7, items: [{ sku: 'a', qty: null }] } }] },
  { role: 'tool', content: '{"ok":true}', toolCallId: 'c1', name: 'cancel_order' },
  { role: 'assistant', content: 'Cancelled.' },
];
const tools: ToolDef[] = [{ name: 'cancel_order', description: 'cancels', parameters: { type: 'object', properties: { order_id: { type: 'integer' } }, required: ['order_id'] } }];
const chat = toChatMessages(internal);

describe('reading rows of any layout', () => {
  it('normalises messages and tools from chat-format JSON, nested values, and the older internal JSON', () => {
    expect(chatMessagesOf(JSON.stringify(chat))).toEqual(chat);
    expect(chatMessagesOf(JSON.stringify(internal))).toEqual(chat);
    // Nested columns: absent fields come back as null, arguments may be a string or an object.
    const nested = chat.map((m) => ({ role: m.role, content: m.content, tool_calls: m.tool_calls ?? null, tool_call_id: m.tool_call_id ?? null, name: m.name ?? null }));
    expect(chatMessagesOf(nested)).toEqual(chat);
    expect(chatToolsOf(JSON.stringify(toChatTools(tools)))).toEqual(toChatTools(tools));
    expect(chatToolsOf(JSON.stringify(tools))).toEqual(toChatTools(tools));
    expect(chatToolsOf([{ type: 'function', function: { ...tools[0]!, parameters: JSON.stringify(tools[0]!.parameters) } }])).toEqual(toChatTools(tools));
    expect(() => chatMessagesOf('{not json')).toThrow(/not valid JSON/);
  });

  it('streams Arrow IPC shards (file and stream format) under data/ with nested message columns, skipping _ and . folders', async () => {
    const dir = await tempDir('read-rows');
    await mkdir(join(dir, 'data'), { recursive: true });
    await mkdir(join(dir, '_state'), { recursive: true });
    const call = new Struct([new Field('id', new Utf8()), new Field('type', new Utf8()), new Field('function', new Struct([new Field('name', new Utf8()), new Field('arguments', new Utf8())]))]);
    const msg = new Struct([
      new Field('role', new Utf8()),
      new Field('content', new Utf8()),
      new Field('tool_calls', new List(new Field('item', call, true)), true),
      new Field('tool_call_id', new Utf8(), true),
      new Field('name', new Utf8(), true),
    ]);
    const nested = chat.map((m) => ({ role: m.role, content: m.content, tool_calls: m.tool_calls ?? null, tool_call_id: m.tool_call_id ?? null, name: m.name ?? null }));
    const table = new Table({
      trajectory_id: vectorFromArray(['t1', 't2'], new Utf8()),
      document_id: vectorFromArray(['d1', 'd1'], new Utf8()),
      messages: vectorFromArray([nested, nested], new List(new Field('item', msg, true))),
      tools: vectorFromArray([JSON.stringify(toChatTools(tools)), JSON.stringify(toChatTools(tools))], new Utf8()),
      n_messages: vectorFromArray([5, 5], new Int32()),
    });
    await writeFile(join(dir, 'data', 'part-0.arrow'), tableToIPC(table, 'file'));
    await writeFile(join(dir, 'data', 'part-1.arrows'), tableToIPC(table, 'stream'));
    await writeFile(join(dir, '_state', 'ignored.arrow'), tableToIPC(table, 'file'));
    expect((await listRowFiles(dir)).map((f) => f.slice(dir.length))).toEqual(['/data/part-0.arrow', '/data/part-1.arrows']);
    const got = [];
    for await (const r of readRows(dir)) got.push(r);
    expect(got.map((r) => r.trajectory_id)).toEqual(['t1', 't2', 't1', 't2']);
    for (const r of got) {
      expect(chatMessagesOf(r.messages)).toEqual(chat);
      expect(chatToolsOf(r.tools)).toEqual(toChatTools(tools));
      expect(r.n_messages).toBe(5);
    }
  });

  it('reads Parquet with nested message columns (written by DuckDB) and 64-bit integers as numbers', async () => {
    const dir = await tempDir('read-rows-pq');
    await mkdir(join(dir, 'data'), { recursive: true });
    const nested = chat.map((m) => ({ role: m.role, content: m.content, tool_calls: m.tool_calls ?? null, tool_call_id: m.tool_call_id ?? null, name: m.name ?? null }));
    const src = join(dir, 'rows.jsonl');
    await writeFile(src, ['t1', 't2'].map((id) => JSON.stringify({ trajectory_id: id, document_id: 'd1', messages: nested, tools: JSON.stringify(toChatTools(tools)), n_messages: 5 })).join('\n') + '\n');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    await con.run(`COPY (SELECT * FROM read_json_auto('${src}')) TO '${join(dir, 'data', 'part-0.parquet')}' (FORMAT parquet)`);
    con.closeSync();
    db.closeSync();
    const got = [];
    for await (const r of readRows(dir)) got.push(r);
    expect(got.map((r) => r.trajectory_id)).toEqual(['t1', 't2']);
    for (const r of got) {
      expect(chatMessagesOf(r.messages)).toEqual(chat);
      expect(chatToolsOf(r.tools)).toEqual(toChatTools(tools));
      expect(r.n_messages).toBe(5);
    }
    const some = [];
    for await (const r of readRows(dir, { columns: ['document_id', 'nope'] })) some.push(r);
    expect(some).toEqual([{ document_id: 'd1' }, { document_id: 'd1' }]);
  });

  it('reads Parquet of every codec and writer as DuckDB does (hyparquet; DuckDB for row groups over the limit), bytes as valid UTF-8 views', async () => {
    const dir = await tempDir('read-rows-codecs');
    const src = join(dir, 'rows.jsonl');
    const rows = Array.from({ length: 300 }, (_, i) => ({
      trajectory_id: `t${i}`,
      document_id: `d${i % 7}`,
      messages: JSON.stringify(chat.map((m) => ({ ...m, content: `${m.content} é ✓ ${i}`.repeat(1 + (i % 5)) }))),
      tools: JSON.stringify(toChatTools(tools)),
      n_messages: i,
      score: i / 7,
      note: i % 3 === 0 ? null : `n${i}`,
    }));
    await writeFile(src, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const codecs = ['uncompressed', 'snappy', 'zstd', 'gzip', 'brotli', 'lz4'];
    for (const codec of codecs) {
      await mkdir(join(dir, codec, 'data'), { recursive: true });
      await con.run(`COPY (SELECT * FROM read_json_auto('${src}')) TO '${join(dir, codec, 'data', 'part-0.parquet')}' (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE 128)`);
    }
    con.closeSync();
    db.closeSync();
    for (const codec of codecs) {
      const got = [];
      for await (const r of readRows(join(dir, codec))) got.push(r);
      expect(got, codec).toEqual(rows);
      // Asked as bytes: the UTF-8 of the text, as DuckDB reads it (a row group over the limit goes to DuckDB).
      for (const maxGroupBytes of [undefined, 1]) {
        const seen: string[] = [];
        for await (const b of readBatches(join(dir, codec), { columns: ['messages'], bytes: ['messages'], maxGroupBytes })) {
          for (const r of b) {
            expect(r.messages).toBeInstanceOf(Uint8Array);
            seen.push(Buffer.from(r.messages as Uint8Array).toString('utf8'));
          }
        }
        expect(seen, `${codec} ${maxGroupBytes}`).toEqual(rows.map((r) => r.messages));
      }
    }
  });

  it('reads pyarrow\'s SNAPPY files (dictionary or plain, data pages v1 and v2, many pages and row groups) as pyarrow wrote them, bytes included', async () => {
    // Pages go through one reused memory per file (src/export/snappy-arena.ts): a writer gemflow did not write.
    const dir = await tempDir('read-rows-pyarrow');
    const rows = Array.from({ length: 700 }, (_, i) => ({
      trajectory_id: `t${i}`,
      document_id: `d${i % 5}`, // repeats: dictionary-encoded where allowed
      messages: JSON.stringify(chat.map((m) => ({ ...m, content: `${m.content} é ✓ ${i}`.repeat(1 + (i % 9)) }))),
      tools: JSON.stringify(toChatTools(tools)),
      n_messages: i,
    }));
    const src = join(dir, 'rows.jsonl');
    await writeFile(src, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const variants = [
      ['dict-v1', 'use_dictionary=True, data_page_version="1.0"'],
      ['plain-v2', 'use_dictionary=False, data_page_version="2.0"'],
      ['dict-v2', 'use_dictionary=True, data_page_version="2.0"'],
    ] as const;
    const script = [
      'import json, sys, pyarrow as pa, pyarrow.parquet as pq',
      `rows = [json.loads(l) for l in open(${JSON.stringify(src)})]`,
      'table = pa.Table.from_pylist(rows)',
      ...variants.map(([name, opts]) => `import os; os.makedirs(${JSON.stringify(join(dir, name, 'data'))}, exist_ok=True); pq.write_table(table, ${JSON.stringify(join(dir, name, 'data', 'part-0.parquet'))}, compression="snappy", row_group_size=150, data_page_size=4096, ${opts})`),
    ].join('\n');
    await promisify(execFile)(join(ROOT, '.cache/python/venv/bin/python'), ['-c', script]);
    for (const [name] of variants) {
      const got = [];
      for await (const r of readRows(join(dir, name))) got.push(r);
      expect(got, name).toEqual(rows);
      const seen: string[] = [];
      for await (const b of readBatches(join(dir, name), { columns: ['messages', 'tools'], bytes: ['messages', 'tools'] })) {
        for (const r of b) seen.push(Buffer.from(r.messages as Uint8Array).toString('utf8') + Buffer.from(r.tools as Uint8Array).toString('utf8'));
      }
      expect(seen, name).toEqual(rows.map((r) => r.messages + r.tools));
    }
  });

  it('names a cut Parquet file export_unreadable', async () => {
    const dir = await tempDir('read-rows-cut');
    await mkdir(join(dir, 'data'), { recursive: true });
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const file = join(dir, 'data', 'part-0.parquet');
    await con.run(`COPY (SELECT range AS n, 'row ' || range AS s FROM range(1000)) TO '${file}' (FORMAT parquet)`);
    con.closeSync();
    db.closeSync();
    const whole = await readFile(file);
    await writeFile(file, whole.subarray(0, whole.length >> 1));
    const read = async () => {
      for await (const _ of readRows(dir));
    };
    await expect(read()).rejects.toMatchObject({ code: 'export_unreadable', message: expect.stringContaining(file) });
  });
});
