import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateTrajectory } from '../../operators/validate/index.js';
import { checkChatRow, fromChatRecord } from '../sinks/chat-format-check.js';
import { OUTPUT_COLUMNS } from '../../src/sinks/output-columns.js';
import { writeBadInputCorpus } from '../fixtures/bad-input.js';
import { CORPUS, deadLetters, readManifest, stepBooksProblems, readRows, runCli, sum, tempDir, writePipeline } from './harness.js';

/** End to end over files with the bundled simulator: the CLI as a user runs it, shards read back by DuckDB. */
describe('gemflow run over files (bundled simulator)', () => {
  it('writes valid, balanced, DuckDB-readable shards from the sample corpus and the bad-input corpus', async () => {
    const dir = await tempDir('e2e');
    await mkdir(join(dir, 'bad'));
    const bad = await writeBadInputCorpus(join(dir, 'bad'));
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS, ...bad.paths] },
      relevance: { threshold: 0.35, threads: 1 },
      stages: { judge: { enabled: true } },
      sink: { dir: out, maxRows: 7 },
    });
    const run = await runCli(['run', cfg, '--quiet']);
    expect(run.stderr).toContain('SIMULATOR');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('books balance');

    const corpusDocs = (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean).length;
    const m = await readManifest(out);
    const d = m.funnel.documents;
    expect(m.simulated).toBe(true);
    expect(m.funnel.balanced).toBe(true);
    expect(stepBooksProblems(m)).toEqual([]);
    expect(Object.keys(m.stages)).toEqual(expect.arrayContaining(['relevance', 'dedupe', 'validate', 'stats']));
    expect(d.received).toBe(corpusDocs + bad.goodIds.length + sum(bad.expectedBad));
    expect(d.written + sum(d.dropped) + sum(d.rejected) + sum(d.deadLettered)).toBe(d.received);
    expect(d.written).toBeGreaterThan(10);
    expect(d.dropped.irrelevant).toBeGreaterThan(10); // the non-procedural texts
    expect(d.dropped.duplicate).toBe(1); // git-feature-branch-copy
    expect(d.dropped.near_duplicate).toBe(1); // bank-international-transfer-mirror

    // Every bad record is in the dead letters with its code, and nothing else is.
    const dl = await deadLetters(out);
    const byCode: Record<string, number> = {};
    for (const l of dl) byCode[l.code] = (byCode[l.code] ?? 0) + 1;
    expect(byCode).toEqual(bad.expectedBad);
    expect(d.deadLettered).toEqual(bad.expectedBad);

    // DuckDB reads every shard, with the columns and row counts the manifest promises.
    const { rows, perShard, columns } = await readRows(out);
    expect(perShard.size).toBe(m.shards.length);
    expect(perShard.size).toBeGreaterThan(1); // maxRows 7 rolls shards
    for (const s of m.shards) expect(perShard.get(s.path)).toBe(s.rows);
    expect([...columns.keys()]).toEqual(OUTPUT_COLUMNS.map((c) => c.name));
    expect(rows.length).toBe(m.funnel.trajectories.written);
    expect(new Set(rows.map((r) => r.trajectory_id)).size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.document_id)).size).toBe(d.written);

    // Every written row is a chat-format record that, read back into a trajectory, passes validate, and
    // carries its prompt versions and stats.
    for (const r of rows) {
      const t = { ...fromChatRecord(checkChatRow(r as { messages: unknown; tools: unknown })), patterns: JSON.parse(String(r.patterns)) };
      expect(validateTrajectory(t)).toEqual([]);
      expect(Object.keys(JSON.parse(String(r.prompt_versions))).sort()).toEqual(['extract', 'ground', 'judge', 'refine']);
      expect(Number(r.n_messages)).toBe(t.messages.length);
      expect(Number(r.tool_calls)).toBeGreaterThan(0);
    }
  });

  it('accounts for every document with 20% simulator faults, retrying the failed calls', async () => {
    const dir = await tempDir('faults');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { timeoutMs: 1500, maxRetries: 6, retryBaseMs: 20, maxErrorRate: 0.9, simulator: { faultRate: 0.2, timeScale: 0.01 } },
      sink: { dir: out },
    });
    const run = await runCli(['run', cfg, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const m = await readManifest(out);
    const d = m.funnel.documents;
    expect(m.funnel.balanced).toBe(true);
    expect(stepBooksProblems(m)).toEqual([]);
    expect(Object.keys(m.stages)).toEqual(expect.arrayContaining(['relevance', 'dedupe', 'validate', 'stats']));
    expect(d.written + sum(d.dropped) + sum(d.rejected) + sum(d.deadLettered)).toBe(d.received);
    // Faults happened and were retried: failed attempts are counted, and the work still got written.
    const failedAttempts = sum(Object.fromEntries(Object.entries(m.tokens).map(([k, u]) => [k, sum(u.errors)])));
    expect(failedAttempts).toBeGreaterThan(5);
    expect(d.written).toBeGreaterThan(15);
    const { rows } = await readRows(out);
    expect(rows.length).toBe(m.funnel.trajectories.written);
  });
});
