import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/report.js';
import { EVENT_SHARES, type FiredEvent } from '../../bench/scenarios.js';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Smoke test of `npm run bench` at tiny sizes (--quick, three of the scenarios): the built entry
 * point (as `npm run bench` runs it; `npm test` builds first) sweeps, runs every strategy of those
 * scenarios, and writes the JSON report, the markdown tables and one chart per scenario. No figure is
 * asserted: speed is what the benchmark measures, not what a test checks.
 */
describe('bench/run --quick', () => {
  it('writes the report, the sweep, the scenario tables and targets, and a chart per scenario', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gemflow-bench-test-'));
    const scenarios = ['homogeneous', 'lost-replica', 'answer-mix'];
    const child = spawn(process.execPath, [join(ROOT, 'dist/bench/run.js'), '--quick', '--scenarios', scenarios.join(','), '--out-dir', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.resume();
    const [code] = await once(child, 'exit');
    expect(code, stderr).toBe(0);

    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['latest.md', ...scenarios.map((s) => `latest-${s}.svg`)]));
    const report = JSON.parse(await readFile(join(out, files.find((f) => f.endsWith('.json'))!), 'utf8')) as BenchReport;

    // Baselines sized from the capacity model: 2 replicas x ceil(2500 / 40).
    expect(report.clusterConcurrency).toBe(2 * 63);
    expect(report.sweep.length).toBeGreaterThanOrEqual(2);
    expect(report.sweep.map((s) => s.strategy)).toContain(`fixed-${report.bestFixed}`);

    const of = (scenario: string) => report.results.filter((r) => r.scenario === scenario).map((r) => r.strategy);
    expect(of('homogeneous')).toEqual(expect.arrayContaining(['gemflow', 'fixed-capacity', 'batch-barrier', 'unbounded']));
    expect(of('lost-replica')).toEqual(['gemflow', 'fixed-best']);
    expect(of('answer-mix')).toEqual(['gemflow', 'fixed-best']);
    // The homogeneous scenario's fixed baselines are the sweep's runs, not run again.
    const swept = report.sweep.find((s) => s.strategy === `fixed-${report.clusterConcurrency}`)!;
    expect(report.results.find((r) => r.scenario === 'homogeneous' && r.strategy === 'fixed-capacity')!.samples).toEqual(swept.samples);
    for (const r of [...report.sweep, ...report.results]) {
      expect(r.totals.balanced).toBe(true);
      expect(r.fatal).toEqual([]);
      expect(r.totals.trajectories).toBeGreaterThan(0);
      expect(r.steady).toBeDefined();
      expect(r.samples.length).toBeGreaterThan(1);
      expect(r.toldCapacity).toBe(r.kind === 'fixed' || r.kind === 'batch-barrier');
    }
    // Each run but the one replayed for CPU stopped at its window's end: the documents then in their LLM
    // part were abandoned (the books still balance) and placed in the percentiles as ending last.
    const homogeneous = report.results.filter((r) => r.scenario === 'homogeneous');
    const gem = homogeneous.find((r) => r.strategy === 'gemflow')!;
    expect(gem.unfinished).toEqual([]);
    expect(gem.totals.abandoned).toBe(0);
    const others = [...report.sweep, ...report.results].filter((x) => x !== gem);
    // (A run can also end before the stop: the batch barrier's last batch often finishes at once.)
    expect(others.filter((r) => r.unfinished.length > 0).length).toBeGreaterThan(others.length / 2);
    for (const r of others) {
      expect(r.totals.abandoned).toBeGreaterThanOrEqual(r.unfinished.length);
      expect(r.steady!.endSec).toBeGreaterThanOrEqual(Math.max(...r.docs.map((d) => d.startSec), ...r.unfinished.map((d) => d.startSec)) - 1e-6);
    }
    // Every written document has all its trajectories (3 workflows each in this corpus) whatever the
    // scheduling and wherever the run stopped; every request was answered, or cut off by the stop.
    for (const r of homogeneous) {
      expect(r.totals.trajectories).toBe(3 * r.totals.written);
      expect(r.server.requests).toBe(r.server.byStatus['200']! + r.server.abortedGenerations);
    }
    for (const r of homogeneous) expect(r.totals.written + r.totals.abandoned).toBeGreaterThanOrEqual(gem.totals.written);
    for (const r of report.results.filter((x) => x.scenario === 'answer-mix')) expect(r.server.invalidAnswers).toBeGreaterThan(0);
    // The lost replica went down and came back by progress (shares of the expected answers): both
    // events happened, in order, inside the steady window the headline figures use, and the capacity
    // timeline dips and returns at the recorded times.
    for (const r of report.results.filter((x) => x.scenario === 'lost-replica')) {
      expect(r.events.map((e) => e.label)).toEqual(['replica lost', 'replica back']);
      const [lost, back] = r.events as [FiredEvent, FiredEvent];
      expect(lost.answers).toBeGreaterThanOrEqual(EVENT_SHARES.at * r.expectedAnswers);
      expect(back.answers).toBeGreaterThanOrEqual(EVENT_SHARES.back * r.expectedAnswers);
      expect(lost.atSec).toBeLessThan(back.atSec);
      for (const e of r.events) {
        expect(e.atSec, `${r.strategy}: ${e.label}`).toBeGreaterThanOrEqual(r.steady!.startSec);
        expect(e.atSec, `${r.strategy}: ${e.label}`).toBeLessThanOrEqual(r.steady!.endSec);
      }
      expect(r.capacity).toEqual([[0, 5000], [lost.atSec, 2500], [back.atSec, 5000]]);
    }
    expect(gem.cpuReplay?.trajectories).toBe(gem.totals.trajectories);
    // Two warm-up replays listed apart, then three replays, the median reported, every one listed.
    expect(gem.cpuReplay?.warmupExRelevance).toHaveLength(2);
    const replays = gem.cpuReplay?.replaysExRelevance ?? [];
    expect(replays).toHaveLength(3);
    expect([...replays].sort((a, b) => a - b)[1]).toBe(gem.cpuReplay?.cpuMsPerTrajectoryExRelevance);
    expect(report.relevance?.rows.length).toBeGreaterThan(0);

    const md = await readFile(join(out, 'latest.md'), 'utf8');
    expect(md).toContain('### Fixed-concurrency sweep');
    for (const s of scenarios) expect(md).toContain(`### ${s}:`);
    expect(md).toContain('### Targets (issue 12)');
    expect(md).toMatch(/^\| lost-replica \| every event inside every strategy's steady window .*\| \*\*pass\*\* \|$/m);
    expect(md).toMatch(/^- gemflow: steady window \d+-\d+ s of \d+ s; replica lost at \d+ s .*inside the window\.$/m);
    expect(md).toMatch(/^\| gemflow \| no \|/m);

    const svg = await readFile(join(out, 'latest-homogeneous.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)?.length).toBe(of('homogeneous').length);
  }, 600_000);
});
