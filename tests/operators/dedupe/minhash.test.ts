import { describe, expect, it } from 'vitest';
import { bandKeys, EMPTY_SLOT, MinHash } from '../../../operators/dedupe/minhash.js';
import { changeWords, jaccard, words } from './text-gen.js';

describe('MinHash', () => {
  const mh = new MinHash();
  const base = words(400, 1);

  it('gives identical (modulo case, punctuation, spacing) texts similarity 1', () => {
    const a = mh.signature(base.join(' '));
    const b = mh.signature(base.map((w, i) => (i % 7 === 0 ? w.toUpperCase() + ',' : w)).join('  \n'));
    expect(a).toHaveLength(128);
    expect(MinHash.similarity(a, b)).toBe(1);
  });

  it.each([[[10, 200, 390]], [Array.from({ length: 40 }, (_, i) => i * 10)]])(
    'estimates the Jaccard similarity of 5-word shingles within 0.1 (changed positions %#)',
    (positions) => {
      const changed = changeWords(base, positions);
      const truth = jaccard(base, changed);
      const est = MinHash.similarity(mh.signature(base.join(' ')), mh.signature(changed.join(' ')));
      expect(Math.abs(est - truth)).toBeLessThan(0.1);
    },
  );

  it('gives unrelated texts a low similarity', () => {
    const est = MinHash.similarity(mh.signature(base.join(' ')), mh.signature(words(400, 2).join(' ')));
    expect(est).toBeLessThan(0.1);
  });

  it('signs texts shorter than a shingle, and an empty text as all-max', () => {
    const s = mh.signature('Hello world');
    expect(MinHash.similarity(s, mh.signature('hello, WORLD!'))).toBe(1);
    expect(MinHash.similarity(s, mh.signature('hello there'))).toBeLessThan(0.2);
    expect(mh.signature('  ... ').every((v) => v === EMPTY_SLOT)).toBe(true);
  });

  it('only reads maxShingles shingles of a long text', () => {
    const small = new MinHash({ maxShingles: 100 });
    const tailChanged = changeWords(base, [300, 350, 399]);
    expect(MinHash.similarity(small.signature(base.join(' ')), small.signature(tailChanged.join(' ')))).toBe(1);
    expect(MinHash.similarity(mh.signature(base.join(' ')), mh.signature(tailChanged.join(' ')))).toBeLessThan(1);
  });

  it('signs parts exactly as their line-break join: words never span two parts, maxShingles counts across parts', () => {
    const small = new MinHash({ maxShingles: 60 });
    const cuts = [0, 1, 3, 4, 5, 17, 60, 61, 200, 333, 400];
    const parts = cuts.slice(1).map((end, i) => base.slice(cuts[i], end).join(' '));
    const edgy = ['', 'Ünïcode wörds', '', '  trailing  ', 'x', 'a\u00a0b\u3000c', '😀 emoji', ...parts, ''];
    for (const ps of [parts, edgy, ['one two'], [''], [], parts.slice(0, 2)]) {
      for (const m of [mh, small]) expect(m.signatureOfParts(ps)).toEqual(m.signature(ps.join('\n')));
    }
  });

  it('gives the same signatures with the SIMD kernel as with the JavaScript loop', () => {
    const texts = ['', '  ... ', 'Hello world', base.join(' '), changeWords(base, [5, 50, 300]).join('\n'), words(3000, 9).join(' '), 'Ünïcode wörds 😀 and more words here'];
    for (const opts of [{}, { seed: 7 }, { numPerm: 16, shingleSize: 3 }, { numPerm: 256 }, { maxShingles: 50 }, { numPerm: 36 }]) {
      const simd = new MinHash(opts);
      const js = new MinHash({ ...opts, engine: 'js' });
      expect([simd.engine, js.engine]).toEqual([opts.numPerm === 36 ? 'js' : 'simd', 'js']);
      for (const t of texts) expect(simd.signature(t)).toEqual(js.signature(t));
      // Many texts one after another: the kernel's reused memory holds nothing over.
      for (let i = 0; i < 200; i++) {
        const t = words(1 + ((i * 37) % 900), 100 + i).join(' ');
        expect(simd.signature(t)).toEqual(js.signature(t));
      }
    }
  });

  it('rejects a signature length that is not a multiple of 4', () => {
    expect(() => new MinHash({ numPerm: 130 })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
  });

  it('is deterministic per seed and differs across seeds', () => {
    const text = base.join(' ');
    expect(new MinHash({ seed: 3 }).signature(text)).toEqual(new MinHash({ seed: 3 }).signature(text));
    expect(new MinHash({ seed: 4 }).signature(text)).not.toEqual(new MinHash({ seed: 3 }).signature(text));
  });
});

describe('bandKeys', () => {
  const mh = new MinHash();
  it('gives one key per band; near duplicates share some, unrelated texts none', () => {
    const doc = words(300, 1);
    const a = bandKeys(mh.signature(doc.join(' ')), 16);
    expect(a).toHaveLength(16);
    expect(a.every((k, i) => k.startsWith(`${i}:`))).toBe(true);
    const near = bandKeys(mh.signature(changeWords(doc, [5, 150]).join(' ')), 16);
    expect(near.filter((k, i) => k === a[i]).length).toBeGreaterThan(0);
    const other = bandKeys(mh.signature(words(300, 2).join(' ')), 16);
    expect(other.filter((k, i) => k === a[i])).toHaveLength(0);
  });
});
