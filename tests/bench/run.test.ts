import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/report.js';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Smoke test of `npm run bench` at tiny sizes (--quick): the built entry point (as `npm run bench`
 * runs it; `npm test` builds first) writes the three report files with all three strategies.
 * No figure is asserted: speed is what the benchmark measures, not what a test checks.
 */
describe('bench/run --quick', () => {
  it('writes the JSON report, the markdown table and the chart for the three strategies', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gemflow-bench-test-'));
    const child = spawn(process.execPath, [join(ROOT, 'dist/bench/run.js'), '--quick', '--out-dir', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.resume();
    const [code] = await once(child, 'exit');
    expect(code, stderr).toBe(0);

    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['latest.md', 'latest.svg']));
    const jsonFile = files.find((f) => f.endsWith('.json'));
    expect(jsonFile).toBeDefined();

    const report = JSON.parse(await readFile(join(out, jsonFile!), 'utf8')) as BenchReport;
    expect(report.strategies.map((s) => s.strategy)).toEqual(['gemflow', 'batch-barrier', 'fixed-semaphore']);
    for (const s of report.strategies) {
      expect(s.funnel.balanced).toBe(true);
      expect(s.funnel.documents.received).toBe(report.corpus.docs);
      expect(s.funnel.trajectories.written).toBeGreaterThan(0);
      // Every call reached the simulator (cache off), and every one was answered.
      expect(s.server.requests).toBe(s.server.byStatus['200']);
      expect(s.steady).toBeDefined();
      expect(s.samples.length).toBeGreaterThan(1);
    }
    // The same corpus gives the same funnel whatever the scheduling.
    const written = new Set(report.strategies.map((s) => s.funnel.trajectories.written));
    expect(written.size).toBe(1);
    expect(report.strategies[0]!.cpuReplay?.trajectories).toBe(report.strategies[0]!.funnel.trajectories.written);
    expect(report.relevance?.rows.length).toBeGreaterThan(0);

    const md = await readFile(join(out, 'latest.md'), 'utf8');
    for (const name of ['gemflow', 'batch-barrier', 'fixed-semaphore']) expect(md).toMatch(new RegExp(`^\\| ${name} \\|`, 'm'));
    expect(md).toContain('## Targets (issue 4)');

    const svg = await readFile(join(out, 'latest.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)?.length).toBe(3);
  });
});
