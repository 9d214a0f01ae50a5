/**
 * The output directory of a real run is a dataset (issue 11): rows in OpenAI / Hugging Face chat
 * format that three real chat templates render, a layout that `datasets.load_dataset(dir)`,
 * `pyarrow.dataset.dataset(dir)` and DuckDB read as it is (every row once), Arrow shards equal to the
 * Parquet ones, and a dataset card whose figures are the shards' own. Python readers come from the venv
 * scripts/python/venv.sh makes (fetched by the global setup).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { OUTPUT_COLUMNS, STAT_COLUMNS, statKey } from '../../src/sinks/output-columns.js';
import { checkChatRow, forChatTemplate } from '../sinks/chat-format-check.js';
import { CORPUS, ROOT, readManifest, readRows, readWithPython, runCli, tempDir, writePipeline } from './harness.js';

const TEMPLATES = ['hermes', 'llama3.1', 'qwen2.5'] as const;

describe('the output directory is a dataset', () => {
  const outs = { parquet: '', arrow: '' };
  beforeAll(async () => {
    const dir = await tempDir('dataset');
    for (const format of ['parquet', 'arrow'] as const) {
      outs[format] = join(dir, format);
      const cfg = await writePipeline(dir, {
        source: { type: 'files', paths: [CORPUS] },
        relevance: { threads: 0 },
        stages: { judge: { enabled: true } },
        sink: { dir: outs[format], maxRows: 4, format },
      }, `${format}.yaml`);
      const r = await runCli(['run', cfg, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 240_000);

  it('holds the data under data/ and everything else under _- or .-prefixed paths', async () => {
    for (const format of ['parquet', 'arrow'] as const) {
      expect((await readdir(outs[format])).sort()).toEqual(['.gemflow', '.huggingface.yaml', '_gemflow', '_runs', 'data']);
      const data = await readdir(join(outs[format], 'data'));
      expect(data.length).toBeGreaterThan(2);
      expect(data.every((f) => f.endsWith(`.${format}`))).toBe(true);
      const indexes = await readdir(join(outs[format], '_gemflow', 'index'));
      expect(indexes.sort()).toEqual(data.map((f) => f.replace(/\.(parquet|arrow)$/, '.docs.json')).sort());
    }
  });

  it('writes every row as an OpenAI chat-format record with tools, which the Hermes, Llama 3.1 and Qwen2.5 templates render', async () => {
    const { rows } = await readRows(outs.parquet);
    expect(rows.length).toBeGreaterThan(10);
    const templates = await Promise.all(TEMPLATES.map(async (t) => [t, new Template(await readFile(join(ROOT, 'tests/fixtures/templates', `${t}.jinja`), 'utf8'))] as const));
    for (const row of rows) {
      const record = checkChatRow(row as { messages: unknown; tools: unknown });
      expect(record.messages.some((m) => m.role === 'assistant' && m.tool_calls)).toBe(true);
      const input = forChatTemplate(record);
      for (const [name, template] of templates) {
        const text = template.render({ ...input, bos_token: '<|begin_of_text|>', add_generation_prompt: false });
        // The rendering carries the conversation: every user turn, every call with its arguments, every tool.
        for (const m of record.messages) {
          if (m.role === 'user') expect(text, name).toContain(m.content.trim());
          for (const c of m.role === 'assistant' ? (m.tool_calls ?? []) : []) {
            expect(text, name).toContain(`"name": "${c.function.name}"`);
            for (const key of Object.keys(JSON.parse(c.function.arguments) as object)) expect(text, name).toContain(`"${key}"`);
          }
        }
        for (const t of record.tools) expect(text, name).toContain(t.function.name);
      }
    }
  });

  it('datasets.load_dataset(dir) and pyarrow.dataset.dataset(dir) read the directory as it is and see every row once', async () => {
    const { rows } = await readRows(outs.parquet);
    const ids = rows.map((r) => String(r.trajectory_id)).sort();
    expect(new Set(ids).size).toBe(ids.length);
    const seen = await readWithPython(outs.parquet, 'parquet');
    expect(seen.datasets.builder).toBe('parquet');
    for (const reader of ['datasets', 'pyarrow', 'duckdb'] as const) {
      expect(seen[reader].rows, reader).toBe(rows.length);
      expect(seen[reader].ids, reader).toEqual(ids);
      expect(Object.keys(seen[reader].columns), reader).toEqual(OUTPUT_COLUMNS.map((c) => c.name));
    }
    // The same content through every reader.
    expect(seen.datasets.digest).toEqual(seen.duckdb.digest);
    expect(seen.pyarrow.digest).toEqual(seen.duckdb.digest);
  });

  it('writes Arrow IPC shards that pyarrow, datasets and DuckDB read back as the same rows as the Parquet run', async () => {
    const parquet = await readWithPython(outs.parquet, 'parquet');
    const arrow = await readWithPython(outs.arrow, 'arrow');
    expect(arrow.datasets.builder).toBe('arrow');
    for (const reader of ['datasets', 'pyarrow', 'duckdb'] as const) {
      expect(arrow[reader].digest, reader).toEqual(parquet.duckdb.digest);
      expect(arrow[reader].columns, reader).toEqual(parquet[reader].columns);
    }
  });

  it('writes a dataset card whose config points at data/ and whose figures are the shards\' own', async () => {
    const out = outs.parquet;
    const config = parse(await readFile(join(out, '.huggingface.yaml'), 'utf8')) as { configs: { data_files: { path: string }[] }[]; dataset_info: { features: { name: string; dtype: string }[] } };
    expect(config.configs[0]!.data_files).toEqual([{ split: 'train', path: 'data/*.parquet' }]);
    expect(config.dataset_info.features.map((f) => f.name)).toEqual(OUTPUT_COLUMNS.map((c) => c.name));
    const card = await readFile(join(out, '_gemflow', 'card', 'README.md'), 'utf8');
    const [, front] = card.split('---\n');
    expect(parse(front!)).toMatchObject(config);

    const m = await readManifest(out);
    expect(card).toContain(`| documents received | ${m.funnel.documents.received} |`);
    expect(card).toContain(`| trajectories written | ${m.funnel.trajectories.written} |`);
    expect(card).toMatch(/\| extract \| \d+ \| \d+ \| \d+ \|/);

    // mean, p50, p90 of every statistic from the rows themselves (rank ceil(p x n); large token counts binned as the card says)
    const { rows } = await readRows(out);
    for (const col of STAT_COLUMNS) {
      const values = rows.map((r) => Number(r[col.name]));
      const sorted = values.map((v) => Number(statKey(v))).sort((a, b) => a - b);
      const at = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
      const mean = Math.round((values.reduce((a, v) => a + v, 0) / values.length) * 100) / 100;
      const gem = { n_messages: '46.1', distinct_tools: '8.6', tool_calls: '16.3' }[col.name] ?? '';
      expect(card, col.name).toContain(`| ${col.name} | ${mean} | ${at(0.5)} | ${at(0.9)} | ${gem} |`);
    }
    for (const svg of ['n_messages', 'tool_calls', 'distinct_tools', 'tokens', 'complexity_score']) {
      expect(card).toContain(`](${svg}.svg)`);
      const text = await readFile(join(out, '_gemflow', 'card', `${svg}.svg`), 'utf8');
      expect(text).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(text).toContain(`${svg} (trajectories: ${rows.length})`);
      const bars = [...text.matchAll(/<title>[^<]*: (\d+)<\/title>/g)].reduce((a, x) => a + Number(x[1]), 0);
      expect(bars, svg).toBe(rows.length);
    }
  });
});
