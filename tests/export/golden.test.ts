import { createRequire } from 'node:module';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Float64, Int32, Table, Utf8, makeData, makeVector, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import { runExport, type ExportFormat } from '../../src/export/export.js';
import { OUTPUT_COLUMNS } from '../../src/sinks/output-columns.js';
import { tempDir } from '../e2e/harness.js';

/**
 * Golden exports: fixtures/golden/rows.jsonl.gz (6 demo rows in chat format as the sink writes them, 2 in
 * the older internal JSON, and ~85 hand-made edge cases: unicode, escapes, canonical and non-canonical
 * arguments and tool replies, parallel calls, odd turn orders, hand-written or broken JSON, invalid
 * UTF-8) written as one Parquet shard (parquetjs-lite, the sink's columns) and one Arrow IPC file, then
 * exported in every format but synthesizer; every file and the books must be byte for byte what the
 * export wrote before its fast paths (fixtures/golden/<format>.json.gz, written by the code at 73541c1
 * with `GOLDEN_WRITE=1 npx vitest run tests/export/golden.test.ts`).
 */
const GOLDEN = join(import.meta.dirname, 'fixtures/golden');
const FORMATS: ExportFormat[] = ['openai', 'sharegpt', 'hermes', 'template'];
const parquet = createRequire(import.meta.url)('parquetjs-lite') as {
  ParquetSchema: new (f: Record<string, unknown>) => unknown;
  ParquetWriter: { openFile(schema: unknown, path: string, opts?: { rowGroupSize?: number }): Promise<{ appendRow(r: Record<string, unknown>): Promise<void>; close(): Promise<void> }> };
};

type Row = Record<string, unknown> & { invalid_utf8?: boolean; messages: string };

/** The fixture output: rows as Parquet (all but the invalid UTF-8 one, which DuckDB refuses) and as Arrow IPC. */
async function writeFixture(rows: Row[], dir: string): Promise<void> {
  await mkdir(join(dir, 'data'), { recursive: true });
  const fields: Record<string, unknown> = {};
  for (const c of OUTPUT_COLUMNS) fields[c.name] = { type: c.type, compression: 'SNAPPY' };
  const w = await parquet.ParquetWriter.openFile(new parquet.ParquetSchema(fields), join(dir, 'data', 'part-0.parquet'), { rowGroupSize: 7 });
  for (const r of rows) if (!r.invalid_utf8) await w.appendRow(r);
  await w.close();
  const arrowRows = rows.map((r) => ({ ...r, document_id: `${String(r.document_id)}-a` }));
  const cols: Record<string, Vector> = {};
  for (const c of OUTPUT_COLUMNS) {
    if (c.name === 'messages') continue;
    cols[c.name] = vectorFromArray(arrowRows.map((r) => r[c.name]), c.type === 'UTF8' ? new Utf8() : c.type === 'INT32' ? new Int32() : new Float64());
  }
  // messages as raw bytes: the invalid-UTF-8 row gets bytes no decoder accepts.
  const bytes = arrowRows.map((r) => {
    const b = Buffer.from(r.messages, 'utf8');
    if (!r.invalid_utf8) return b;
    const at = b.indexOf('INVALID');
    return Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xfe, 0x41, 0xc3]), b.subarray(at + 7)]);
  });
  const offsets = new Int32Array(bytes.length + 1);
  bytes.forEach((b, i) => (offsets[i + 1] = offsets[i]! + b.length));
  cols.messages = makeVector(makeData({ type: new Utf8(), length: bytes.length, nullCount: 0, valueOffsets: offsets, data: Buffer.concat(bytes) }));
  await writeFile(join(dir, 'data', 'part-1.arrow'), tableToIPC(new Table(cols), 'file'));
}

interface Golden {
  result: Record<string, unknown>;
  files: Record<string, string>;
}

async function exportAll(out: string, dest: string, format: ExportFormat): Promise<Golden> {
  const outDir = join(dest, format);
  const r = await runExport({ output: out, format, outDir, validation: 0.3, seed: 'golden', template: format === 'template' ? join(import.meta.dirname, 'fixtures/qwen2.5-tools.jinja') : undefined });
  const files: Record<string, string> = {};
  for (const f of (await readdir(outDir)).sort()) files[f] = await readFile(join(outDir, f), 'utf8');
  return { result: { read: r.read, written: r.written, filtered: r.filtered, skipped: r.skipped, skipMessages: r.skipMessages }, files };
}

let out: string;
let dest: string;
beforeAll(async () => {
  const dir = await tempDir('export-golden');
  out = join(dir, 'out');
  dest = join(dir, 'exp');
  const rows = gunzipSync(await readFile(join(GOLDEN, 'rows.jsonl.gz'))).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
  await writeFixture(rows, out);
});

describe('export output is byte for byte the golden files', () => {
  for (const format of FORMATS) {
    it(format, async () => {
      const got = await exportAll(out, dest, format);
      const path = join(GOLDEN, `${format}.json.gz`);
      if (process.env.GOLDEN_WRITE === '1') await writeFile(path, gzipSync(JSON.stringify(got), { level: 9 }));
      const want = JSON.parse(gunzipSync(await readFile(path)).toString('utf8')) as Golden;
      expect(got.result).toEqual(want.result);
      expect(Object.keys(got.files)).toEqual(Object.keys(want.files));
      for (const f of Object.keys(want.files)) {
        const a = got.files[f]!.split('\n');
        const b = want.files[f]!.split('\n');
        expect(a.length, f).toBe(b.length);
        for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) expect(a[i], `${format}/${f} line ${i + 1}`).toBe(b[i]);
      }
      // Every row of the fixture is read and accounted for.
      const r = got.result as { read: number; written: { train: number; validation: number }; skipped: Record<string, number> };
      expect(r.read).toBe(r.written.train + r.written.validation + Object.values(r.skipped).reduce((a, b) => a + b, 0));
      expect(r.written.validation).toBeGreaterThan(0);
    }, 60_000);
  }
});
