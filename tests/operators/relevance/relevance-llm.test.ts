import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CORPUS, ROOT, readManifest, runCli, tempDir, writePipeline } from '../../e2e/harness.js';

/**
 * The relevance-llm step against the bundled simulator: every verdict is appended to
 * <stateDir>/relevance-labels.jsonl, and a CPU classifier trained on those labels (gemflow relevance
 * train --texts) reproduces them on held-out documents: ROC-AUC >= 0.8 against the LLM's verdicts, recall >= 0.75 (README).
 */
describe('relevance-llm step', () => {
  it('records its verdicts as labels, and a classifier trained on them agrees with it on held-out documents', async () => {
    const dir = await tempDir('relv-llm');
    // The demo corpus plus English documents of the evaluation set (procedural manuals and prose).
    const evalRows = gunzipSync(await readFile(join(ROOT, 'data/relevance/eval-set.jsonl.gz')))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; text: string; source: string })
      .filter((r) => /^(apache-howto|installation-guide|postgresql-tutorial|debian-handbook|maint-guide|fortunes-en|jargon|licences|git-release-notes|debian-governance)$/.test(r.source));
    const picked = evalRows;
    const corpus = join(dir, 'corpus.jsonl');
    const demo = (await readFile(CORPUS, 'utf8')).trim();
    await writeFile(corpus, demo + '\n' + picked.map((r) => JSON.stringify({ id: r.id, text: r.text })).join('\n') + '\n');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [corpus] },
      steps: [
        { id: 'relevance_llm', type: 'relevance-llm', threshold: 0.5 },
        { id: 'extract', type: 'extract', maxWorkflows: 1 },
        { id: 'ground', type: 'ground' },
        { id: 'validate', type: 'validate' },
        { id: 'stats', type: 'stats' },
      ],
      sink: { dir: out },
    });
    const run = await runCli(['run', cfg, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const m = await readManifest(out);
    const docs = demo.split('\n').length + picked.length;
    expect(m.funnel.documents.received).toBe(docs);

    const labelsPath = join(out, '.gemflow', 'relevance-labels.jsonl');
    const labels = (await readFile(labelsPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(labels).toHaveLength(docs);
    for (const l of labels) {
      expect(l).toMatchObject({ id: expect.any(String), textHash: expect.stringMatching(/^[0-9a-f]{64}$/), score: expect.any(Number), relevant: l.score >= 0.5, step: 'relevance_llm', promptVersion: 'relevance-llm.v1' });
    }
    const relevant = labels.filter((l) => l.relevant).length;
    expect(relevant).toBeGreaterThan(docs * 0.1);
    expect(relevant).toBeLessThan(docs * 0.8);
    expect(m.funnel.documents.dropped.irrelevant_llm).toBe(docs - relevant);

    // Distil: train on two thirds of the labels (joined to their texts by hash), measure agreement on the rest.
    const train = join(dir, 'train.jsonl');
    const held = join(dir, 'held.jsonl');
    await writeFile(train, labels.filter((l) => parseInt(l.textHash.slice(0, 6), 16) % 3 !== 0).map((l) => JSON.stringify(l)).join('\n') + '\n');
    await writeFile(held, labels.filter((l) => parseInt(l.textHash.slice(0, 6), 16) % 3 === 0).map((l) => JSON.stringify(l)).join('\n') + '\n');
    const model = join(dir, 'distilled.json');
    const t = await runCli(['relevance', 'train', '--labels', train, '--texts', corpus, '--out', model, '--target-recall', '0.85']);
    expect(t.code, t.stderr).toBe(0);
    const ev = await runCli(['relevance', 'eval', '--labels', held, '--texts', corpus, '--model', model, '--threshold', '0.35', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const r = JSON.parse(ev.stdout);
    expect(r.n).toBe(labels.filter((l) => parseInt(l.textHash.slice(0, 6), 16) % 3 === 0).length);
    // Agreement with the LLM's verdicts on documents the classifier never saw: it ranks them alike
    // (ROC-AUC >= 0.8) and, at the recall-first default threshold, keeps >= 75% of what the LLM keeps.
    expect(r.rocAuc).toBeGreaterThanOrEqual(0.8);
    expect(r.recall).toBeGreaterThanOrEqual(0.75);
  });
});
