import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { CORPUS, readManifest, readRows, runCli, shardFiles, startCli, tempDir, writePipeline } from './harness.js';

/** Output directories across runs: history, concurrent workers, crash leftovers, unreadable input. */
describe('gemflow output across runs', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('a rerun with nothing to do keeps the funnel history and every shard; stats lists them', async () => {
    const dir = await tempDir('out-rerun');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, llm: { simulator: { timeScale: 0.002 } }, sink: { dir: out, maxRows: 5 } });
    const first = await runCli(['run', cfg, '--quiet']);
    expect(first.code, first.stderr).toBe(0);
    const shards = await shardFiles(out);
    expect(shards.length).toBeGreaterThan(1);
    const again = await runCli(['run', cfg, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to do');
    const m = (await readManifest(out)) as Awaited<ReturnType<typeof readManifest>> & { runs: Array<{ funnel: { documents: { received: number } } }> };
    expect(m.runs.map((r) => r.funnel.documents.received)).toEqual([42, 0]);
    expect(m.funnel.documents.received).toBe(42);
    expect(m.funnel.balanced).toBe(true);
    expect(m.shards).toHaveLength(shards.length);
    const stats = await runCli(['stats', out]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toContain('runs 2');
    expect(stats.stdout).toContain('received 42');
    for (const s of shards) expect(stats.stdout).toContain(s.slice(s.lastIndexOf('/') + 1));
    const card = await readFile(join(out, '_gemflow', 'card', 'README.md'), 'utf8');
    expect(card).toContain('Summed over the 2 runs that wrote this output');
    expect(card).toContain('| documents received | 42 |');
  });

  it('two workers finishing into one output directory both end cleanly, and _gemflow/manifest.json holds both runs', async () => {
    const dir = await tempDir('out-two');
    const out = join(dir, 'out');
    const lines = (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean);
    await writeFile(join(dir, 'a.jsonl'), lines.slice(0, 21).join('\n') + '\n');
    await writeFile(join(dir, 'b.jsonl'), lines.slice(21).join('\n') + '\n');
    const cfgs = await Promise.all(
      ['a', 'b'].map((n) =>
        writePipeline(dir, { source: { type: 'files', paths: [join(dir, `${n}.jsonl`)] }, relevance: { threads: 0 }, llm: { simulator: { timeScale: 0.002 } }, sink: { dir: out, maxRows: 5 }, stateDir: join(dir, `state-${n}`) }, `${n}.yaml`),
      ),
    );
    const runs = await Promise.all(cfgs.map((c) => runCli(['run', c, '--quiet'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(await readFile(join(out, '_gemflow', 'manifest.json'), 'utf8')) as { runs: unknown[]; funnel: { documents: { received: number } }; shards: unknown[] };
    expect(m.runs).toHaveLength(2);
    expect(m.funnel.documents.received).toBe(42);
    expect(m.shards).toHaveLength((await shardFiles(out)).length);
    expect((await readdir(out)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('kill -9 mid-run: the next run removes the killed writer\'s temp files', async () => {
    const sim = await startSimulator({ timeScale: 0.05 });
    sims.push(sim);
    const dir = await tempDir('out-kill');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 2 }, sink: { dir: out, maxRows: 3 } });
    const run = startCli(['run', cfg, '--quiet']);
    const tmps = async () => (await readdir(join(out, '_gemflow', 'tmp')).catch(() => [] as string[])).filter((n) => n.endsWith('.tmp'));
    for (let i = 0; i < 600 && (await tmps()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    expect((await tmps()).length).toBeGreaterThan(0);
    const fast = await startSimulator({ timeScale: 0.002 });
    sims.push(fast);
    const cfg2 = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, llm: { endpoints: [{ url: fast.url }] }, sink: { dir: out, maxRows: 3 } }, 'again.yaml');
    const again = await runCli(['run', cfg2, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    // An endpoint that is the simulator (it names itself in /v1/models) marks the outputs simulated too.
    expect(again.stdout).toContain('the endpoint is the gemflow simulator');
    expect((await readManifest(out)).simulated).toBe(true);
    expect(await tmps()).toEqual([]);
    const { rows } = await readRows(out);
    expect(new Set(rows.map((r) => r.trajectory_id)).size).toBe(rows.length);
  });

  it('an input file that cannot be read stops the run with exit 2, naming it; the books balance', async () => {
    const dir = await tempDir('out-unreadable');
    const out = join(dir, 'out');
    const gz = gzipSync(await readFile(CORPUS));
    await writeFile(join(dir, 'cut.jsonl.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS, join(dir, 'cut.jsonl.gz')] }, relevance: { threads: 0 }, llm: { simulator: { timeScale: 0.002 } }, sink: { dir: out } });
    const r = await runCli(['run', cfg, '--quiet']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('cut.jsonl.gz');
    expect(r.stdout).toContain('books balance');
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect((m as unknown as { fatal: { code: string } }).fatal.code).toBe('input_unreadable');
    // The documents read before the unreadable file all finished and are committed (README: "what was read
    // before it stays committed"): none abandoned, and a run over the readable file alone has nothing to do.
    expect(m.funnel.documents.abandoned).toBe(0);
    const cfg2 = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, llm: { simulator: { timeScale: 0.002 } }, sink: { dir: out } }, 'good-only.yaml');
    const again = await runCli(['run', cfg2, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to do');
  });

  it('a manifest that cannot be written (here: a directory in its place) ends the run with exit 2, the books and the cause printed; the shards stay', async () => {
    const dir = await tempDir('out-no-manifest');
    const out = join(dir, 'out');
    await mkdir(join(out, '_gemflow', 'manifest.json', 'blocker'), { recursive: true });
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, llm: { simulator: { timeScale: 0.002 } }, sink: { dir: out } });
    const r = await runCli(['run', cfg, '--quiet']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("the run's manifest and dataset card could not be written");
    expect(r.stdout).toContain('books balance');
    expect((await shardFiles(out)).length).toBeGreaterThan(0);
  });
});
