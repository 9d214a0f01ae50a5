import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { CORPUS, deadLetters, readManifest, readRows, runCli, sum, tempDir, writePipeline } from './harness.js';

/** A port on 127.0.0.1 that nothing listens on (bound, then released): connecting to it is refused. */
function closedPort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

const docIds = async (out: string) => new Set((await readRows(out)).rows.map((r) => String(r.document_id)));

/**
 * Issue 9, "Tests that must exist": endpoint down -> the run exits 2 with the cause in the message ->
 * endpoint up -> a rerun into the same output writes exactly the documents a clean run writes, and
 * `gemflow stats` shows no stale dead letters. Nothing here depends on how long anything takes.
 */
describe('endpoint outage, then rerun', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  // (a) the model is not named: the run must ask the endpoint's /v1/models at start, and stops there;
  // (b) the model is named: the run starts, and every document's LLM calls meet the refused connection.
  it.each([
    ['discovery at start', undefined, {}],
    ['documents in flight', 'gemflow-sim-32b', { noReplicaWaitMs: 3000, documentRetryBaseMs: 200 }],
  ] as const)('loses no document to an outage (%s): exit 2 naming connection refused, then the rerun writes what a clean run writes', async (_name, model, llm) => {
    const dir = await tempDir('outage-rerun');
    const pipeline = (name: string, url: string, out: string) =>
      writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, llm: { endpoints: [model ? { url, model } : { url }], ...llm }, sink: { dir: out } }, `${name}.yaml`);

    // The reference: a clean run against a simulator that is up.
    const ref = await startSimulator({ timeScale: 0.002 });
    sims.push(ref);
    const refOut = join(dir, 'ref');
    const clean = await runCli(['run', await pipeline('ref', ref.url, refOut), '--quiet']);
    expect(clean.code, clean.stderr).toBe(0);
    const expected = await docIds(refOut);
    expect(expected.size).toBeGreaterThan(10);

    // The endpoint is down (connection refused): the run stops with exit 2 and says why.
    const port = await closedPort();
    const out = join(dir, 'out');
    const cfg = await pipeline('outage', `http://127.0.0.1:${port}`, out);
    const down = await runCli(['run', cfg, '--quiet']);
    expect(down.code, down.stderr).toBe(2);
    const stopLine = down.stderr.split('\n').filter((l) => l.startsWith('gemflow: ')).join('\n');
    expect(stopLine).toMatch(/connection refused|ECONNREFUSED/i);
    expect(await deadLetters(out)).toEqual([]); // an outage is never the documents' fault
    expect(await docIds(out)).toEqual(new Set());
    if (model) {
      // The run read the corpus: what needed the LLM was abandoned uncommitted, nothing dead-lettered.
      const during = await readManifest(out);
      expect(during.funnel.balanced).toBe(true);
      expect(during.funnel.documents.written).toBe(0);
      expect(sum(during.funnel.documents.deadLettered)).toBe(0);
      expect(during.funnel.documents.abandoned).toBeGreaterThanOrEqual(expected.size);
    }

    // The endpoint comes back on the same address: the same pipeline, rerun into the same output.
    const back = await startSimulator({ timeScale: 0.002, port });
    sims.push(back);
    const rerun = await runCli(['run', cfg, '--quiet']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await docIds(out)).toEqual(expected);
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(sum(m.funnel.documents.deadLettered)).toBe(0);
    expect(await deadLetters(out)).toEqual([]);

    // `gemflow stats` reports the output as it now is: no dead letters left over from the outage.
    const stats = await runCli(['stats', out]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/dead-lettered 0\b/);
    expect(stats.stdout).toMatch(/dead letters(: none| 0)\b/);
    expect(stats.stdout).toContain(`documents ${expected.size},`);
  });
});
