import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS, readManifest, readRows, runCli, tempDir, writePipeline } from './harness.js';

/** A document far beyond the model's context is processed in windows, and nothing is sent beyond it. */
describe('a 2 MB procedural document against a 32k-token model', () => {
  it('is windowed: every request fits, the document is written once, the books balance', async () => {
    const docs = (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; text: string });
    const procedural = ['admin-console-users', 'deploy-rollback', 'tax-amend-return', 'hotel-modify-reservation', 'database-backup-restore'];
    const parts: string[] = [];
    for (let i = 0; parts.join('\n\n').length < 2_000_000; i++) {
      const d = docs.find((x) => x.id === procedural[i % procedural.length])!;
      parts.push(`Part ${i + 1}.\n\n${d.text}`);
    }
    const text = parts.join('\n\n');
    expect(text.length).toBeGreaterThanOrEqual(2_000_000);
    const dir = await tempDir('long-doc');
    const input = join(dir, 'long.jsonl');
    await writeFile(input, JSON.stringify({ id: 'manual', text }) + '\n');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [input] },
      relevance: { threads: 0 },
      llm: { simulate: true, simulator: { maxModelLen: 32768, timeScale: 0.002 } },
      sink: { dir: out },
    });
    const run = await runCli(['run', cfg, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const m = (await readManifest(out)) as unknown as {
      funnel: { balanced: boolean; documents: { written: number } };
      tokens: Record<string, { calls: number; errors: Record<string, number> }>;
    };
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.written).toBe(1);
    // Many extract calls (one per window), and not one refused by the server or held back as too long.
    expect(m.tokens.extract!.calls).toBeGreaterThan(20);
    for (const [stage, u] of Object.entries(m.tokens)) expect(u.errors, stage).toEqual({});
    const { rows } = await readRows(out);
    expect(rows.length).toBe(3);
    expect(new Set(rows.map((r) => r.document_id))).toEqual(new Set(['manual']));
  });
});
