import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileDeadLetterSink } from '../../src/sinks/dead-letter-file.js';
import { writeManifest } from '../../src/sinks/manifest.js';
import { ParquetShardSink } from '../../src/sinks/parquet-sink.js';
import { formatOutputSummary, readOutputSummary } from '../../src/sinks/read-output.js';
import { docRows, fileOrigin, kafkaOrigin, sinkConfig, tempDir } from './fixtures.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('readOutputSummary', () => {
  it('summarises shards, manifest and dead letters of an output directory', async () => {
    const t = await tempDir('summary');
    cleanup = t.cleanup;
    const sink = new ParquetShardSink(sinkConfig(t.dir, { maxRows: 10 }));
    await sink.open();
    const origins = [...Array.from({ length: 12 }, (_, i) => fileOrigin('/in/a.jsonl', i)), ...Array.from({ length: 5 }, (_, i) => kafkaOrigin('web', 2, 100 + i))];
    for (const o of origins) await sink.writeDoc(o, docRows(o, 3));
    await sink.close();

    const dl = new FileDeadLetterSink(join(t.dir, '_gemflow', 'dead-letters.jsonl'));
    for (const [i, code] of ['bad_json', 'bad_json', 'record_too_large'].entries()) {
      await dl.write({ origin: fileOrigin('/in/a.jsonl', 100 + i), stage: 'decode', code, message: 'm', raw: 'r' });
    }
    await dl.write({ origin: kafkaOrigin('web', 2, 99), stage: 'extract', code: 'llm_exhausted', message: 'm', raw: 'r' });
    await dl.close();
    await writeFile(join(t.dir, '_gemflow', 'dead-letters.jsonl'), '{"code":"cut', { flag: 'a' }); // torn last line

    const shards = sink.shards();
    await writeManifest(t.dir, {
      version: 1,
      startedAt: '2025-01-01T00:00:00.000Z',
      finishedAt: '2025-01-01T00:01:00.000Z',
      config: {},
      funnel: {
        documents: { received: 21, written: 17, dropped: {}, rejected: {}, deadLettered: { bad_json: 2, record_too_large: 1, llm_exhausted: 1 } },
        trajectories: { generated: 51, written: 51, rejected: {}, dropped: {} },
      },
      tokens: { extract: { promptTokens: 12345, completionTokens: 678 } },
      shards: [...shards, { ...shards[0]!, path: join(t.dir, 'data', 'vanished.parquet') }],
      statsSummary: {},
      simulated: true,
    });

    const s = await readOutputSummary(t.dir);
    expect(s.totals).toEqual({ shards: shards.length, docs: 17, rows: 51, bytes: shards.reduce((n, x) => n + x.bytes, 0) });
    expect(s.shards.map((x) => x.path).sort()).toEqual(shards.map((x) => x.path).sort());
    expect(s.deadLetters).toMatchObject({ total: 4, byCode: { bad_json: 2, record_too_large: 1, llm_exhausted: 1 }, byStage: { decode: 3, extract: 1 }, malformedLines: 1 });
    expect(s.manifest?.tokens.extract?.promptTokens).toBe(12345);
    expect(s.problems).toEqual({ missingShards: [join(t.dir, 'data', 'vanished.parquet')], orphanIndexes: [], unindexedData: [], tmpFiles: [], unreadableIndexes: [], unreadableRuns: [] });

    const text = formatOutputSummary(s);
    expect(text).toContain('documents    received 21, written 17');
    expect(text).toContain('dead-lettered 4 (bad_json: 2, llm_exhausted: 1, record_too_large: 1)');
    expect(text).toMatch(/^\/in\/a\.jsonl\s+4\s+12\s+36\s/m); // partition, shards, docs, rows (3 docs of 3 rows per shard)
    expect(text).toMatch(/^web\/2\s+2\s+5\s+15\s/m);
    expect(text).toContain('dead letters 4; by code: bad_json: 2, llm_exhausted: 1, record_too_large: 1; by stage: decode: 3, extract: 1 (1 malformed lines)');
    expect(text).toContain('listed in the manifest but missing');
  });

  it('reports an unfinished output: no manifest, crash leftovers, no dead letters', async () => {
    const t = await tempDir('summary-empty');
    cleanup = t.cleanup;
    const sink = new ParquetShardSink(sinkConfig(t.dir));
    await sink.open();
    const o = fileOrigin('/in/a.jsonl', 0);
    await sink.writeDoc(o, docRows(o, 2));
    await sink.flush();
    await writeFile(join(t.dir, '_gemflow', 'tmp', 'x.parquet.tmp'), '');
    await writeFile(join(t.dir, '_gemflow', 'index', 'y.docs.json'), '{}');
    await writeFile(join(t.dir, 'data', 'z.parquet'), '');
    const s = await readOutputSummary(t.dir);
    expect(s.manifest).toBeNull();
    expect(s.deadLetters).toBeNull();
    expect(s.totals).toMatchObject({ shards: 1, docs: 1, rows: 2 });
    expect(s.problems).toMatchObject({
      orphanIndexes: [join(t.dir, '_gemflow', 'index', 'y.docs.json')],
      unindexedData: [join(t.dir, 'data', 'z.parquet')],
      tmpFiles: [join(t.dir, '_gemflow', 'tmp', 'x.parquet.tmp')],
    });
    const text = formatOutputSummary(s);
    expect(text).toContain('no manifest');
    expect(text).toContain('unfinished write');
    await sink.close();
  });

  it('after a rerun that wrote nothing, reports every shard present and the funnel over all runs', async () => {
    const t = await tempDir('summary-rerun');
    cleanup = t.cleanup;
    const sink = new ParquetShardSink(sinkConfig(t.dir, { maxRows: 2 }));
    await sink.open();
    for (let i = 0; i < 6; i++) await sink.writeDoc(fileOrigin('/in/a.jsonl', i), docRows(fileOrigin('/in/a.jsonl', i), 1));
    await sink.close();
    const funnel = (received: number, written: number) => ({ documents: { received, written, dropped: {}, rejected: {}, deadLettered: {} }, trajectories: { generated: written, written, rejected: {}, dropped: {} }, balanced: true });
    const run = { version: 1 as const, config: {}, tokens: {}, statsSummary: {}, simulated: false };
    await sink.publishRun({ ...run, startedAt: '2025-01-01T00:00:00.000Z', finishedAt: '2025-01-01T00:01:00.000Z', funnel: funnel(6, 6), shards: sink.shards() });
    const rerun = new ParquetShardSink(sinkConfig(t.dir));
    await rerun.open();
    await rerun.close();
    await rerun.publishRun({ ...run, startedAt: '2025-01-02T00:00:00.000Z', finishedAt: '2025-01-02T00:00:01.000Z', funnel: funnel(0, 0), shards: [] });

    const s = await readOutputSummary(t.dir);
    expect(s.manifest?.funnel.documents).toMatchObject({ received: 6, written: 6 });
    expect(s.manifest?.shards).toHaveLength(3);
    expect(s.manifest?.runs).toHaveLength(2);
    const text = formatOutputSummary(s);
    expect(text).toContain('runs 2');
    expect(text).toContain('documents    received 6, written 6');
    for (const sh of sink.shards()) expect(text).toContain(basename(sh.path));
  });

  it('counts a dead letter whose document a later run wrote as resolved, not current', async () => {
    const t = await tempDir('summary-resolved');
    cleanup = t.cleanup;
    const dl = new FileDeadLetterSink(join(t.dir, '_gemflow', 'dead-letters.jsonl'));
    await dl.write({ origin: fileOrigin('/in/a.jsonl', 0), stage: 'extract', code: 'llm_invalid', message: 'm', raw: 'r', documentId: 'doc-0' });
    await dl.write({ origin: fileOrigin('/in/old.jsonl', 7), stage: 'extract', code: 'llm_invalid', message: 'm', raw: 'r', documentId: 'doc-/in/a.jsonl-1' });
    await dl.write({ origin: fileOrigin('/in/a.jsonl', 5), stage: 'decode', code: 'bad_json', message: 'm', raw: 'r' });
    await dl.close();
    // A later run writes /in/a.jsonl line 0 (same origin), and from another file the document id of the second.
    const sink = new ParquetShardSink(sinkConfig(t.dir));
    await sink.open();
    await sink.writeDoc(fileOrigin('/in/a.jsonl', 0), docRows(fileOrigin('/in/a.jsonl', 0), 1));
    await sink.writeDoc(fileOrigin('/in/new.jsonl', 1), docRows(fileOrigin('/in/a.jsonl', 1), 1)); // document id "doc-/in/a.jsonl-1"
    await sink.close();
    const s = await readOutputSummary(t.dir);
    expect(s.deadLetters).toMatchObject({ total: 3, current: 1, resolved: 2, byCode: { bad_json: 1 }, byStage: { decode: 1 } });
    expect(formatOutputSummary(s)).toContain('dead letters 1; by code: bad_json: 1; by stage: decode: 1; 2 more resolved');
  });

  it('counts a record dead-lettered again by a later run (replayed after an interrupted run) once, with its latest code', async () => {
    const t = await tempDir('summary-repeated');
    cleanup = t.cleanup;
    const dl = new FileDeadLetterSink(join(t.dir, '_gemflow', 'dead-letters.jsonl'));
    await dl.write({ origin: fileOrigin('/in/a.jsonl', 3), stage: 'ground', code: 'llm_invalid_output', message: 'm', raw: 'r', documentId: 'd3' });
    await dl.write({ origin: fileOrigin('/in/a.jsonl', 4), stage: 'decode', code: 'bad_json', message: 'm', raw: 'r' });
    await dl.write({ origin: fileOrigin('/in/a.jsonl', 3), stage: 'extract', code: 'llm_exhausted', message: 'm', raw: 'r', documentId: 'd3' });
    await dl.close();
    const s = await readOutputSummary(t.dir);
    expect(s.deadLetters).toMatchObject({ total: 3, current: 2, resolved: 0, repeated: 1, byCode: { bad_json: 1, llm_exhausted: 1 }, byStage: { decode: 1, extract: 1 } });
    expect(formatOutputSummary(s)).toContain('dead letters 2; by code: bad_json: 1, llm_exhausted: 1; by stage: decode: 1, extract: 1; 1 more lines repeat a record');
  });
});
