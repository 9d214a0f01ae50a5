import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Float64, Int32, Table, Utf8, vectorFromArray, tableToIPC, type Vector } from 'apache-arrow';
import { describe, expect, it, vi } from 'vitest';
import { runExport } from '../../src/export/export.js';
import { OUTPUT_COLUMNS } from '../../src/sinks/output-columns.js';
import { tempDir } from '../e2e/harness.js';

// A compiled form that goes wrong from its 10th row on: the export must notice (row 10 is among the
// first 64, all checked), start again with the interpreter, and write exactly what the interpreter writes.
vi.mock('../../src/export/template-compile.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/export/template-compile.js')>();
  return {
    ...real,
    compileTemplate: (t: Parameters<typeof real.compileTemplate>[0]) => {
      const c = real.compileTemplate(t);
      let n = 0;
      return { ...c, render: (ctx: Record<string, unknown>) => (++n >= 10 ? { text: c.render(ctx).text.replace('<tool_call>', '<tool-call>'), jinja2: false } : c.render(ctx)) };
    },
  };
});

describe('template export', () => {
  it('runs again with the interpreter when the compiled form differs from it on a checked row, and says so', async () => {
    const dir = await tempDir('template-divergence');
    const out = join(dir, 'out');
    await mkdir(join(out, 'data'), { recursive: true });
    const rows = gunzipSync(await readFile(join(import.meta.dirname, 'fixtures/golden/rows.jsonl.gz')))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => !r.invalid_utf8);
    const cols: Record<string, Vector> = {};
    for (const c of OUTPUT_COLUMNS) cols[c.name] = vectorFromArray(rows.map((r) => r[c.name]), c.type === 'UTF8' ? new Utf8() : c.type === 'INT32' ? new Int32() : new Float64());
    await writeFile(join(out, 'data', 'part-0.arrow'), tableToIPC(new Table(cols), 'file'));
    const template = join(import.meta.dirname, 'fixtures/qwen2.5-tools.jinja');

    const r = await runExport({ output: out, format: 'template', outDir: join(dir, 'auto'), template });
    const ref = await runExport({ output: out, format: 'template', outDir: join(dir, 'interpreter'), template, templateEngine: 'interpreter' });
    expect(r.read).toBe(rows.length);
    expect(r.notes?.join()).toMatch(/differs from the interpreter's.*run again with the interpreter/);
    expect(r.template?.engine).toBe('interpreter');
    expect(r.written).toEqual(ref.written);
    expect(r.skipped).toEqual(ref.skipped);
    expect(await readFile(join(dir, 'auto', 'train.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'interpreter', 'train.jsonl'), 'utf8'));
    expect(ref.written.train).toBeGreaterThan(10);
  });
});
