import { describe, expect, it } from 'vitest';
import { DocDedupe } from '../../../operators/dedupe/doc-dedupe.js';
import { kvTables, SyncFingerprintIndex } from '../../../src/store/sqlite-state.js';
import { changeWords, words } from './text-gen.js';

/** A Map-backed index, standing in for the run's state store. */
function mapIndex(): { map: Map<string, string>; index: SyncFingerprintIndex } {
  const map = new Map<string, string>();
  return { map, index: new SyncFingerprintIndex(kvTables({ get: (k) => map.get(k), put: (k, v) => void map.set(k, v) }), { threshold: 0.85 }) };
}

const doc = words(300, 11);
const text = doc.join(' ');

describe('DocDedupe', () => {
  it('flags exact duplicates after normalization', async () => {
    const d = new DocDedupe();
    expect(await d.check('a', 'Hello, World!\n\nHow  are you?')).toEqual({ duplicate: false });
    expect(await d.check('b', 'hello world how are YOU')).toEqual({ duplicate: true, of: 'a', kind: 'exact', similarity: 1 });
    expect(await d.check('c', 'hello world how are you too')).toEqual({ duplicate: false });
  });

  it('flags a near duplicate with a few words changed', async () => {
    const d = new DocDedupe();
    expect((await d.check('a', text)).duplicate).toBe(false);
    const r = await d.check('b', changeWords(doc, [20, 140, 260]).join(' '));
    expect(r).toMatchObject({ duplicate: true, of: 'a', kind: 'near' });
    expect(r.duplicate && r.similarity).toBeGreaterThanOrEqual(0.85);
    expect(r.duplicate && r.similarity).toBeLessThan(1);
  });

  it('does not flag different documents, nor near duplicates when disabled', async () => {
    const d = new DocDedupe();
    for (let seed = 20; seed < 30; seed++) expect((await d.check(`doc${seed}`, words(300, seed).join(' '))).duplicate).toBe(false);
    const exactOnly = new DocDedupe({ nearDuplicate: false });
    await exactOnly.check('a', text);
    expect((await exactOnly.check('b', changeWords(doc, [20]).join(' '))).duplicate).toBe(false);
  });

  it('honours the threshold', async () => {
    const strict = new DocDedupe({ threshold: 0.99 });
    await strict.check('a', text);
    expect((await strict.check('b', changeWords(doc, [20, 140, 260]).join(' '))).duplicate).toBe(false);
  });

  it('does not flag a re-check of the same doc id', async () => {
    const d = new DocDedupe();
    expect((await d.check('a', text)).duplicate).toBe(false);
    expect((await d.check('a', text)).duplicate).toBe(false);
    expect(await d.check('b', text)).toMatchObject({ duplicate: true, of: 'a' });
  });

  it('persists the exact and near-duplicate indexes through the store across restarts', async () => {
    const store = mapIndex();
    await new DocDedupe({ index: store.index }).check('a', text);
    const exactKeys = [...store.map.keys()].filter((k) => k.startsWith('exact:'));
    expect(exactKeys.map((k) => store.map.get(k))).toEqual(['a']);
    const size = store.map.size;

    const restarted = new DocDedupe({ index: store.index });
    expect((await restarted.check('a', text)).duplicate).toBe(false); // the replay of the original
    expect(await restarted.check('b', text)).toEqual({ duplicate: true, of: 'a', kind: 'exact', similarity: 1 });
    const near = await restarted.check('c', text.replace(/\b(\w+)\b/, 'changed'));
    expect(near).toMatchObject({ duplicate: true, of: 'a', kind: 'near' });
    expect(store.map.size).toBe(size); // duplicates add nothing
  });

  it('rejects bad options', async () => {
    expect(() => new DocDedupe({ threshold: 2 })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
    expect(() => new DocDedupe({ bands: 7 })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
  });
});

describe('DocDedupe normalization beyond ASCII', () => {
  it('treats case and punctuation of non-ASCII text alike, and keeps distinct letters distinct', async () => {
    const d = new DocDedupe({ nearDuplicate: false });
    expect((await d.check('a', 'Crème Brûlée — «très» bien!')).duplicate).toBe(false);
    expect(await d.check('b', 'crème brûlée très bien')).toMatchObject({ duplicate: true, of: 'a', kind: 'exact' });
    expect((await d.check('c', 'creme brulee tres bien')).duplicate).toBe(false);
  });
});
