import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { CORPUS, readManifest, readRows, runCli, shardFiles, startCli, sum, tempDir, writePipeline } from './harness.js';

/** The inference cluster failing under a whole run: replicas dying, or every replica refusing work. */
describe('gemflow run against a failing inference cluster', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('stops early with a clear message and exit 2 when every replica answers 503', async () => {
    const a = await startSimulator({ timeScale: 0.001, faults: { rates: { unavailable: 1 } } });
    const b = await startSimulator({ timeScale: 0.001, faults: { rates: { unavailable: 1 } } });
    sims.push(a, b);
    const dir = await tempDir('503');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: a.url }, { url: b.url }], retryBaseMs: 10, retryMaxMs: 100, errorWindow: 20, noReplicaWaitMs: 2000 },
      sink: { dir: out },
    });
    const r = await runCli(['run', cfg, '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('inference cluster unusable');
    expect(r.stderr).toContain('HTTP 503'); // the message names the underlying cause
    const m = await readManifest(out);
    // Nothing was written, nothing is silently lost: the documents not finished stay uncommitted.
    expect(m.funnel.documents.written).toBe(0);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.abandoned + sum(m.funnel.documents.deadLettered)).toBeGreaterThan(0);
  });

  it('loses nothing when a replica dies mid-run: its calls are retried on the others', async () => {
    const ref = await tempDir('ref503');
    const refCfg = await writePipeline(ref, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, sink: { dir: join(ref, 'out') } });
    expect((await runCli(['run', refCfg, '--quiet'])).code).toBe(0);
    const expected = new Set((await readRows(join(ref, 'out'))).rows.map((r) => String(r.document_id)));

    const replicas = [await startSimulator({ timeScale: 0.03 }), await startSimulator({ timeScale: 0.03 }), await startSimulator({ timeScale: 0.03 })];
    sims.push(...replicas);
    const dir = await tempDir('kill-replica');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: replicas.map((s) => ({ url: s.url })), retryBaseMs: 20 },
      sink: { dir: out, maxRows: 2 },
    });
    const run = startCli(['run', cfg, '--quiet']);
    for (let i = 0; i < 600 && (await shardFiles(out)).length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    await replicas[0]!.kill();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.deadLettered).toEqual({});
    expect(new Set((await readRows(out)).rows.map((x) => String(x.document_id)))).toEqual(expected);
  });
});
