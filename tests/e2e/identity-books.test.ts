import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS, readManifest, readRows, runCli, sum, tempDir, writePipeline } from './harness.js';

interface Doc {
  id: string;
  text: string;
}
const corpus = async (): Promise<Doc[]> => (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Doc);

/** Record identity and honest books, through the CLI as a user runs it (bundled simulator). */
describe('record identity and the books', () => {
  it('keeps records that share an id apart, drops exact repeats, and treats 12345 and "12345" as one id', async () => {
    const docs = await corpus();
    const a = docs.find((d) => d.id === 'admin-console-users')!;
    const b = docs.find((d) => d.id === 'deploy-rollback')!;
    const c = docs.find((d) => d.id === 'tax-amend-return')!;
    const dir = await tempDir('identity');
    const input = join(dir, 'in.jsonl');
    // Lines 0 and 1: one id, two texts (both written, with different trajectory ids).
    // Line 2: an exact repeat of line 0 (dropped as a duplicate).
    // Lines 3 and 4: the id 12345 as a number and as a string, same text (the second is a repeat).
    const lines = [
      { id: 'shared-id', text: a.text },
      { id: 'shared-id', text: b.text },
      { id: 'shared-id', text: a.text },
      { id: 12345, text: c.text },
      { id: '12345', text: c.text },
    ];
    await writeFile(input, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [input] }, relevance: { threads: 0 }, llm: { simulate: true }, sink: { dir: out } });
    const run = await runCli(['run', cfg, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.written).toBe(3);
    expect(m.funnel.documents.dropped).toEqual({ duplicate: 2 });
    const { rows } = await readRows(out);
    expect(new Set(rows.map((r) => r.trajectory_id)).size).toBe(rows.length);
    const shared = rows.filter((r) => r.document_id === 'shared-id');
    expect(new Set(shared.map((r) => r.origin))).toEqual(new Set([`file:${input}:1`, `file:${input}:2`]));
    expect(rows.filter((r) => r.document_id === '12345').every((r) => r.origin === `file:${input}:4`)).toBe(true);

    // A rerun over the same input and output has nothing to do and writes nothing twice.
    const again = await runCli(['run', cfg, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect((await readRows(out)).rows.length).toBe(rows.length);
  });

  it('a document lost inside the runtime unbalances the books: exit 3', async () => {
    const dir = await tempDir('lost');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, llm: { simulate: true }, sink: { dir: out } });
    const run = await runCli(['run', cfg, '--quiet'], { GEMFLOW_TEST_LOSE_DOCUMENTS: 'deploy-rollback' });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toContain('DO NOT BALANCE');
    expect(run.stderr).toContain('does not balance');
    const m = await readManifest(out);
    const d = m.funnel.documents;
    expect(m.funnel.balanced).toBe(false);
    expect(d.abandoned).toBe(0);
    expect(d.received - (d.written + sum(d.dropped) + sum(d.rejected) + sum(d.deadLettered))).toBe(1);
  });
});
