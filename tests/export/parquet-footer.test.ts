import { open, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata, type FileMetaData } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { toChatMessages } from '../../src/chat-format.js';
import { SinkConfig } from '../../src/config/schema.js';
import { pruneFooter } from '../../src/export/parquet-footer.js';
import { OUTPUT_COLUMNS } from '../../src/sinks/output-columns.js';
import { ParquetShardWriter } from '../../src/sinks/parquet-shard-writer.js';
import { tempDir } from '../e2e/harness.js';

/** A file's footer: the metadata bytes and the whole footer (metadata, length, PAR1). */
async function footerOf(file: string): Promise<{ meta: Uint8Array; whole: Uint8Array }> {
  const fh = await open(file);
  try {
    const { size } = await fh.stat();
    const tail = Buffer.alloc(8);
    await fh.read(tail, 0, 8, size - 8);
    const n = tail.readUInt32LE(0);
    const whole = Buffer.alloc(n + 8);
    await fh.read(whole, 0, n + 8, size - n - 8);
    return { meta: new Uint8Array(whole.subarray(0, n)), whole: new Uint8Array(whole) };
  } finally {
    await fh.close();
  }
}

const STATS = ['statistics', 'encoding_stats', 'size_statistics', 'geospatial_statistics'];
/** Metadata as comparable JSON without what the pruning leaves out (and the footer's own length). */
const plain = (m: FileMetaData, keep: (path: string) => boolean = () => true) =>
  JSON.parse(
    JSON.stringify({ ...m, metadata_length: 0 }, (k, v: unknown) => (STATS.includes(k) ? undefined : typeof v === 'bigint' ? `${v}n` : v)),
    // a chunk of a column not kept: its path only
    (k, v: unknown) => (k === 'meta_data' && v && !keep((v as { path_in_schema: string[] }).path_in_schema[0]!) ? { path_in_schema: (v as { path_in_schema: string[] }).path_in_schema } : v),
  ) as unknown;

describe('pruneFooter', () => {
  it('gives hyparquet the metadata it parses from the whole footer, without statistics and, when asked, other columns\' chunk metadata (sink shards, DuckDB files with nested columns)', async () => {
    const dir = await tempDir('parquet-footer');
    await mkdir(dir, { recursive: true });
    // The sink's own writer at its defaults (small row groups: a long footer with statistics).
    const sinkFile = join(dir, 'sink.parquet');
    const fh = await open(sinkFile, 'w');
    const sink = SinkConfig.parse({});
    const w = new ParquetShardWriter((b) => fh.write(b), sink.rowGroupRows, sink.compression, 4096);
    const messages = JSON.stringify(toChatMessages([{ role: 'user', content: 'é ✓ "q"' }, { role: 'assistant', content: 'ok' }]));
    for (let i = 0; i < 50; i++) {
      const r: Record<string, unknown> = {};
      for (const c of OUTPUT_COLUMNS) r[c.name] = c.type === 'UTF8' ? `${c.name}-${i}` : i;
      r.messages = messages.repeat(1 + (i % 3));
      await w.appendRow(r, 2000);
    }
    await w.close();
    await fh.close();
    // DuckDB: nested columns (paths of several elements), statistics of every kind.
    const duckFile = join(dir, 'duck.parquet');
    const src = join(dir, 'rows.jsonl');
    await writeFile(src, Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ id: `t${i}`, n: i, x: i / 3, tags: [`a${i}`, 'b'], m: { role: 'user', content: `c${i}` } })).join('\n') + '\n');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    await con.run(`COPY (SELECT * FROM read_json_auto('${src}')) TO '${duckFile}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`);
    con.closeSync();
    db.closeSync();

    for (const [file, columns] of [
      [sinkFile, ['trajectory_id', 'messages', 'tools']],
      [duckFile, ['tags', 'n']],
    ] as const) {
      const { meta, whole } = await footerOf(file);
      const full = parquetMetadata(whole);
      expect(full.row_groups.length, file).toBeGreaterThan(3);
      expect(full.row_groups[0]!.columns.some((c) => c.meta_data?.statistics !== undefined), file).toBe(true);
      const pruned = pruneFooter(meta);
      expect(pruned.length).toBeLessThan(whole.length);
      expect(plain(parquetMetadata(pruned))).toEqual(plain(full));
      const narrow = parquetMetadata(pruneFooter(meta, columns));
      expect(plain(narrow)).toEqual(plain(full, (p) => (columns as readonly string[]).includes(p)));
      expect(narrow.row_groups[0]!.columns.filter((c) => c.meta_data?.data_page_offset !== undefined).length, file).toBe(columns.length);
    }
  });

  it('throws on a footer cut short (the reader then lets hyparquet say what is wrong)', async () => {
    const dir = await tempDir('parquet-footer-cut');
    const file = join(dir, 'f.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    await con.run(`COPY (SELECT range AS n FROM range(100)) TO '${file}' (FORMAT parquet)`);
    con.closeSync();
    db.closeSync();
    const { meta } = await footerOf(file);
    expect(() => pruneFooter(meta.subarray(0, meta.length - 5))).toThrow(/parquet footer/);
  });
});
