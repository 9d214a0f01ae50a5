import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SourceItem } from '../../src/envelope.js';
import { FileSource } from '../../src/sources/file-source.js';
import { writeBadInputCorpus } from '../fixtures/bad-input.js';
import { writeParquet } from '../fixtures/write-parquet.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let dir: string;
let stateDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemflow-files-'));
  stateDir = join(dir, 'state');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const cfg = (paths: string[], extra: { maxRecordBytes?: number } = {}) => ({
  type: 'files' as const,
  paths,
  idField: 'id',
  textField: 'text',
  maxRecordBytes: extra.maxRecordBytes ?? 4 * 1024 * 1024,
});

async function readAll(source: FileSource, signal = new AbortController().signal): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const item of source.read(signal)) out.push(item);
  return out;
}

/** What a record became, without where it came from: comparable across files. */
function summary(item: SourceItem): string {
  return item.kind === 'doc' ? `doc ${item.doc.id} @${item.doc.origin.offset}: ${item.doc.text}` : `bad ${item.bad.code} @${item.bad.origin.offset}`;
}

function jsonl(n: number, from = 0): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ id: `d${from + i}`, text: `text of document ${from + i}` })).join('\n') + '\n';
}

describe('FileSource: JSONL', () => {
  it('reads .jsonl and .jsonl.gz identically, with file origins', async () => {
    const body = `${jsonl(3)}\n  \nnot json\n${jsonl(2, 3)}`;
    await writeFile(join(dir, 'a.jsonl'), body);
    await mkdir(join(dir, 'gz'));
    await writeFile(join(dir, 'gz', 'a.jsonl.gz'), gzipSync(body));

    const plain = await readAll(new FileSource(cfg([join(dir, 'a.jsonl')]), { stateDir }));
    const gz = await readAll(new FileSource(cfg([join(dir, 'gz', 'a.jsonl.gz')]), { stateDir: join(dir, 'state-gz') }));
    expect(gz.map(summary)).toEqual(plain.map(summary));
    expect(plain.map(summary)).toEqual([
      'doc d0 @0: text of document 0',
      'doc d1 @1: text of document 1',
      'doc d2 @2: text of document 2',
      'bad invalid_json @5',
      'doc d3 @6: text of document 3',
      'doc d4 @7: text of document 4',
    ]);
    const first = plain[0]!;
    expect(first.kind === 'doc' && first.doc.origin).toEqual({ kind: 'file', partition: join(dir, 'a.jsonl'), offset: 0, file: join(dir, 'a.jsonl'), line: 1 });
  });

  it('gives the bad-input corpus exactly its expected bad records and good documents', async () => {
    const corpus = await writeBadInputCorpus(dir);
    const items = await readAll(new FileSource(cfg(corpus.paths), { stateDir }));
    const codes: Record<string, number> = {};
    for (const it of items) if (it.kind === 'bad') codes[it.bad.code] = (codes[it.bad.code] ?? 0) + 1;
    expect(codes).toEqual(corpus.expectedBad);
    expect(items.flatMap((it) => (it.kind === 'doc' ? [it.doc.id] : []))).toEqual(corpus.goodIds);

    const big = items.find((it) => it.kind === 'bad' && it.bad.code === 'record_too_large');
    expect(big?.kind === 'bad' && big.bad.message).toContain(String(corpus.bigDocBytes + '{"id": "big", "text": ""}'.length));
    expect(big?.kind === 'bad' && big.bad.raw.startsWith('{"id": "big", "text": "aaa')).toBe(true);
    expect(big?.kind === 'bad' && big.bad.raw.length).toBe(64 * 1024);
    const good1 = items.find((it) => it.kind === 'doc' && it.doc.id === 'good-1');
    expect(good1?.kind === 'doc' && good1.doc.meta).toEqual({ url: 'https://example.com/1', title: 'One' });
    const good3 = items.find((it) => it.kind === 'doc' && it.doc.id === 'good-3');
    expect(good3?.kind === 'doc' && good3.doc.origin.offset).toBe(6); // the blank line before it still counts
  });

  it('reads by content, not by name: gzip named .jsonl, plain text named .jsonl.gz; refuses UTF-16 saying what to do', async () => {
    const body = jsonl(5);
    await writeFile(join(dir, 'really-gzip.jsonl'), gzipSync(body));
    await writeFile(join(dir, 'really-plain.jsonl.gz'), body);
    const plain = await readAll(new FileSource(cfg([join(dir, 'really-gzip.jsonl')]), { stateDir: join(dir, 'state-a') }));
    expect(plain.map(summary)).toEqual(Array.from({ length: 5 }, (_, i) => `doc d${i} @${i}: text of document ${i}`));
    const gz = await readAll(new FileSource(cfg([join(dir, 'really-plain.jsonl.gz')]), { stateDir: join(dir, 'state-b') }));
    expect(gz.map(summary)).toEqual(plain.map(summary));
    await writeFile(join(dir, 'utf16.jsonl'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(body, 'utf16le')]));
    const error = await readAll(new FileSource(cfg([join(dir, 'utf16.jsonl')]), { stateDir: join(dir, 'state-c') })).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'input_unreadable', message: expect.stringContaining('UTF-16') });
    expect((error as Error).message).toContain('iconv -f UTF-16 -t UTF-8');
  });

  it('stops with input_unreadable naming a corrupt gzip, after the lines read before the damage', async () => {
    const gz = gzipSync(jsonl(2000));
    await writeFile(join(dir, 'cut.jsonl.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
    await writeFile(join(dir, 'next.jsonl'), jsonl(1, 9000));
    const items: SourceItem[] = [];
    const source = new FileSource(cfg([join(dir, 'cut.jsonl.gz'), join(dir, 'next.jsonl')]), { stateDir });
    const error = await (async () => {
      for await (const item of source.read(new AbortController().signal)) items.push(item);
    })().then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'input_unreadable', retriable: false, detail: { file: join(dir, 'cut.jsonl.gz') } });
    expect((error as Error).message).toContain('cut.jsonl.gz');
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((it) => it.kind === 'doc')).toBe(true); // no record stands for the rest of the file
    expect(items.some((it) => summary(it).includes('d9000'))).toBe(false); // the run stops there
  });

  it('stops with input_unreadable for an input it cannot open (a directory where a file is named)', async () => {
    await mkdir(join(dir, 'dir.jsonl.gz'));
    await writeFile(join(dir, 'list.jsonl'), jsonl(1));
    // A glob matches files only; a path named explicitly is read as what it claims to be.
    const source = new FileSource(cfg([join(dir, 'list.jsonl'), join(dir, 'dir.jsonl.gz', '..', 'dir.jsonl.gz')]), { stateDir });
    await expect(readAll(source)).rejects.toMatchObject({ code: expect.stringMatching(/^(input_unreadable|source_no_files)$/) });
  });
});

describe('FileSource: Parquet', () => {
  it('yields envelopes with row offsets across row groups', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, text: `row ${i}`, n: i * 10, url: `https://e/${i}` }));
    await writeParquet(join(dir, 'rows.parquet'), { id: 'UTF8', text: 'UTF8', n: 'INT64', url: 'UTF8' }, rows, 2);
    const items = await readAll(new FileSource(cfg([join(dir, 'rows.parquet')]), { stateDir }));
    expect(items.map(summary)).toEqual(rows.map((r, i) => `doc ${r.id} @${i}: ${r.text}`));
    const last = items[4]!;
    expect(last.kind === 'doc' && last.doc.meta).toEqual({ n: 40, url: 'https://e/4' });
    expect(last.kind === 'doc' && last.doc.origin).toMatchObject({ kind: 'file', offset: 4, line: 5 });
  });

  it('gives one bad record naming the file for wrong columns, then goes on', async () => {
    await writeParquet(join(dir, 'a-wrong.parquet'), { id: 'UTF8', body: 'UTF8' }, [{ id: 'x', body: 'b' }, { id: 'y', body: 'c' }]);
    await writeFile(join(dir, 'c.jsonl'), jsonl(1));
    const items = await readAll(new FileSource(cfg([dir]), { stateDir }));
    expect(items.map(summary)).toEqual(['bad parquet_wrong_columns @0', 'doc d0 @0: text of document 0']);
    const [wrong] = items as Array<Extract<SourceItem, { kind: 'bad' }>>;
    expect(wrong!.bad.message).toBe(`${join(dir, 'a-wrong.parquet')} has no text column "text"; its columns are: id, body`);
  });

  it('reads Parquet as pyarrow writes it by default (format 2.6), with ZSTD, and as DuckDB writes it; resumes inside a file', async () => {
    // The Python venv of the test setup (scripts/deps.sh fetch python). parquetjs-lite, the reader before, refused
    // pyarrow's default files ("invalid parquet version").
    const python = join(ROOT, '.cache/python/venv/bin/python');
    const script = [
      'import sys, pyarrow as pa, pyarrow.parquet as pq',
      'd = sys.argv[1]',
      "t = pa.table({'id': [f'q{i}' for i in range(7)], 'text': [f'row {i} \u00e9' for i in range(7)], 'n': pa.array(range(7), pa.int64()), 'tags': [[f't{i}'] for i in range(7)]})",
      "pq.write_table(t, d + '/a-default.parquet', row_group_size=3)",
      "pq.write_table(t, d + '/b-zstd.parquet', compression='zstd', row_group_size=3)",
      "import duckdb; duckdb.sql(\"COPY (SELECT 'dk' || i AS id, 'duck ' || i AS text FROM range(4) t(i)) TO '\" + d + \"/c-duckdb.parquet' (FORMAT parquet)\")",
    ].join('\n');
    await promisify(execFile)(python, ['-c', script, dir]);
    const want = Array.from({ length: 7 }, (_, i) => `doc q${i} @${i}: row ${i} \u00e9`);
    const duck = Array.from({ length: 4 }, (_, i) => `doc dk${i} @${i}: duck ${i}`);
    const paths = ['a-default', 'b-zstd', 'c-duckdb'].map((f) => join(dir, `${f}.parquet`));
    const items = await readAll(new FileSource(cfg(paths), { stateDir }));
    expect(items.map(summary)).toEqual([...want, ...want, ...duck]);
    const last = items[6]!;
    expect(last.kind === 'doc' && last.doc.meta).toEqual({ n: 6 }); // the list column read, not kept: meta takes small scalars

    // Committed up to row 4 of each pyarrow file (inside the second row group) and row 1 of DuckDB's: the next run starts there.
    const first = new FileSource(cfg(paths), { stateDir });
    await readAll(first);
    await first.commit(new Map([[paths[0]!, 4], [paths[1]!, 4], [paths[2]!, 1]]));
    await first.close();
    const again = await readAll(new FileSource(cfg(paths), { stateDir }));
    expect(again.map(summary)).toEqual([...want.slice(4), ...want.slice(4), ...duck.slice(1)]);
  });

  it('stops with input_unreadable naming a corrupt Parquet file', async () => {
    await writeFile(join(dir, 'b-corrupt.parquet'), Buffer.from('PAR1 this is not really parquet PAR1'));
    await writeFile(join(dir, 'c.jsonl'), jsonl(1));
    const error = await readAll(new FileSource(cfg([dir]), { stateDir })).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'input_unreadable', detail: { file: join(dir, 'b-corrupt.parquet') } });
  });
});

describe('FileSource: checkpoint', () => {
  it('resumes after the committed offsets and skips files marked complete', async () => {
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.parquet');
    await writeFile(a, jsonl(3) + '\n\n'); // trailing blank lines are covered by "complete"
    await writeParquet(b, { id: 'UTF8', text: 'UTF8' }, Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, text: `row ${i}` })), 2);

    const first = new FileSource(cfg([a, b]), { stateDir });
    expect(first.progress()).toBeUndefined();
    const items = await readAll(first);
    expect(items).toHaveLength(8);
    const sizes = (await stat(a)).size + (await stat(b)).size;
    expect(first.progress()).toEqual({ done: sizes, total: sizes, unit: 'bytes' });
    // As the runtime would: all of a.jsonl resolved, b.parquet up to row 3.
    await first.commit(new Map([[a, 3], [b, 3]]));
    await first.close();

    const saved = JSON.parse(await readFile(join(stateDir, 'checkpoint.json'), 'utf8'));
    expect(saved.files[a]).toMatchObject({ nextOffset: 3, complete: true, size: (await stat(a)).size });
    expect(saved.files[b]).toMatchObject({ nextOffset: 3, complete: false });

    const second = new FileSource(cfg([a, b]), { stateDir });
    expect((await readAll(second)).map(summary)).toEqual(['doc p3 @3: row 3', 'doc p4 @4: row 4']);
    expect(second.progress()).toEqual({ done: sizes, total: sizes, unit: 'bytes' });
    await second.commit(new Map([[b, 5]]));
    const third = new FileSource(cfg([a, b]), { stateDir });
    expect(await readAll(third)).toEqual([]);
  });

  it('refuses a file that changed since the checkpoint', async () => {
    const a = join(dir, 'a.jsonl');
    await writeFile(a, jsonl(4));
    const first = new FileSource(cfg([a]), { stateDir });
    await readAll(first);
    await first.commit(new Map([[a, 2]]));
    await appendFile(a, jsonl(1, 4));

    const err = await readAll(new FileSource(cfg([a]), { stateDir })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'input_changed', detail: { file: a } });
    expect((err as Error).message).toContain(a);
  });

  it('stops reading when aborted', async () => {
    await writeFile(join(dir, 'a.jsonl'), jsonl(5000));
    await writeFile(join(dir, 'b.jsonl'), jsonl(10));
    const ac = new AbortController();
    const source = new FileSource(cfg([dir]), { stateDir });
    const seen: SourceItem[] = [];
    for await (const item of source.read(ac.signal)) {
      seen.push(item);
      if (seen.length === 3) ac.abort();
    }
    expect(seen.map(summary)).toEqual(['doc d0 @0: text of document 0', 'doc d1 @1: text of document 1', 'doc d2 @2: text of document 2']);
  });
});
