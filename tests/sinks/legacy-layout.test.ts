/**
 * Outputs written in the layout before the output directory was a dataset (`shards/` with each
 * `.docs.json` beside its Parquet file, `manifest.json` and `dead-letters.jsonl` at the top): read as
 * they are by `gemflow stats`, and moved into the dataset layout by the next run that opens them,
 * also when a crash stopped an earlier move half way; replay safety holds throughout.
 */
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { originKey } from '../../src/envelope.js';
import { readManifest, writeManifest } from '../../src/sinks/manifest.js';
import { ParquetShardSink } from '../../src/sinks/parquet-sink.js';
import { readOutputSummary } from '../../src/sinks/read-output.js';
import { docRows, duck, fileOrigin, sinkConfig, sqlString, tempDir, writtenKeys } from './fixtures.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

const origins = Array.from({ length: 9 }, (_, i) => fileOrigin('/in/a.jsonl', i));

/** An output in the legacy layout: written by the sink, then moved back where the old version kept things. */
async function legacyOutput(dir: string): Promise<void> {
  const sink = new ParquetShardSink(sinkConfig(dir, { maxRows: 4 }));
  await sink.open();
  for (const o of origins) await sink.writeDoc(o, docRows(o, 1));
  await sink.close();
  await writeManifest(dir, { version: 1, startedAt: '2025-01-01T00:00:00.000Z', finishedAt: '2025-01-01T00:00:01.000Z', config: {}, funnel: { documents: { received: 10, written: 9, dropped: {}, rejected: {}, deadLettered: { bad_json: 1 } }, trajectories: { generated: 9, written: 9, rejected: {}, dropped: {} } }, tokens: {}, shards: sink.shards(), statsSummary: {}, simulated: true });
  await mkdir(join(dir, 'shards'));
  for (const f of await readdir(join(dir, 'data'))) await rename(join(dir, 'data', f), join(dir, 'shards', f));
  for (const f of await readdir(join(dir, '_gemflow', 'index'))) await rename(join(dir, '_gemflow', 'index', f), join(dir, 'shards', f));
  await rename(join(dir, '_gemflow', 'manifest.json'), join(dir, 'manifest.json'));
  await writeFile(join(dir, 'dead-letters.jsonl'), JSON.stringify({ origin: fileOrigin('/in/a.jsonl', 9), stage: 'decode', code: 'bad_json', message: 'm', raw: 'x' }) + '\n');
  for (const d of ['data', '_gemflow', '.huggingface.yaml']) await import('node:fs/promises').then((fs) => fs.rm(join(dir, d), { recursive: true }));
}

async function rowCount(dir: string): Promise<number> {
  const db = await duck();
  try {
    const [{ n }] = (await db.all(`select count(*)::INTEGER as n from read_parquet(${sqlString(join(dir, 'data', '*.parquet'))})`)) as [{ n: number }];
    return n;
  } finally {
    db.close();
  }
}

describe('legacy output layout', () => {
  it('is read as it is, then moved into the dataset layout by the next run, which skips what it holds', async () => {
    const t = await tempDir('legacy');
    cleanup = t.cleanup;
    await legacyOutput(t.dir);
    expect((await readdir(t.dir)).sort()).toEqual(['dead-letters.jsonl', 'manifest.json', 'shards']);

    const before = await readOutputSummary(t.dir);
    expect(before.totals).toMatchObject({ shards: 3, docs: 9, rows: 9 });
    expect(before.manifest?.funnel.documents.written).toBe(9);
    expect(before.deadLetters).toMatchObject({ total: 1, current: 1 });

    const sink = new ParquetShardSink(sinkConfig(t.dir, { maxRows: 4 }));
    await sink.open();
    expect(await writtenKeys(sink, origins.map((o) => o.partition))).toEqual(new Set(origins.map(originKey)));
    expect((await readdir(t.dir)).sort()).toEqual(['.huggingface.yaml', '_gemflow', 'data']);
    expect((await readdir(join(t.dir, '_gemflow'))).sort()).toEqual(['dead-letters.jsonl', 'index', 'manifest.json', 'tmp']);
    // A replay writes the same names: still one copy of each row.
    for (const o of origins) await sink.writeDoc(o, docRows(o, 1));
    await sink.close();
    expect(await readdir(join(t.dir, 'data'))).toHaveLength(3);
    expect(await rowCount(t.dir)).toBe(9);
    const after = await readOutputSummary(t.dir);
    expect(after.totals).toEqual(before.totals);
    expect(after.deadLetters).toMatchObject({ total: 1, current: 1 });
    expect((await readManifest(t.dir))?.funnel.documents.written).toBe(9);
  });

  it('finishes a move that a crash stopped between a shard\'s index and its data file', async () => {
    const t = await tempDir('legacy-half');
    cleanup = t.cleanup;
    await legacyOutput(t.dir);
    // The crash: one index already moved, its Parquet file (and the rest) still in shards/.
    const index = (await readdir(join(t.dir, 'shards'))).find((f) => f.endsWith('.docs.json'))!;
    await mkdir(join(t.dir, '_gemflow', 'index'), { recursive: true });
    await rename(join(t.dir, 'shards', index), join(t.dir, '_gemflow', 'index', index));
    const old = new Date(Date.now() - 3 * 3600_000); // older than any live writer: the orphan rule would delete it
    await import('node:fs/promises').then((fs) => fs.utimes(join(t.dir, '_gemflow', 'index', index), old, old));

    const sink = new ParquetShardSink(sinkConfig(t.dir));
    await sink.open();
    expect(await writtenKeys(sink, origins.map((o) => o.partition))).toEqual(new Set(origins.map(originKey)));
    await sink.close();
    expect(await readdir(join(t.dir, '_gemflow', 'index'))).toHaveLength(3);
    expect(await rowCount(t.dir)).toBe(9);
  });
});
