import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { originKey, type Origin } from '../../src/envelope.js';
import { OUTPUT_COLUMNS } from '../../src/sinks/output-columns.js';
import { ParquetShardSink } from '../../src/sinks/parquet-sink.js';
import type { ShardIndex } from '../../src/sinks/shard-index.js';
import type { SinkConfig } from '../../src/config/schema.js';
import { docRows, duck, fileOrigin, kafkaOrigin, sinkConfig, sqlString, tempDir, writtenKeys } from './fixtures.js';

const DUCK_TYPE = { UTF8: 'VARCHAR', INT32: 'INTEGER', INT64: 'BIGINT', DOUBLE: 'DOUBLE' } as const;
const NAME = /^[A-Za-z0-9._]+(?:-[A-Za-z0-9._]+)*-[0-9a-f]{6}-\d{12}-\d{12}-[0-9a-f]{8}\.parquet$/;

let db: Awaited<ReturnType<typeof duck>>;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  db = await duck();
});
afterAll(async () => {
  db.close();
  for (const c of cleanups) await c();
});

async function dir(prefix: string): Promise<string> {
  const t = await tempDir(prefix);
  cleanups.push(t.cleanup);
  return t.dir;
}

/** Documents over three partitions (two files, one Kafka partition) with 1..9 rows each. */
function corpus(docsPerPartition: number): { origin: Origin; rows: number }[] {
  const origins = [
    (i: number) => fileOrigin('/data/in/a.jsonl', i),
    (i: number) => fileOrigin('/data/other/a.jsonl', i), // same basename, different partition
    (i: number) => kafkaOrigin('web-docs', 3, 1000 + i * 2),
  ];
  const docs: { origin: Origin; rows: number }[] = [];
  for (let i = 0; i < docsPerPartition; i++) for (const [p, o] of origins.entries()) docs.push({ origin: o(i), rows: 1 + ((i * 7 + p * 3) % 9) });
  return docs;
}

async function writeAll(config: SinkConfig, docs: { origin: Origin; rows: number }[], concurrent: boolean): Promise<ParquetShardSink> {
  const sink = new ParquetShardSink(config);
  await sink.open();
  if (concurrent) await Promise.all(docs.map((d) => sink.writeDoc(d.origin, docRows(d.origin, d.rows))));
  else for (const d of docs) await sink.writeDoc(d.origin, docRows(d.origin, d.rows));
  await sink.close();
  return sink;
}

describe('ParquetShardSink', () => {
  it('rolls ~2,500 rows into shards DuckDB reads back, never splitting a document', async () => {
    const out = await dir('roll');
    const docs = corpus(167); // 501 documents, 2,506 rows
    const totalRows = docs.reduce((n, d) => n + d.rows, 0);
    expect(totalRows).toBeGreaterThan(2400);

    const sink = new ParquetShardSink(sinkConfig(out, { maxRows: 200, rowGroupRows: 64 }));
    await sink.open();
    const durable: string[] = [];
    sink.onDurable = (origins) => {
      // Called only once the shard holding these documents exists under its final name.
      const latest = sink.shards().at(-1)!;
      expect(existsSync(latest.path)).toBe(true);
      expect(basename(latest.path)).toMatch(NAME);
      expect(origins.every((o) => o.partition === latest.partition)).toBe(true);
      durable.push(...origins.map(originKey));
    };
    await Promise.all(docs.map((d) => sink.writeDoc(d.origin, docRows(d.origin, d.rows))));
    await sink.close();

    expect(durable.sort()).toEqual(docs.map((d) => originKey(d.origin)).sort());
    const shards = sink.shards();
    expect(shards.length).toBeGreaterThanOrEqual(Math.ceil(totalRows / 200));
    expect(new Set(shards.map((s) => s.partition)).size).toBe(3);
    expect(shards.reduce((n, s) => n + s.rows, 0)).toBe(totalRows);
    // Nothing but finished shards in data/, their indexes in _gemflow/index/, no temp file left.
    const files = await readdir(join(out, 'data'));
    expect(files.sort()).toEqual(shards.map((s) => basename(s.path)).sort());
    expect((await readdir(join(out, '_gemflow', 'index'))).sort()).toEqual(files.map((f) => f.replace(/\.parquet$/, '.docs.json')).sort());
    expect(await readdir(join(out, '_gemflow', 'tmp'))).toEqual([]);

    for (const s of shards) {
      expect(s.rows).toBeLessThanOrEqual(200);
      const [{ n }] = (await db.all(`select count(*)::INTEGER as n from read_parquet(${sqlString(s.path)})`)) as [{ n: number }];
      expect(n).toBe(s.rows);
      const cols = await db.all(`describe select * from read_parquet(${sqlString(s.path)})`);
      expect(cols.map((c) => [c.column_name, c.column_type])).toEqual(OUTPUT_COLUMNS.map((c) => [c.name, DUCK_TYPE[c.type]]));
      const [range] = await db.all(`select min(origin_offset)::INTEGER as lo, max(origin_offset)::INTEGER as hi, count(distinct origin_partition)::INTEGER as parts from read_parquet(${sqlString(s.path)})`);
      expect(range).toEqual({ lo: s.firstOffset, hi: s.lastOffset, parts: 1 });
    }

    const list = `[${shards.map((s) => sqlString(s.path)).join(',')}]`;
    const perDoc = await db.all(
      `select origin_partition as p, origin_offset::INTEGER as o, count(*)::INTEGER as rows, count(distinct filename)::INTEGER as files
       from read_parquet(${list}, filename = true) group by all`,
    );
    expect(perDoc).toHaveLength(docs.length);
    expect(perDoc.every((d) => d.files === 1)).toBe(true);
    const expected = new Map(docs.map((d) => [originKey(d.origin), d.rows]));
    for (const d of perDoc) expect(d.rows).toBe(expected.get(`${String(d.p)}@${String(d.o)}`));
  });

  it('writes every field back as given', async () => {
    const out = await dir('values');
    const origin = kafkaOrigin('web-docs', 0, 42);
    const [row] = docRows(origin, 1);
    const sink = new ParquetShardSink(sinkConfig(out));
    await sink.open();
    await sink.writeDoc(origin, [row!]);
    await sink.close();
    const [got] = await db.all(`select * from read_parquet(${sqlString(sink.shards()[0]!.path)})`);
    const want = Object.fromEntries(OUTPUT_COLUMNS.map((c) => [c.name, c.get(row!)]));
    // getRowObjectsJson renders BIGINT as a string.
    for (const c of OUTPUT_COLUMNS) if (c.type === 'INT64') want[c.name] = String(want[c.name]);
    expect(got).toEqual(want);
  });

  it('derives names from the documents a shard holds: same documents, same names', async () => {
    const docs = corpus(40);
    const cfg = (d: string) => sinkConfig(d, { maxRows: 50 });
    const [a, b] = [await dir('name-a'), await dir('name-b')];
    const sa = await writeAll(cfg(a), docs, false);
    const sb = await writeAll(cfg(b), docs, false);
    const names = (s: ParquetShardSink) => s.shards().map((x) => basename(x.path)).sort();
    expect(names(sa).length).toBeGreaterThan(3);
    expect(names(sb)).toEqual(names(sa));
    // A shard holding other documents gets another name.
    const c = await dir('name-c');
    const sc = await writeAll(cfg(c), docs.slice(1), false);
    expect(names(sc)).not.toEqual(names(sa));
  });

  it('a reopened sink reports exactly the documents written, per partition', async () => {
    const out = await dir('reopen');
    const docs = corpus(30);
    await writeAll(sinkConfig(out, { maxRows: 40 }), docs, true);

    const again = new ParquetShardSink(sinkConfig(out, { maxRows: 40 }));
    await again.open();
    expect(await writtenKeys(again, docs.map((d) => d.origin.partition))).toEqual(new Set(docs.map((d) => originKey(d.origin))));
    const kafkaOnly = docs.filter((d) => d.origin.kind === 'kafka').map((d) => originKey(d.origin));
    expect(await writtenKeys(again, ['web-docs/3'])).toEqual(new Set(kafkaOnly));
    expect(await writtenKeys(again, ['no/such'])).toEqual(new Set());
    // From a committed position on: only the documents at or above it.
    const above = docs.filter((d) => d.origin.kind === 'kafka' && d.origin.offset >= 1040).map((d) => originKey(d.origin));
    expect(above.length).toBeGreaterThan(0);
    expect(await writtenKeys(again, ['web-docs/3'], 1040)).toEqual(new Set(above));
    await again.close();
  });

  it('open() deletes stale .tmp files and indexes whose shard is missing, keeps fresh ones', async () => {
    const out = await dir('crash');
    const docs = corpus(10);
    const first = await writeAll(sinkConfig(out, { maxRows: 20 }), docs, false);
    const shardsDir = join(out, '_gemflow', 'index');
    const tmpDir = join(out, '_gemflow', 'tmp');
    const victim = first.shards()[0]!;
    const victimIndex = join(shardsDir, basename(victim.path).replace(/\.parquet$/, '.docs.json'));
    const index = JSON.parse(await readFile(victimIndex, 'utf8')) as ShardIndex;
    // A crash between the index rename and the shard rename leaves an index without its shard.
    const orphan = join(shardsDir, 'a.jsonl-000000-000000009999-000000009999-deadbeef.docs.json');
    await writeFile(orphan, JSON.stringify({ ...index, name: 'orphan', docs: [{ partition: 'lost', offset: 9999, documentId: 'x', rows: 1 }] }));
    const stray = [join(tmpDir, 'a.jsonl-123.1-1.parquet.tmp'), join(shardsDir, `${basename(victimIndex)}.tmp`)];
    for (const s of stray) await writeFile(s, 'half-written');
    // And an index whose shard was removed is not counted either.
    const removedIndex = join(shardsDir, 'gone.docs.json');
    await copyFile(victimIndex, removedIndex);

    // A fresh leftover may belong to a live peer sharing the directory: kept, and still not counted.
    const young = new ParquetShardSink(sinkConfig(out));
    await young.open();
    expect([...(await readdir(shardsDir)), ...(await readdir(tmpDir))].filter((f) => f.endsWith('.tmp'))).toHaveLength(2);
    expect(await writtenKeys(young, docs.map((d) => d.origin.partition))).toEqual(new Set(docs.map((d) => originKey(d.origin))));
    await young.close();
    // Once older than any live shard can be, they are a crash's leftovers and are deleted.
    const old = new Date(Date.now() - 3600_000);
    for (const f of [...stray, orphan, removedIndex]) await utimes(f, old, old);

    const sink = new ParquetShardSink(sinkConfig(out));
    await sink.open();
    const left = await readdir(shardsDir);
    expect([...left, ...(await readdir(tmpDir))].some((f) => f.endsWith('.tmp'))).toBe(false);
    expect(left).not.toContain(basename(orphan));
    expect(left).not.toContain('gone.docs.json');
    expect(await writtenKeys(sink, docs.map((d) => d.origin.partition))).toEqual(new Set(docs.map((d) => originKey(d.origin))));
    await sink.close();
  });

  it.each(['snappy', 'gzip', 'none'] as const)('writes %s-compressed shards DuckDB reads', async (compression) => {
    const out = await dir(`comp-${compression}`);
    const docs = corpus(8);
    const sink = await writeAll(sinkConfig(out, { compression, maxRows: 30, rowGroupRows: 7 }), docs, true);
    const list = `[${sink.shards().map((s) => sqlString(s.path)).join(',')}]`;
    const [got] = await db.all(`select count(*)::INTEGER as n, count(distinct trajectory_id)::INTEGER as ids, sum(length(messages))::INTEGER as chars from read_parquet(${list})`);
    const rows = docs.flatMap((d) => docRows(d.origin, d.rows));
    expect(got).toEqual({ n: rows.length, ids: rows.length, chars: rows.reduce((n, r) => n + r.messages.length, 0) });
    const meta = await db.all(`select distinct compression from parquet_metadata(${list})`);
    expect(meta.map((m) => m.compression)).toEqual([{ snappy: 'SNAPPY', gzip: 'GZIP', none: 'UNCOMPRESSED' }[compression]]);
  });

  it('rolls on maxBytes before a document that would pass it', async () => {
    const out = await dir('bytes');
    const origin = (i: number) => fileOrigin('/data/big.jsonl', i);
    // Each row is ~5 KB, each document 2 rows (~10 KB); 25 KB holds two documents, not three.
    const sink = new ParquetShardSink(sinkConfig(out, { maxBytes: 25_000 }));
    await sink.open();
    for (let i = 0; i < 7; i++) await sink.writeDoc(origin(i), docRows(origin(i), 2, 5000));
    await sink.close();
    expect(sink.shards().map((s) => [s.firstOffset, s.lastOffset, s.rows])).toEqual([
      [0, 1, 4],
      [2, 3, 4],
      [4, 5, 4],
      [6, 6, 2],
    ]);
  });

  it('puts a document larger than maxRows in a shard of its own', async () => {
    const out = await dir('big-doc');
    const o = (i: number) => fileOrigin('/data/x.jsonl', i);
    const sink = new ParquetShardSink(sinkConfig(out, { maxRows: 5 }));
    await sink.open();
    await sink.writeDoc(o(0), docRows(o(0), 2));
    await sink.writeDoc(o(1), docRows(o(1), 12));
    await sink.writeDoc(o(2), docRows(o(2), 1));
    await sink.close();
    expect(sink.shards().map((s) => [s.firstOffset, s.lastOffset, s.rows])).toEqual([
      [0, 0, 2],
      [1, 1, 12],
      [2, 2, 1],
    ]);
  });

  it('tick() closes shards older than maxAgeMs', async () => {
    const out = await dir('age');
    let now = 1_000;
    const sink = new ParquetShardSink(sinkConfig(out, { maxAgeMs: 500 }), { now: () => now });
    await sink.open();
    const durable: string[] = [];
    sink.onDurable = (origins) => durable.push(...origins.map(originKey));
    const a = fileOrigin('/data/a.jsonl', 0);
    const b = kafkaOrigin('t', 0, 7);
    await sink.writeDoc(a, docRows(a, 3));
    now = 1_300;
    await sink.writeDoc(b, docRows(b, 3));
    now = 1_499;
    await sink.tick();
    expect(sink.shards()).toEqual([]);
    now = 1_500;
    await sink.tick();
    expect(durable).toEqual([originKey(a)]);
    expect(sink.shards().map((s) => s.partition)).toEqual([a.partition]);
    now = 1_800;
    await sink.tick();
    expect(durable).toEqual([originKey(a), originKey(b)]);
    await sink.close();
  });

  it("a Kafka partition's first shard after it is assigned (new, or discarded at a revocation) closes after firstShardMaxAgeMs; later ones and files' after maxAgeMs", async () => {
    const out = await dir('first-age');
    let now = 0;
    const sink = new ParquetShardSink(sinkConfig(out, { maxAgeMs: 60_000, firstShardMaxAgeMs: 5_000 }), { now: () => now });
    await sink.open();
    const durable: string[] = [];
    sink.onDurable = (origins) => durable.push(...origins.map(originKey));
    const write = async (offset: number) => {
      const o = kafkaOrigin('t', 0, offset);
      await sink.writeDoc(o, docRows(o, 1));
      return originKey(o);
    };
    const first = await write(0); // opens the partition's first shard at 0
    now = 4_999;
    await sink.tick();
    expect(durable).toEqual([]);
    now = 5_000;
    await sink.tick();
    expect(durable).toEqual([first]);
    const second = await write(1); // the next shard keeps the full age
    now = 5_000 + 59_999;
    await sink.tick();
    expect(durable).toEqual([first]);
    now = 5_000 + 60_000;
    await sink.tick();
    expect(durable).toEqual([first, second]);
    // Revoked (its open shard dropped) and assigned again: the next shard is a first shard again.
    await write(2);
    await sink.discard([kafkaOrigin('t', 0, 0).partition]);
    const replayed = await write(2);
    now += 5_000;
    await sink.tick();
    expect(durable).toEqual([first, second, replayed]);
    // A file source is never reassigned: its first shard keeps maxAgeMs (same composition, same name, on a replay).
    const f = fileOrigin('/data/a.jsonl', 0);
    await sink.writeDoc(f, docRows(f, 1));
    const opened = now;
    now = opened + 5_000;
    await sink.tick();
    expect(durable).not.toContain(originKey(f));
    now = opened + 60_000;
    await sink.tick();
    expect(durable).toContain(originKey(f));
    await sink.close();
  });

  it('discard() drops the open shards of revoked partitions: nothing of them becomes durable', async () => {
    const out = await dir('discard');
    const sink = new ParquetShardSink(sinkConfig(out));
    await sink.open();
    const durable: string[] = [];
    sink.onDurable = (origins) => durable.push(...origins.map(originKey));
    const lost = kafkaOrigin('t', 0, 3);
    const kept = kafkaOrigin('t', 1, 5);
    await sink.writeDoc(lost, docRows(lost, 2));
    await sink.writeDoc(kept, docRows(kept, 2));
    await sink.discard([lost.partition, 'never-seen/9']);
    await sink.close();
    expect(durable).toEqual([originKey(kept)]);
    expect(sink.shards().map((s) => s.partition)).toEqual([kept.partition]);
    expect(await readdir(join(out, '_gemflow', 'tmp'))).toEqual([]);
    const reopened = new ParquetShardSink(sinkConfig(out));
    await reopened.open();
    expect(await writtenKeys(reopened, [lost.partition, kept.partition])).toEqual(new Set([originKey(kept)]));
    await reopened.close();
  });

  it('rejects a bad row without writing any of its document, and stays usable', async () => {
    const out = await dir('bad-row');
    const o = (i: number) => fileOrigin('/data/x.jsonl', i);
    const sink = new ParquetShardSink(sinkConfig(out));
    await sink.open();
    const rows = docRows(o(0), 3);
    rows[2]!.stats.toolCalls = 1.5;
    await expect(sink.writeDoc(o(0), rows)).rejects.toMatchObject({ code: 'sink_invalid_row' });
    await expect(sink.writeDoc(o(1), [])).rejects.toMatchObject({ code: 'sink_no_rows' });
    await sink.writeDoc(o(2), docRows(o(2), 2));
    await sink.close();
    expect(sink.shards().map((s) => [s.firstOffset, s.lastOffset, s.rows])).toEqual([[2, 2, 2]]);
    await expect(sink.writeDoc(o(3), docRows(o(3), 1))).rejects.toMatchObject({ code: 'sink_closed' });
  });

  it('close() finishes the writes already accepted and refuses later ones', async () => {
    const out = await dir('close-race');
    const sink = new ParquetShardSink(sinkConfig(out, { maxRows: 7 }));
    await sink.open();
    const docs = corpus(10);
    const accepted = docs.map((d) => sink.writeDoc(d.origin, docRows(d.origin, d.rows)));
    const closing = sink.close();
    const o = fileOrigin('/data/late.jsonl', 0);
    await expect(sink.writeDoc(o, docRows(o, 1))).rejects.toMatchObject({ code: 'sink_closed' });
    await Promise.all([...accepted, closing]);
    await sink.flush(); // a late flush or tick after close is harmless
    await sink.tick();
    expect(await writtenKeys(sink, docs.map((d) => d.origin.partition))).toEqual(new Set(docs.map((d) => originKey(d.origin))));
  });

  it('fails loudly and for good when the output cannot be written', async () => {
    const out = await dir('fail');
    const sink = new ParquetShardSink(sinkConfig(out, { maxRows: 2 }));
    await sink.open();
    // Replace the temp directory with a file: creating the next shard fails.
    const { rm } = await import('node:fs/promises');
    await rm(join(out, '_gemflow', 'tmp'), { recursive: true });
    await writeFile(join(out, '_gemflow', 'tmp'), 'not a directory');
    const o = fileOrigin('/data/x.jsonl', 0);
    await expect(sink.writeDoc(o, docRows(o, 1))).rejects.toMatchObject({ code: 'sink_write_failed' });
    await expect(sink.writeDoc(o, docRows(o, 1))).rejects.toMatchObject({ code: 'sink_write_failed' });
    await expect(sink.close()).rejects.toMatchObject({ code: 'sink_write_failed' });
  });

  it('refuses to write one format into an output that holds shards of the other, naming both', async () => {
    const out = await dir('formats');
    const docs = corpus(2);
    await writeAll(sinkConfig(out, { maxRows: 5 }), docs, false);
    const arrow = new ParquetShardSink(sinkConfig(out, { format: 'arrow' }));
    await expect(arrow.open()).rejects.toMatchObject({ code: 'sink_format_mismatch', message: expect.stringContaining('holds parquet shards and this run writes arrow') });
    // The same format goes on, and an empty output takes either.
    await writeAll(sinkConfig(out, { maxRows: 5 }), corpus(3).slice(6), false);
    const fresh = await dir('formats-fresh');
    await writeAll(sinkConfig(fresh, { format: 'arrow' }), docs, false);
    expect((await readdir(join(fresh, 'data'))).every((n) => n.endsWith('.arrow'))).toBe(true);
  });
});
