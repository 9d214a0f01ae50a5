import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { CORPUS, deadLetters, readManifest, readRows, runCli, startCli, sum, tempDir, writePipeline } from './harness.js';

const docIds = async (out: string) => new Set((await readRows(out)).rows.map((r) => String(r.document_id)));

/**
 * Issue 9, "Tests that must exist": a hanging replica among two (accepts requests, never answers
 * anything, /health included) -> its requests move to the other and the run completes, writing what
 * a clean run writes. Default llm settings: the requests must not wait for the 120 s request timeout
 * (no llm_timeout anywhere). No wall time is asserted.
 */
describe('a hanging replica among two', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('moves the requests of the hung replica to the healthy one; the run completes and loses nothing', async () => {
    const dir = await tempDir('hung-replica');
    const ref = await startSimulator({ timeScale: 0.002 });
    sims.push(ref);
    const refOut = join(dir, 'ref');
    const refCfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, llm: { endpoints: [{ url: ref.url }] }, sink: { dir: refOut } }, 'ref.yaml');
    const clean = await runCli(['run', refCfg, '--quiet']);
    expect(clean.code, clean.stderr).toBe(0);
    const expected = await docIds(refOut);

    // Slow enough (simulated time at 1/100) that requests are still running when the replica hangs.
    const wedged = await startSimulator({ timeScale: 0.01, replica: 0 });
    const healthy = await startSimulator({ timeScale: 0.01, replica: 1 });
    sims.push(wedged, healthy);
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      llm: { endpoints: [{ url: wedged.url }, { url: healthy.url }] },
      sink: { dir: out },
    });
    const run = startCli(['run', cfg, '--quiet']);
    let exited = false;
    void run.done.then(() => (exited = true));
    while (!exited && wedged.stats().running < 5) await new Promise((r) => setTimeout(r, 50));
    expect(exited, 'the run ended before the replica to hang had requests running').toBe(false);
    const runningWhenHung = wedged.stats().running;
    const answeredWhenHung = sum(wedged.stats().requests.byStatus);
    wedged.setFaults({ hung: true });

    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(runningWhenHung).toBeGreaterThanOrEqual(5);
    // The hung replica answered nothing after it hung; the work it held was done by the other.
    expect(sum(wedged.stats().requests.byStatus)).toBe(answeredWhenHung);
    const ejected = r.stderr.split('\n').filter((l) => l.includes('inference replica state changed') && l.includes('state=open'));
    expect(ejected.length).toBeGreaterThanOrEqual(1);
    expect(ejected.every((l) => l.includes(wedged.url))).toBe(true);

    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.abandoned).toBe(0);
    expect(sum(m.funnel.documents.deadLettered)).toBe(0);
    expect(await deadLetters(out)).toEqual([]);
    // Nothing waited for the request timeout: the stuck requests were cancelled and rerouted.
    for (const [stage, t] of Object.entries(m.tokens)) expect(t.errors.llm_timeout ?? 0, stage).toBe(0);
    expect(await docIds(out)).toEqual(expected);
  }, 240_000);
});
