import { describe, expect, it } from 'vitest';
import { DocDedupe, type DedupeStore } from '../../../operators/dedupe/doc-dedupe.js';
import { changeWords, words } from './text-gen.js';

/** A Map-backed store, standing in for the project's KvStore. */
function mapStore(): DedupeStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, get: (k) => map.get(k), put: (k, v) => void map.set(k, v) };
}

const doc = words(300, 11);
const text = doc.join(' ');

describe('DocDedupe', () => {
  it('flags exact duplicates after normalization', () => {
    const d = new DocDedupe();
    expect(d.check('a', 'Hello, World!\n\nHow  are you?')).toEqual({ duplicate: false });
    expect(d.check('b', 'hello world how are YOU')).toEqual({ duplicate: true, of: 'a', kind: 'exact', similarity: 1 });
    expect(d.check('c', 'hello world how are you too')).toEqual({ duplicate: false });
  });

  it('flags a near duplicate with a few words changed', () => {
    const d = new DocDedupe();
    expect(d.check('a', text).duplicate).toBe(false);
    const r = d.check('b', changeWords(doc, [20, 140, 260]).join(' '));
    expect(r).toMatchObject({ duplicate: true, of: 'a', kind: 'near' });
    expect(r.duplicate && r.similarity).toBeGreaterThanOrEqual(0.85);
    expect(r.duplicate && r.similarity).toBeLessThan(1);
  });

  it('does not flag different documents, nor near duplicates when disabled', () => {
    const d = new DocDedupe();
    for (let seed = 20; seed < 30; seed++) expect(d.check(`doc${seed}`, words(300, seed).join(' ')).duplicate).toBe(false);
    const exactOnly = new DocDedupe({ nearDuplicate: false });
    exactOnly.check('a', text);
    expect(exactOnly.check('b', changeWords(doc, [20]).join(' ')).duplicate).toBe(false);
  });

  it('honours the threshold', () => {
    const strict = new DocDedupe({ threshold: 0.99 });
    strict.check('a', text);
    expect(strict.check('b', changeWords(doc, [20, 140, 260]).join(' ')).duplicate).toBe(false);
  });

  it('does not flag a re-check of the same doc id', () => {
    const d = new DocDedupe();
    expect(d.check('a', text).duplicate).toBe(false);
    expect(d.check('a', text).duplicate).toBe(false);
    expect(d.check('b', text)).toMatchObject({ duplicate: true, of: 'a' });
  });

  it('persists the exact and near-duplicate indexes through the store across restarts', () => {
    const store = mapStore();
    new DocDedupe({ store }).check('a', text);
    const exactKeys = [...store.map.keys()].filter((k) => k.startsWith('exact:'));
    expect(exactKeys.map((k) => store.map.get(k))).toEqual(['a']);
    const size = store.map.size;

    const restarted = new DocDedupe({ store });
    expect(restarted.check('a', text).duplicate).toBe(false); // the replay of the original
    expect(restarted.check('b', text)).toEqual({ duplicate: true, of: 'a', kind: 'exact', similarity: 1 });
    const near = restarted.check('c', text.replace(/\b(\w+)\b/, 'changed'));
    expect(near).toMatchObject({ duplicate: true, of: 'a', kind: 'near' });
    expect(store.map.size).toBe(size); // duplicates add nothing
  });

  it('rejects bad options', () => {
    expect(() => new DocDedupe({ threshold: 2 })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
    expect(() => new DocDedupe({ bands: 7 })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
  });
});

describe('DocDedupe normalization beyond ASCII', () => {
  it('treats case and punctuation of non-ASCII text alike, and keeps distinct letters distinct', () => {
    const d = new DocDedupe({ nearDuplicate: false });
    expect(d.check('a', 'Crème Brûlée — «très» bien!').duplicate).toBe(false);
    expect(d.check('b', 'crème brûlée très bien')).toMatchObject({ duplicate: true, of: 'a', kind: 'exact' });
    expect(d.check('c', 'creme brulee tres bien').duplicate).toBe(false);
  });
});
