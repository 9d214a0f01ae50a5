import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readManifest, writeManifest, type RunManifest } from '../../src/sinks/manifest.js';
import { tempDir } from './fixtures.js';

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
  it('round-trips through <dir>/manifest.json with secrets redacted', async () => {
    const t = await tempDir('manifest');
    cleanup = t.cleanup;
    const m = manifest();
    const path = await writeManifest(t.dir, m);
    expect(path).toBe(join(t.dir, 'manifest.json'));
    expect(await readdir(t.dir)).toEqual(['manifest.json']);

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
    expect(await readdir(t.dir)).toEqual(['manifest.json']);
  });

  it('reads a missing manifest as null and rejects one that is not a manifest', async () => {
    const t = await tempDir('manifest-bad');
    cleanup = t.cleanup;
    expect(await readManifest(t.dir)).toBeNull();
    await writeFile(join(t.dir, 'manifest.json'), '{"version": 2}');
    await expect(readManifest(t.dir)).rejects.toMatchObject({ code: 'manifest_invalid' });
    await writeFile(join(t.dir, 'manifest.json'), '{"vers');
    await expect(readManifest(t.dir)).rejects.toMatchObject({ code: 'manifest_invalid' });
  });
});
