import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { textSection } from '../../operators/extract/safe-section.js';
import { readSection } from '../../src/llm/prompt-sections.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { readManifest as readRunsManifest } from '../../src/sinks/manifest.js';
import { CORPUS, readManifest, readRows, readWithPython, runCli, shardFiles, startCli, tempDir, writePipeline } from './harness.js';

/** The document hash the simulator reports for repeated calls: sha256 prefix of the document section as sent. */
function docHash(text: string): string {
  const sent = readSection(textSection('document', text), 'document')!;
  return createHash('sha256').update(sent).digest('hex').slice(0, 16);
}

describe('kill -9 half way, run again', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('writes every document once and repeats no LLM call for work already written', async () => {
    const corpus = new Map<string, string>();
    for (const l of (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean)) {
      const d = JSON.parse(l) as { id: string; text: string };
      corpus.set(d.id, d.text);
    }

    // Reference: one uninterrupted run.
    const refDir = await tempDir('ref');
    const refCfg = await writePipeline(refDir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, sink: { dir: join(refDir, 'out') } });
    expect((await runCli(['run', refCfg, '--quiet'])).code).toBe(0);
    const expected = new Set((await readRows(join(refDir, 'out'))).rows.map((r) => String(r.document_id)));
    expect(expected.size).toBeGreaterThan(10);

    // A slow external simulator, so the run is still going when it is killed; it counts calls across both runs.
    const sim = await startSimulator({ timeScale: 0.05 });
    sims.push(sim);
    const dir = await tempDir('crash');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 2 },
      sink: { dir: out, maxRows: 2 },
    });
    const first = startCli(['run', cfg, '--quiet']);
    // Kill once a few shards are durable (and before the run can finish).
    for (let i = 0; i < 600 && (await shardFiles(out)).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const killedRows = (await readRows(out)).rows;
    const writtenBefore = new Set(killedRows.map((r) => String(r.document_id)));
    expect(writtenBefore.size).toBeGreaterThan(0);
    expect(writtenBefore.size).toBeLessThan(expected.size);
    // What a kill -9 leaves is still a dataset: data/ holds only complete shards, each with its index
    // (unfinished writes are in _gemflow/tmp/), and the readers open the directory as it is.
    const data = await readdir(join(out, 'data'));
    expect(data.every((f) => f.endsWith('.parquet'))).toBe(true);
    const indexes = new Set(await readdir(join(out, '_gemflow', 'index')));
    for (const f of data) expect(indexes.has(f.replace(/\.parquet$/, '.docs.json')), f).toBe(true);
    const killedIds = killedRows.map((r) => String(r.trajectory_id)).sort();
    const atKill = await readWithPython(out);
    for (const reader of ['datasets', 'pyarrow', 'duckdb'] as const) expect(atKill[reader].ids, reader).toEqual(killedIds);

    // The restart goes to the same (slow) simulator, so its call counts cover both runs; with more
    // documents in flight it finishes sooner.
    const cfg2 = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: sim.url }], maxDocsInFlight: 64 },
      sink: { dir: out, maxRows: 2 },
    }, 'restart.yaml');
    const second = await runCli(['run', cfg2, '--quiet']);
    expect(second.code, second.stderr).toBe(0);

    const { rows } = await readRows(out);
    const ids = rows.map((r) => String(r.trajectory_id));
    expect(new Set(ids).size).toBe(ids.length); // no trajectory written twice
    expect(new Set(rows.map((r) => String(r.document_id)))).toEqual(expected); // and none lost
    // The readers a trainer uses see the same: every row once.
    const seen = await readWithPython(out);
    for (const reader of ['datasets', 'pyarrow', 'duckdb'] as const) expect(seen[reader].ids, reader).toEqual([...ids].sort());

    // The books: the killed run has a record (completed from its checkpoint by the second run) counting
    // what it had committed; the second run counts what it read again. Together they count every
    // document once, as the uninterrupted run did; documents the killed run had written but not
    // committed are counted by the second run as dropped already_written.
    const ref = (await readManifest(join(refDir, 'out'))).funnel.documents;
    const merged = (await readRunsManifest(out))!;
    expect(merged.runs!.map((r) => r.fatal?.code ?? 'ok')).toEqual(['interrupted', 'ok']);
    expect(merged.runs![0]!.provisional).toBe(true);
    expect(merged.runs![0]!.funnel.documents.received).toBeGreaterThan(0);
    expect(merged.runs![0]!.funnel.balanced).toBe(true);
    const d = merged.funnel.documents;
    const { already_written: alreadyWritten = 0, ...dropped } = d.dropped;
    expect({ received: d.received, written: d.written + alreadyWritten, dropped, rejected: d.rejected, deadLettered: d.deadLettered }).toEqual({
      received: ref.received,
      written: ref.written,
      dropped: ref.dropped,
      rejected: ref.rejected,
      deadLettered: ref.deadLettered,
    });

    // Calls answered more than once belong only to documents that were not yet written when killed.
    const repeatedDocs = new Set(sim.stats().calls.answeredRepeatedDocs);
    for (const id of writtenBefore) expect(repeatedDocs.has(docHash(corpus.get(id)!)), id).toBe(false);
  });
});
