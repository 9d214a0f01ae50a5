import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalShardStore } from '../../src/sinks/local-shard-store.js';
import { publishRun, putRunRecord, readManifest, writeManifest, type RunManifest } from '../../src/sinks/manifest.js';
import { ParquetShardSink } from '../../src/sinks/parquet-sink.js';
import { writerTag } from '../../src/sinks/writer-tag.js';
import { docRows, fileOrigin, sinkConfig, tempDir } from './fixtures.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

function manifest(over: Partial<RunManifest> = {}): RunManifest {
  return {
    version: 1,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:10:00.000Z',
    config: {
      source: { type: 'kafka', brokers: ['b:9092'], sasl: { mechanism: 'plain', username: 'u', password: 'hunter2' }, ssl: { key: 'PEM', ca: 'CA' } },
      llm: { endpoints: [{ url: 'http://admin:s3cret@gpu-1:8000/v1', apiKey: 'sk-123' }, { url: 'http://gpu-2:8000/v1' }] },
      stages: { extract: { maxTokens: 4096 } },
    },
    funnel: {
      documents: { received: 10, written: 6, dropped: { irrelevant: 2 }, rejected: { tool_unknown: 1 }, deadLettered: { bad_json: 1 } },
      trajectories: { generated: 14, written: 12, rejected: { schema: 1 }, dropped: { duplicate: 1 } },
      balanced: true,
    },
    tokens: { extract: { promptTokens: 1000, completionTokens: 300 } },
    shards: [{ path: 'out/shards/a.parquet', rows: 12, bytes: 3456, partition: '/in/a.jsonl', firstOffset: 0, lastOffset: 9 }],
    statsSummary: { toolCalls: { mean: 3.5, p50: 3 } },
    simulated: true,
    ...over,
  };
}

describe('run manifest', () => {
  it('round-trips through <dir>/_gemflow/manifest.json with secrets redacted', async () => {
    const t = await tempDir('manifest');
    cleanup = t.cleanup;
    const m = manifest();
    const path = await writeManifest(t.dir, m);
    expect(path).toBe(join(t.dir, '_gemflow', 'manifest.json'));
    expect(await readdir(join(t.dir, '_gemflow'))).toEqual(['manifest.json']);

    const text = await readFile(path, 'utf8');
    for (const secret of ['hunter2', 'sk-123', 's3cret', 'PEM']) expect(text).not.toContain(secret);
    const back = await readManifest(t.dir);
    expect(back).toEqual({
      ...m,
      config: {
        source: { type: 'kafka', brokers: ['b:9092'], sasl: { mechanism: 'plain', username: 'u', password: '[redacted]' }, ssl: { key: '[redacted]', ca: 'CA' } },
        llm: { endpoints: [{ url: 'http://admin:[redacted]@gpu-1:8000/v1', apiKey: '[redacted]' }, { url: 'http://gpu-2:8000/v1' }] },
        stages: { extract: { maxTokens: 4096 } },
      },
    });
  });

  it('replaces an existing manifest', async () => {
    const t = await tempDir('manifest-replace');
    cleanup = t.cleanup;
    await writeManifest(t.dir, manifest());
    await writeManifest(t.dir, manifest({ simulated: false, fatal: { code: 'cluster_unusable', message: 'error rate 0.9' } }));
    expect(await readManifest(t.dir)).toMatchObject({ simulated: false, fatal: { code: 'cluster_unusable' } });
    expect(await readdir(join(t.dir, '_gemflow'))).toEqual(['manifest.json']);
  });

  it('reads a missing manifest as null and rejects one that is not a manifest', async () => {
    const t = await tempDir('manifest-bad');
    cleanup = t.cleanup;
    expect(await readManifest(t.dir)).toBeNull();
    // The legacy layout's manifest.json at the top is read when there is no _gemflow/manifest.json.
    await writeFile(join(t.dir, 'manifest.json'), '{"version": 2}');
    await expect(readManifest(t.dir)).rejects.toMatchObject({ code: 'manifest_invalid' });
    await mkdir(join(t.dir, '_gemflow'));
    await writeFile(join(t.dir, '_gemflow', 'manifest.json'), '{"vers');
    await expect(readManifest(t.dir)).rejects.toMatchObject({ code: 'manifest_invalid' });
  });
});

describe('run history', () => {
  const emptyRun = (over: Partial<RunManifest> = {}) =>
    manifest({
      funnel: { documents: { received: 0, written: 0, dropped: {}, rejected: {}, deadLettered: {} }, trajectories: { generated: 0, written: 0, rejected: {}, dropped: {} }, balanced: true },
      shards: [],
      ...over,
    });

  it('a rerun adds to the history: funnel summed over runs, every shard present listed, _gemflow/manifest.json the merged view', async () => {
    const t = await tempDir('manifest-history');
    cleanup = t.cleanup;
    const sink = new ParquetShardSink(sinkConfig(t.dir, { maxRows: 2 }));
    await sink.open();
    for (let i = 0; i < 4; i++) await sink.writeDoc(fileOrigin('/in/a.jsonl', i), docRows(fileOrigin('/in/a.jsonl', i), 1));
    await sink.close();
    const first = await sink.publishRun(manifest({ shards: sink.shards() }));
    expect(first.merged.runs).toHaveLength(1);

    // "Nothing to do": a second run that wrote nothing.
    const again = new ParquetShardSink(sinkConfig(t.dir, { maxRows: 2 }));
    await again.open();
    await again.close();
    const { path, merged } = await again.publishRun(emptyRun({ startedAt: '2025-01-02T00:00:00.000Z', finishedAt: '2025-01-02T00:00:01.000Z', simulated: false }));
    expect(path).toBe(join(t.dir, '_gemflow', 'manifest.json'));
    expect(merged.runs!.map((r) => [r.funnel.documents.received, r.shardsWritten])).toEqual([[10, 2], [0, 0]]);
    expect(merged.funnel.documents).toMatchObject({ received: 10, written: 6, dropped: { irrelevant: 2 } });
    expect(merged.funnel.balanced).toBe(true);
    expect(merged.shards.map((x) => x.path).sort()).toEqual(sink.shards().map((x) => x.path).sort());
    expect(merged.simulated).toBe(true); // some outputs are simulated
    expect(merged.config).toMatchObject({ llm: { endpoints: [{ apiKey: '[redacted]' }, {}] } });
    const onDisk = JSON.parse(await readFile(path, 'utf8')) as RunManifest;
    expect(onDisk.funnel.documents.received).toBe(10);
    expect(onDisk.runs).toHaveLength(2);
    expect(await readManifest(t.dir)).toMatchObject({ funnel: { documents: { received: 10 } }, runs: [{}, {}] });
    expect((await readdir(join(t.dir, '_runs'))).filter((n) => n.endsWith('.json'))).toHaveLength(2);
  });

  it('many workers finishing at once into one output: no torn or missing manifest, every run in the last view', async () => {
    const t = await tempDir('manifest-concurrent');
    cleanup = t.cleanup;
    const workers = Array.from({ length: 12 }, () => new LocalShardStore(t.dir));
    await Promise.all(workers.map((w) => w.open(0)));
    const results = await Promise.all(workers.map((w, i) => w.publishRun(manifest({ startedAt: `2025-01-01T00:00:${String(i).padStart(2, '0')}.000Z`, shards: [] }))));
    expect(results.every((r) => r.path === join(t.dir, '_gemflow', 'manifest.json'))).toBe(true);
    const final = JSON.parse(await readFile(join(t.dir, '_gemflow', 'manifest.json'), 'utf8')) as RunManifest;
    expect(final.runs).toHaveLength(12);
    expect(final.funnel.documents.received).toBe(120);
    expect((await readdir(t.dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect((await readdir(join(t.dir, '_runs'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a view written after a peer\'s, holding the peer\'s provisional record, is redone: the last view has its final record', async () => {
    const t = await tempDir('manifest-provisional');
    cleanup = t.cleanup;
    const a = new LocalShardStore(t.dir);
    const b = new LocalShardStore(t.dir);
    await Promise.all([a.open(0), b.open(0)]);
    // B is still running: its provisional record counts 3 documents.
    const bRun = { startedAt: '2025-01-01T00:00:01.000Z', runId: 'run-b', shards: [] };
    await putRunRecord(b.manifestStore(), { ...manifest({ ...bRun, funnel: { ...manifest().funnel, documents: { ...manifest().funnel.documents, received: 3 } } }), runId: 'run-b', provisional: true });
    // A finishes; while A writes its view (which holds B's provisional record), B finishes and writes
    // its own final record and view first: A's write lands last, with the older B.
    const store = a.manifestStore();
    let once = true;
    const racing = {
      ...store,
      putMerged: async (text: string) => {
        if (once) {
          once = false;
          await b.publishRun(manifest(bRun));
        }
        return store.putMerged(text);
      },
    };
    await publishRun(racing, manifest({ startedAt: '2025-01-01T00:00:00.000Z', runId: 'run-a', shards: [] }));
    const final = JSON.parse(await readFile(join(t.dir, '_gemflow', 'manifest.json'), 'utf8')) as RunManifest;
    expect(final.runs!.map((r) => [r.runId, r.provisional ?? false])).toEqual([['run-a', false], ['run-b', false]]);
    expect(final.funnel.documents.received).toBe(20);
  });

  it('imports a manifest.json written before run files as one run', async () => {
    const t = await tempDir('manifest-legacy');
    cleanup = t.cleanup;
    await writeManifest(t.dir, manifest());
    const { merged } = await new LocalShardStore(t.dir).publishRun(emptyRun({ startedAt: '2025-02-01T00:00:00.000Z', finishedAt: '2025-02-01T00:00:01.000Z' }));
    expect(merged.runs!.map((r) => r.runId.startsWith('legacy-'))).toEqual([true, false]);
    expect(merged.funnel.documents.received).toBe(10);
  });
});

describe('leftover temp files', () => {
  it('open() deletes a dead writer\'s temps at once, old ones of anyone, and leaves a live or unknown writer\'s young ones', async () => {
    const t = await tempDir('stale-tmp');
    cleanup = t.cleanup;
    const shards = join(t.dir, '_gemflow', 'tmp');
    const indexes = join(t.dir, '_gemflow', 'index');
    await mkdir(shards, { recursive: true });
    await mkdir(indexes, { recursive: true });
    await mkdir(join(t.dir, '_runs'), { recursive: true });
    const host = writerTag().split('~')[0]!;
    expect(hostname().length).toBeGreaterThan(0);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
    const files = {
      deadShard: join(shards, `a-123456.${host}~${dead}~0badf00d-1.parquet.tmp`),
      deadIndex: join(indexes, `a-123456-000-001-abcd.docs.json.${host}~${dead}~0badf00d-2.tmp`),
      deadManifest: join(t.dir, '_gemflow', `manifest.json.${host}~${dead}~0badf00d-3.tmp`),
      deadRun: join(t.dir, '_runs', `r.json.${host}~${dead}~0badf00d-4.tmp`),
      earlierIncarnation: join(shards, `b-123456.${host}~${process.pid}~0badf00d-1.parquet.tmp`), // our pid, another token
      liveSelf: join(shards, `c-123456.${writerTag()}-99.parquet.tmp`),
      livePeer: join(shards, `d-123456.${host}~${process.ppid}~0badf00d-1.parquet.tmp`),
      otherHost: join(shards, `e-123456.elsewhere~${dead}~0badf00d-1.parquet.tmp`),
      untagged: join(shards, 'f.4242-1.parquet.tmp'),
      oldUntagged: join(shards, 'g.4242-1.parquet.tmp'),
    };
    for (const p of Object.values(files)) await writeFile(p, 'x');
    const old = new Date(Date.now() - 3 * 3600_000);
    await utimes(files.oldUntagged, old, old);
    const sink = new ParquetShardSink(sinkConfig(t.dir));
    await sink.open();
    const exists = async (p: string) => stat(p).then(() => true, () => false);
    const left = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([k, p]) => [k, await exists(p)] as const)));
    expect(left).toEqual({
      deadShard: false,
      deadIndex: false,
      deadManifest: false,
      deadRun: false,
      earlierIncarnation: false,
      liveSelf: true,
      livePeer: true,
      otherHost: true,
      untagged: true,
      oldUntagged: false,
    });
    await sink.close();
  });
});
