import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FEATURE_VERSION, MAX_FEATURES, featureIndices } from '../../../operators/relevance/hashed-features.js';
import { defaultModelPath, loadModel, modelScore, parseModel } from '../../../operators/relevance/model.js';
import { RelevancePool } from '../../../operators/relevance/relevance-pool.js';
import { relevanceStep } from '../../../operators/relevance/step.js';
import { CORPUS, ROOT, runCli, tempDir } from '../../e2e/harness.js';

const EVAL_SET = join(ROOT, 'data/relevance/eval-set.jsonl.gz');

function env(dir: string) {
  const closers: Array<() => unknown> = [];
  return {
    env: { id: 'relevance', log: { info() {}, warn() {}, error() {}, debug() {} } as never, stateDir: dir, state: () => ({ get: () => undefined, put() {} }), onClose: (f: () => unknown) => closers.push(f) },
    close: () => Promise.all(closers.map((f) => f())),
  };
}

describe('trained relevance model', () => {
  it('train -> eval -> load: the CLI trains on the train split, evaluates held-out, and the model loads in every worker thread', async () => {
    const dir = await tempDir('relv-model');
    const model = join(dir, 'model.json');
    const train = await runCli(['relevance', 'train', '--labels', EVAL_SET, '--split', 'train', '--out', model, '--threads', '2']);
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout).toMatch(/trained on \d+ documents/);
    const ev = await runCli(['relevance', 'eval', '--labels', EVAL_SET, '--split', 'heldout', '--model', model, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const report = JSON.parse(ev.stdout);
    for (const k of ['precision', 'recall', 'f1', 'rocAuc', 'thresholdForTargetRecall']) expect(typeof report[k]).toBe('number');
    expect(report.rocAuc).toBeGreaterThan(0.9);

    const m = loadModel(model);
    const texts = ['1. Open Settings.\n2. Click Save.\n3. Restart the service.', 'It was a dark and stormy night; the wind howled.', 'インストール手順:\n1. 端末を開きます。\n2. sudo apt install foo を実行します。'];
    const pool = new RelevancePool({ threads: 2, scorer: { kind: 'model', path: model } });
    await pool.start();
    try {
      const [a, b] = await Promise.all([pool.score(texts), pool.score(texts)]);
      expect(a.map((r) => r.score)).toEqual(texts.map((t) => modelScore(m, t)));
      expect(b).toEqual(a);
    } finally {
      await pool.close();
    }
  });

  it('the shipped default model meets the held-out targets and beats the hand weights there', async () => {
    const run = async (model: string) => JSON.parse((await runCli(['relevance', 'eval', '--labels', EVAL_SET, '--split', 'heldout', '--model', model, '--json'])).stdout);
    const trained = await run('default');
    const hand = await run('hand');
    expect(trained.n).toBeGreaterThanOrEqual(500);
    expect(trained.rocAuc).toBeGreaterThanOrEqual(0.95);
    expect(trained.recall).toBeGreaterThanOrEqual(0.95);
    expect(trained.rocAuc).toBeGreaterThan(hand.rocAuc);
    expect(trained.f1).toBeGreaterThan(hand.f1);
    expect(trained.precision).toBeGreaterThanOrEqual(0.9);
  });

  it('on the demo corpus (never trained on), keeps every document with a numbered procedure and drops the prose', async () => {
    const m = loadModel(defaultModelPath());
    const docs = (await readFile(CORPUS, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; text: string });
    // The evaluation set's rule for an ordered list: three lines numbered "1.", "2)" ...
    const numbered = docs.filter((d) => (d.text.match(/^\s*\d{1,2}[.)] +\S/gm) ?? []).length >= 3);
    const prose = docs.filter((d) => /^(news|fiction|poem|essay|review|history|memoir|opinion|sports|science)-/.test(d.id));
    expect(numbered.length).toBeGreaterThanOrEqual(15);
    expect(prose.length).toBeGreaterThanOrEqual(15);
    expect(numbered.filter((d) => modelScore(m, d.text) < m.threshold).map((d) => d.id)).toEqual([]);
    expect(prose.filter((d) => modelScore(m, d.text) >= m.threshold).map((d) => d.id)).toEqual([]);
  });

  it('refuses a corrupt model, a truncated one and one from another feature version, with the reason', async () => {
    const dir = await tempDir('relv-bad');
    const good = JSON.parse(await readFile(defaultModelPath(), 'utf8'));
    const write = async (name: string, body: string) => {
      const p = join(dir, name);
      await writeFile(p, body);
      return p;
    };
    expect(() => loadModel(join(dir, 'missing.json'))).toThrow(/cannot be read/);
    const truncated = await write('truncated.json', JSON.stringify(good).slice(0, 5000));
    expect(() => loadModel(truncated)).toThrow(expect.objectContaining({ code: 'relevance_model_invalid', message: expect.stringMatching(/not valid JSON.*corrupt/) }));
    const flipped = { ...good, weights: (good.weights[100] === 'A' ? 'B' : 'A') + good.weights.slice(1) };
    expect(() => parseModel(flipped, 'flipped.json')).toThrow(/checksum.*corrupt/);
    expect(() => parseModel({ ...good, weights: good.weights.slice(0, 4000) }, 'short.json')).toThrow(/truncated or corrupt/);
    expect(() => parseModel({ ...good, featureVersion: FEATURE_VERSION + 1 }, 'v2.json')).toThrow(/feature version 2; this gemflow computes feature version 1.*Retrain/);
    expect(() => parseModel({ ...good, format: 'something-else' }, 'other.json')).toThrow(/not a gemflow relevance model/);

    // The step refuses it at start, before any document is scored.
    const wrongVersion = await write('v2.json', JSON.stringify({ ...good, featureVersion: 99 }));
    const e = env(dir);
    await expect(relevanceStep.create(relevanceStep.config.parse({ model: wrongVersion, threads: 1 }), e.env)).rejects.toMatchObject({ code: 'relevance_model_invalid' });
    await e.close();
    // The CLI says so too.
    const ev = await runCli(['relevance', 'eval', '--labels', EVAL_SET, '--model', truncated]);
    expect(ev.code).not.toBe(0);
    expect(ev.stderr).toMatch(/relevance model .*truncated\.json: is not valid JSON/);
  });
});

describe('hashed features beyond English', () => {
  const count = (t: string) => featureIndices(t, (1 << 16) - 1, new Int32Array(MAX_FEATURES));
  it.each([
    ['Japanese', '設定を開いて、保存をクリックします。次にサービスを再起動します。'],
    ['Chinese', '打开终端，运行安装命令，然后重新启动服务。'],
    ['Russian', 'Откройте терминал и выполните команду установки.'],
    ['Arabic', 'افتح الإعدادات ثم انقر على زر الحفظ.'],
    ['Hindi', 'सेटिंग्स खोलें और सहेजें पर क्लिक करें।'],
    ['Thai', 'เปิดการตั้งค่าแล้วคลิกบันทึก'],
    ['Korean', '설정을 열고 저장을 클릭하세요.'],
    ['Greek', 'Ανοίξτε τις ρυθμίσεις και πατήστε αποθήκευση.'],
  ])('%s text is segmented, not dropped', (_lang, text) => {
    // Every script yields word (or character) features in proportion to its text: far more than the
    // handful that punctuation and length alone would give.
    expect(count(text)).toBeGreaterThan(8);
    expect(count(text + ' ' + text)).toBeGreaterThan(count(text) * 1.5);
  });

  it('case-folds any script and folds digits of any script', () => {
    const m = loadModel(defaultModelPath());
    expect(modelScore(m, 'ОТКРОЙТЕ ТЕРМИНАЛ')).toBeCloseTo(modelScore(m, 'откройте терминал'), 6);
    expect(modelScore(m, 'step ١٢٣')).toBeCloseTo(modelScore(m, 'step 123'), 6);
  });
});
