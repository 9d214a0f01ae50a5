/** Deterministic test texts for the dedupe tests. */

const VOCAB = (
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec ' +
  'romeo sierra tango uniform victor whiskey xray yankee zulu amber basil cedar dune ember fern grove harbor ' +
  'iris jade kelp lotus maple nectar onyx pearl quartz raven sage thyme umber violet willow yarrow zephyr'
).split(' ');

/** `count` words drawn with a seeded PRNG (mulberry32). */
export function words(count: number, seed: number): string[] {
  let a = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out.push(VOCAB[((t ^ (t >>> 14)) >>> 0) % VOCAB.length]!);
  }
  return out;
}

/** A copy of `ws` with the words at the given positions replaced by "changed<i>". */
export function changeWords(ws: string[], positions: number[]): string[] {
  const copy = [...ws];
  for (const p of positions) copy[p] = `changed${p}`;
  return copy;
}

/** Exact Jaccard similarity of the k-word shingle sets (an independent, naive implementation). */
export function jaccard(x: string[], y: string[], k = 5): number {
  const shingles = (ws: string[]) => new Set(ws.slice(0, ws.length - k + 1).map((_, i) => ws.slice(i, i + k).join(' ')));
  const a = shingles(x);
  const b = shingles(y);
  let inter = 0;
  for (const s of a) if (b.has(s)) inter++;
  return inter / (a.size + b.size - inter);
}
