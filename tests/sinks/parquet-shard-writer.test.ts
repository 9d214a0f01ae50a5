import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPUT_COLUMNS, toParquetRow } from '../../src/sinks/output-columns.js';
import { ArrowShardWriter } from '../../src/sinks/arrow-shard-writer.js';
import { ParquetShardWriter, Utf8Column } from '../../src/sinks/parquet-shard-writer.js';
import { mulberry32 } from '../mulberry32.js';
import { docRows, duck, fileOrigin, sqlString, tempDir } from './fixtures.js';

const PHYSICAL = { UTF8: 'BYTE_ARRAY', INT32: 'INT32', INT64: 'INT64', DOUBLE: 'DOUBLE' } as const;

describe('ParquetShardWriter', () => {
  it('hands each row group to the file as it fills (one group in memory) and writes the output schema DuckDB reads back', async () => {
    const t = await tempDir('pq-writer');
    try {
      const rows = Array.from({ length: 35 }, (_, d) => docRows(fileOrigin('/in/a.jsonl', d), 5, 300)).flat();
      const chunks: Buffer[] = [];
      const handed = () => chunks.reduce((n, c) => n + c.length, 0);
      const writer = new ParquetShardWriter(async (b) => void chunks.push(b), 50, 'snappy');
      const handedAtRow: number[] = [];
      for (const r of rows) {
        await writer.appendRow(toParquetRow(r).values);
        handedAtRow.push(handed());
      }
      // Nothing before the first group fills; then every 50th row hands over a group (the first with the magic number).
      expect(handedAtRow[48]).toBe(0);
      for (const at of [49, 99, 149]) {
        expect(handedAtRow[at]!).toBeGreaterThan(handedAtRow[at - 1]!);
        expect(handedAtRow[at + 1]).toBe(handedAtRow[at]);
      }
      await writer.close();
      const path = join(t.dir, 'shard.parquet');
      await writeFile(path, Buffer.concat(chunks));

      const db = await duck();
      try {
        const groups = await db.all(`select row_group_num_rows::INTEGER as n from parquet_metadata(${sqlString(path)}) group by row_group_id, row_group_num_rows order by row_group_id`);
        expect(groups.map((g) => g.n)).toEqual([50, 50, 50, 25]);
        const schema = await db.all(`select name, type, repetition_type, converted_type from parquet_schema(${sqlString(path)}) where name <> 'root'`);
        expect(schema).toEqual(
          OUTPUT_COLUMNS.map((c) => ({ name: c.name, type: PHYSICAL[c.type], repetition_type: 'REQUIRED', converted_type: c.type === 'UTF8' ? 'UTF8' : null })),
        );
        const codecs = await db.all(`select distinct compression from parquet_metadata(${sqlString(path)})`);
        expect(codecs).toEqual([{ compression: 'SNAPPY' }]);
        const back = await db.all(`select * from read_parquet(${sqlString(path)})`);
        const want = rows.map((r) => {
          const v = toParquetRow(r).values;
          // getRowObjectsJson renders BIGINT as a string.
          for (const c of OUTPUT_COLUMNS) if (c.type === 'INT64') v[c.name] = String(v[c.name]);
          return v;
        });
        expect(back).toEqual(want);
      } finally {
        db.close();
      }
    } finally {
      await t.cleanup();
    }
  });

  it('closes a row group (an Arrow record batch) at rowGroupBytes of values before rowGroupRows rows, so a group of long rows stays small', async () => {
    const t = await tempDir('pq-writer-bytes');
    try {
      // 40 rows of ~5 KB messages, rowGroupRows 1,000: at 16 KiB a group closes on the row that brings it to 16 KiB.
      const rows = Array.from({ length: 8 }, (_, d) => docRows(fileOrigin('/in/b.jsonl', d), 5, 5000)).flat().map(toParquetRow);
      const perRow = rows[0]!.approxBytes;
      expect(perRow).toBeGreaterThan(5000);
      const perGroup = Math.ceil((16 * 1024) / perRow);
      const parquetChunks: Buffer[] = [];
      const arrowChunks: Buffer[] = [];
      const parquet = new ParquetShardWriter(async (b) => void parquetChunks.push(b), 1000, 'snappy', 16 * 1024);
      const arrow = new ArrowShardWriter(async (b) => void arrowChunks.push(b), 1000, 16 * 1024);
      for (const r of rows) {
        await parquet.appendRow(r.values, r.approxBytes);
        await arrow.appendRow(r.values, r.approxBytes);
      }
      await parquet.close();
      await arrow.close();
      const pq = join(t.dir, 'shard.parquet');
      const ar = join(t.dir, 'shard.arrow');
      await writeFile(pq, Buffer.concat(parquetChunks));
      await writeFile(ar, Buffer.concat(arrowChunks));
      // The expected groups: rows accumulate until their approxBytes reach the bound.
      const sizes: number[] = [];
      let n = 0;
      let inGroup = 0;
      for (const r of rows) {
        n++;
        inGroup += r.approxBytes;
        if (inGroup >= 16 * 1024) {
          sizes.push(n);
          n = 0;
          inGroup = 0;
        }
      }
      if (n > 0) sizes.push(n);
      expect(sizes.length).toBeGreaterThan(5);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(perGroup);

      const db = await duck();
      try {
        const groups = await db.all(`select row_group_num_rows::INTEGER as n from parquet_metadata(${sqlString(pq)}) group by row_group_id, row_group_num_rows order by row_group_id`);
        expect(groups.map((g) => g.n)).toEqual(sizes);
        const back = await db.all(`select trajectory_id from read_parquet(${sqlString(pq)})`);
        expect(back.map((r) => r.trajectory_id)).toEqual(rows.map((r) => r.values.trajectory_id));
      } finally {
        db.close();
      }
      // The Arrow file: one record batch per group, all rows back in order.
      const { tableFromIPC, RecordBatchReader } = await import('apache-arrow');
      const ipc = Buffer.concat(arrowChunks);
      expect([...RecordBatchReader.from(ipc)].map((b) => b.numRows)).toEqual(sizes);
      expect(tableFromIPC(ipc).getChild('trajectory_id')!.toArray()).toEqual(rows.map((r) => r.values.trajectory_id));
    } finally {
      await t.cleanup();
    }
  });
});

describe('Utf8Column', () => {
  it("gives TextEncoder's bytes for every string (multi-byte, astral, lone surrogates), as views that stay valid while it grows", () => {
    const rand = mulberry32(11);
    const pieces = ['a', 'Z', '"', '\\', '\n', 'é', 'ß', '中', '€', '😀', '\ud800', '\udfff', 'x\ud83d', '\ude00y', ''];
    const strings = Array.from({ length: 400 }, (_, i) => {
      const n = i % 50 === 0 ? 20_000 + Math.floor(rand() * 20_000) : Math.floor(rand() * 300);
      let s = '';
      while (s.length < n) s += pieces[Math.floor(rand() * pieces.length)];
      return s;
    });
    const col = new Utf8Column();
    const enc = new TextEncoder();
    for (let group = 0; group < 3; group++) {
      const views = strings.map((s) => col.add(s));
      views.forEach((v, i) => expect(Buffer.from(v).equals(Buffer.from(enc.encode(strings[i]!)))).toBe(true));
      col.reset();
    }
  });

  it('makes the file hyparquet-writer makes of the same rows given as strings (same bytes)', async () => {
    const { ParquetWriter, ByteWriter } = await import('hyparquet-writer');
    const { PARQUET_SCHEMA } = await import('../../src/sinks/parquet-shard-writer.js');
    const { snappyCompress } = await import('../../src/sinks/snappy.js');
    const rows = Array.from({ length: 9 }, (_, d) => docRows(fileOrigin('/in/ü.jsonl', d), 7, 900)).flat().map(toParquetRow);
    // Multi-byte and astral text in a JSON column and in a column with statistics.
    rows[3]!.values.messages = JSON.stringify([{ role: 'user', content: 'Grüße aus Köln, 東京 😀 \ud800' }]);
    rows[4]!.values.domain = 'Zürich';
    const chunks: Buffer[] = [];
    const writer = new ParquetShardWriter(async (b) => void chunks.push(b), 20, 'snappy', 40 * 1024);
    for (const r of rows) await writer.appendRow(r.values, r.approxBytes);
    await writer.close();

    // The same groups written by hyparquet-writer from the strings themselves.
    const bytes = new ByteWriter();
    const oracle = new ParquetWriter({ writer: bytes, schema: PARQUET_SCHEMA, codec: 'SNAPPY', compressors: { SNAPPY: snappyCompress }, createdBy: 'gemflow (hyparquet-writer)' });
    let group: typeof rows = [];
    let inGroup = 0;
    const flush = () => {
      if (group.length === 0) return;
      oracle.write({
        columnData: OUTPUT_COLUMNS.map((c) => {
          const values = group.map((r) => r.values[c.name]);
          return { name: c.name, data: c.type === 'INT64' ? BigInt64Array.from(values as number[], BigInt) : values, encoding: 'PLAIN' as const, statistics: !c.json };
        }),
        rowGroupSize: group.length,
      });
      group = [];
      inGroup = 0;
    };
    for (const r of rows) {
      group.push(r);
      inGroup += r.approxBytes;
      if (group.length >= 20 || inGroup >= 40 * 1024) flush();
    }
    flush();
    oracle.finish();
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes.getBytes()))).toBe(true);
  });
});
