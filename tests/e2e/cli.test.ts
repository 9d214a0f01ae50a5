import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { CORPUS, readManifest, readRows, runCli, shardFiles, startCli, tempDir, writePipeline } from './harness.js';

describe('gemflow CLI', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('validate reports every config error with its path, and exits 1', async () => {
    const dir = await tempDir('cli');
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'source:\n  type: files\n  paths: []\n  textFeild: x\nsink:\n  maxRows: -1\nllm:\n  endpoints:\n    - url: ${GEMFLOW_TEST_UNSET_VAR}\n');
    const r = await runCli(['validate', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('source.paths');
    expect(r.stderr).toContain('source.textFeild: unknown key');
    expect(r.stderr).toContain('sink.maxRows');
    expect(r.stderr).toContain('GEMFLOW_TEST_UNSET_VAR');

    const good = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] } });
    const ok = await runCli(['validate', good]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('valid');
  });

  it('schema prints the pipeline JSON Schema; help lists the commands; unknown commands exit 1', async () => {
    const r = await runCli(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['source', 'llm', 'stages', 'sink', 'relevance']));
    const help = await runCli(['--help']);
    for (const cmd of ['run', 'validate', 'schema', 'stats', 'produce', 'simulate']) expect(help.stdout).toContain(`gemflow ${cmd}`);
    expect((await runCli(['frobnicate'])).code).toBe(1);
  });

  it('<command> --help prints that command\'s usage on stdout and exits 0 (produce and simulate too)', async () => {
    for (const cmd of ['run', 'validate', 'stats', 'schema', 'produce', 'simulate']) {
      for (const flag of ['--help', '-h']) {
        const r = await runCli([cmd, flag]);
        expect(r.code, `${cmd} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout, `${cmd} ${flag}`).toContain(`gemflow ${cmd}`);
        expect(r.stderr).toBe('');
      }
    }
    expect((await runCli(['produce', '--help'])).stdout).toContain('--topic');
    expect((await runCli(['simulate', '--help'])).stdout).toContain('--fault-rate');
  });

  it('exit codes and messages: a missing pipeline file exits 1; stats of a missing directory exits 2; empty inputs say so', async () => {
    const dir = await tempDir('cli-codes');
    const missing = await runCli(['run', join(dir, 'none.yaml'), '--quiet']);
    expect(missing.code, missing.stderr).toBe(1);
    expect(missing.stderr).toContain('cannot read config file');
    // An extra argument is a usage error, not silently ignored.
    const extra = await runCli(['run', join(dir, 'none.yaml'), 'extra-arg', '--quiet']);
    expect(extra.code).toBe(1);
    expect(extra.stderr).toContain('unexpected extra-arg');
    const stats = await runCli(['stats', join(dir, 'no-output')]);
    expect(stats.code).toBe(2);
    expect(stats.stderr).toContain('is not a directory');
    await writeFile(join(dir, 'empty.jsonl'), '');
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [join(dir, 'empty.jsonl')] }, relevance: { threads: 0 }, llm: { simulator: { timeScale: 0.002 } }, sink: { dir: join(dir, 'out') } });
    const empty = await runCli(['run', cfg, '--quiet']);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain('nothing to do: the input files are empty');
  });

  it('validate and run report an input path that matches no file as an error at source.paths[i], and exit 1', async () => {
    const dir = await tempDir('cli-inputs');
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS, join(dir, 'nope/*.jsonl')] } });
    const r = await runCli(['validate', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('source.paths[1]');
    expect(r.stderr).toContain(join(dir, 'nope/*.jsonl'));
    expect(r.stdout).not.toContain('valid');
    const s3 = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS, 's3://bucket/in'] } }, 's3.yaml');
    const ok = await runCli(['validate', s3]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('s3:// input paths are not checked');
    // run checks the same before it starts anything: exit 1, and no output directory is made.
    const out = join(dir, 'out');
    const run = await runCli(['run', await writePipeline(dir, { source: { type: 'files', paths: [join(dir, 'nope/*.jsonl')] }, sink: { dir: out } }, 'run.yaml'), '--quiet']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain('source.paths[0]');
    expect(existsSync(out)).toBe(false);
  });

  it('validate and run refuse a Kafka pipeline without endpoints unless llm.simulate: true', async () => {
    const dir = await tempDir('cli-sim');
    const kafka = { type: 'kafka', brokers: ['127.0.0.1:1'], topics: ['t'], groupId: 'g' };
    const cfg = await writePipeline(dir, { source: kafka, sink: { dir: join(dir, 'out') } });
    for (const cmd of ['validate', 'run']) {
      const r = await runCli([cmd, cfg, ...(cmd === 'run' ? ['--quiet'] : [])]);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain('llm.endpoints');
      expect(r.stderr).toContain('llm.simulate: true');
    }
    const sim = await writePipeline(dir, { source: kafka, llm: { simulate: true }, sink: { dir: join(dir, 'out') } }, 'sim.yaml');
    const ok = await runCli(['validate', sim]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('simulator');
  });

  it('SIGTERM drains: LLM work in progress finishes, the queue is left uncommitted, exit 143, and a re-run completes the rest once', async () => {
    const sim = await startSimulator({ timeScale: 0.05 });
    sims.push(sim);
    const dir = await tempDir('drain');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 2 },
      sink: { dir: out, maxRows: 2 },
    });
    const run = startCli(['run', cfg]);
    for (let i = 0; i < 600 && (await shardFiles(out)).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGTERM');
    const r = await run.done;
    // The input is not finished: 128 + 15, as a shell reports a process SIGTERM stopped, and the way on.
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain('SIGTERM: draining');
    expect(r.stderr).toMatch(/stopped by SIGTERM: \d+ documents in flight abandoned .*; the input is not finished: run the same command again to resume/);
    expect(r.stdout).toContain('books balance');
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.abandoned).toBeGreaterThan(0); // read but not started: replayed next run
    const before = (await readRows(out)).rows.length;
    expect(before).toBe(m.funnel.trajectories.written);

    // The re-run may use a fast simulator: answers are derived from the input, so they are the same.
    const fast = await startSimulator({ timeScale: 0.002 });
    sims.push(fast);
    const cfg2 = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: fast.url }] },
      sink: { dir: out, maxRows: 2 },
    }, 'rerun.yaml');
    const again = await runCli(['run', cfg2, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    const { rows } = await readRows(out);
    expect(rows.length).toBeGreaterThan(before);
    expect(new Set(rows.map((x) => x.trajectory_id)).size).toBe(rows.length);

    const stats = await runCli(['stats', out]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toContain(`rows ${rows.length}`);
  });

  it('a second SIGTERM abandons the work in flight at once (no grace period wait); the books still balance', async () => {
    const sim = await startSimulator({ timeScale: 0.05 });
    sims.push(sim);
    const dir = await tempDir('twice');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 4 },
      sink: { dir: out, maxRows: 2 },
    });
    // A grace period longer than the test's timeout: only the second signal can end the run in time.
    const run = startCli(['run', cfg], { GEMFLOW_GRACE_MS: '3600000' });
    for (let i = 0; i < 600 && (await shardFiles(out)).length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain('SIGTERM: abandoning in-flight work');
    expect(r.stdout).toContain('books balance');
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.abandoned).toBeGreaterThan(0);
  });
});
