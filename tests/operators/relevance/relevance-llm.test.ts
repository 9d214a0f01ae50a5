import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ROOT, readManifest, runCli, tempDir, writePipeline } from '../../e2e/harness.js';

interface EvalRow {
  id: string;
  text: string;
  label: 0 | 1;
  split: 'train' | 'heldout';
  source: string;
}

interface EvalReport {
  n: number;
  positives: number;
  rocAuc: number;
  recall: number;
  precision: number;
}

/**
 * The relevance-llm step against the bundled simulator, over the whole evaluation set (2,628 documents
 * of 60+ sources): every verdict is appended to <stateDir>/relevance-labels.jsonl, and a CPU classifier
 * trained on the verdicts for the train-split documents reproduces the verdicts on the held-out split,
 * whose sources (other manuals, recipes, scripture, satire, other languages) it never saw.
 *
 * What the LLM's labels are: the simulator says "relevant" when the text holds a run of >= 3 list items,
 * at least half of them starting with an English imperative verb from its lexicon, or >= 3 imperative
 * sentences (src/simulator/content/text-analysis.ts). That is a rule over parsed lines, counts and a word
 * list, not the classifier's hashed n-grams, and a concept of its own: it agrees with the evaluation
 * set's rule labels on only ~59% of the documents (it says no to Chinese recipes, yes to changelog
 * bullets such as "- Update ..."). So a distilled classifier that ranks the LLM's verdicts far better than
 * (a) the shipped model, trained on the evaluation set's own labels, and (b) the hand-weighted scorer,
 * whose list and imperative features are closest to the simulator's rule, has learned the LLM's labels.
 * Measured (README, Relevance): distilled ROC-AUC 0.904, recall 0.956 at its threshold; hand weights
 * 0.827; shipped model 0.631.
 */
describe('relevance-llm step', () => {
  it('records its verdicts as labels, and a classifier trained on them reproduces them on held-out sources', { timeout: 300_000 }, async () => {
    const dir = await tempDir('relv-llm');
    const rows = gunzipSync(await readFile(join(ROOT, 'data/relevance/eval-set.jsonl.gz')))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EvalRow);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const corpus = join(dir, 'corpus.jsonl');
    await writeFile(corpus, rows.map((r) => JSON.stringify({ id: r.id, text: r.text })).join('\n') + '\n');
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
      // The simulator's clock 10x the default's: its verdicts do not depend on time, and the run is then
      // bound by CPU, not by simulated generation (27 s -> 21 s for this test, one run each).
      llm: { simulator: { timeScale: 0.002 } },
    });
    const run = await runCli(['run', cfg, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const m = await readManifest(out);
    expect(m.funnel.documents.received).toBe(rows.length);

    // Every document's verdict is recorded, once, with its text hash.
    const labels = (await readFile(join(out, '.gemflow', 'relevance-labels.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(labels).toHaveLength(rows.length);
    expect(new Set(labels.map((l) => l.id)).size).toBe(rows.length);
    for (const l of labels) {
      expect(l).toMatchObject({ id: expect.any(String), textHash: expect.stringMatching(/^[0-9a-f]{64}$/), score: expect.any(Number), relevant: l.score >= 0.5, step: 'relevance_llm', promptVersion: 'relevance-llm.v1' });
    }
    const relevant = labels.filter((l) => l.relevant).length;
    expect(m.funnel.documents.dropped.irrelevant_llm).toBe(rows.length - relevant);
    // The LLM's labels are not the evaluation set's: otherwise distilling them would only retrain the shipped model.
    const sameAsRule = labels.filter((l) => Number(l.relevant) === byId.get(l.id)!.label).length;
    expect(sameAsRule / rows.length).toBeLessThan(0.75);

    // Distil: train on the verdicts for the train split's sources (joined to their texts by hash), measure
    // agreement with the verdicts on the held-out split's sources.
    const part = (split: string) => labels.filter((l) => byId.get(l.id)!.split === split).map((l) => JSON.stringify({ ...l, source: byId.get(l.id)!.source })).join('\n') + '\n';
    const train = join(dir, 'train.jsonl');
    const held = join(dir, 'held.jsonl');
    await writeFile(train, part('train'));
    await writeFile(held, part('heldout'));
    const model = join(dir, 'distilled.json');
    const t = await runCli(['relevance', 'train', '--labels', train, '--texts', corpus, '--out', model]);
    expect(t.code, t.stderr).toBe(0);
    const evalOf = async (spec: string): Promise<EvalReport> => {
      const ev = await runCli(['relevance', 'eval', '--labels', held, '--texts', corpus, '--model', spec, '--json']);
      expect(ev.code, ev.stderr).toBe(0);
      return JSON.parse(ev.stdout) as EvalReport;
    };
    const distilled = await evalOf(model);
    const hand = await evalOf('hand');
    const shipped = await evalOf('default');
    const heldCount = rows.filter((r) => r.split === 'heldout').length;
    expect(distilled.n).toBe(heldCount);
    expect(distilled.positives).toBeGreaterThanOrEqual(100);
    // Agreement with the LLM on sources the classifier never saw: it ranks the LLM's verdicts alike
    // (ROC-AUC >= 0.88; 0.904 measured), keeps >= 90% of what the LLM keeps at its recall-first threshold
    // (0.956 measured), and does so far better than scorers that never saw the LLM's labels.
    expect(distilled.rocAuc).toBeGreaterThanOrEqual(0.88);
    expect(distilled.recall).toBeGreaterThanOrEqual(0.9);
    expect(distilled.rocAuc).toBeGreaterThanOrEqual(hand.rocAuc + 0.05);
    expect(distilled.rocAuc).toBeGreaterThanOrEqual(shipped.rocAuc + 0.2);
  });
});
