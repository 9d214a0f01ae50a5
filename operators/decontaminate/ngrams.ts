/**
 * Text normalisation and n-gram hashing for decontamination. Normalised text = NFKC, lower case,
 * words = maximal runs of Unicode letters and digits (everything else separates words). A word is
 * hashed twice (two 32-bit FNV-1a lanes); an n-gram's key is a polynomial rolling hash of its word
 * hashes in each lane, combined into one 53-bit integer (exact in a JS number), so a lookup is one Map
 * probe and a text is hashed in one pass over its characters (no word strings are made).
 */

const B1 = 0x01000193;
const B2 = 0x5bd1e995;

/** The words of a text: their two hashes and where each starts (UTF-16 index into the text hashed). */
export interface Words {
  /** The text the offsets index (NFKC and lower-cased when it was not ASCII). */
  text: string;
  n: number;
  h1: Uint32Array;
  h2: Uint32Array;
  start: Uint32Array;
  end: Uint32Array;
}

let cap = 1024;
let H1 = new Uint32Array(cap);
let H2 = new Uint32Array(cap);
let S = new Uint32Array(cap);
let E = new Uint32Array(cap);

const WORD_CHAR = /[\p{L}\p{N}\p{M}]/u;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * Splits and hashes a text's words. The arrays returned are reused by the next call (copy what must
 * outlive it).
 */
export function hashWords(raw: string): Words {
  const text = NON_ASCII.test(raw) ? raw.normalize('NFKC').toLowerCase() : raw;
  let n = 0;
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  let inWord = false;
  let start = 0;
  const len = text.length;
  for (let i = 0; i <= len; i++) {
    let c = i < len ? text.charCodeAt(i) : 32;
    let word: boolean;
    if (c < 128) {
      if (c >= 65 && c <= 90) c |= 32;
      word = (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      word = inWord; // the low half of a pair: classified with its high half
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      word = WORD_CHAR.test(text.slice(i, i + 2));
    } else word = WORD_CHAR.test(text[i]!);
    if (word) {
      if (!inWord) {
        inWord = true;
        start = i;
        h1 = 0x811c9dc5;
        h2 = 0x9747b28c;
      }
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
    } else if (inWord) {
      inWord = false;
      if (n === cap) grow();
      H1[n] = h1 >>> 0;
      H2[n] = h2 >>> 0;
      S[n] = start;
      E[n] = i;
      n++;
    }
  }
  return { text, n, h1: H1, h2: H2, start: S, end: E };
}

function grow(): void {
  cap *= 2;
  const g = (a: Uint32Array) => {
    const b = new Uint32Array(cap);
    b.set(a);
    return b;
  };
  H1 = g(H1);
  H2 = g(H2);
  S = g(S);
  E = g(E);
}

/** Combines two 32-bit lane hashes into one 53-bit integer key. */
const key = (k1: number, k2: number) => (k1 >>> 0) * 2097152 + ((k2 >>> 0) >>> 11);

/** Words (32-bit) of an n-gram filter: one bit per value of a key's low 21 bits (see NgramFilter). */
const FILTER_WORDS = 1 << 16;

/**
 * A set of n-gram keys, approximately: one bit per value of a key's low 21 bits, set for every key
 * added. A clear bit means the key is certainly absent, so a lookup skips the Map probe (and the key,
 * a 53-bit heap number, is never made) for most n-grams of a text that is not contaminated.
 */
export class NgramFilter {
  readonly bits = new Uint32Array(FILTER_WORDS);

  add(key: number): void {
    const b = key % 2097152;
    this.bits[b >>> 5]! |= 1 << (b & 31);
  }
}

/**
 * Calls `fn(key, firstWord)` for every n-gram of the words (none when there are fewer than n words),
 * or with `filter`, for those whose key may be in it (every key added to it, and a few others).
 * Rolling: each step multiplies by the base, adds the new word and removes the word that left.
 */
export function forEachNgram(w: Words, n: number, fn: (key: number, at: number) => boolean | void, filter?: NgramFilter): void {
  if (w.n < n) return;
  let p1 = 1;
  let p2 = 1;
  for (let i = 0; i < n; i++) {
    p1 = Math.imul(p1, B1);
    p2 = Math.imul(p2, B2);
  }
  const bits = filter?.bits;
  let k1 = 0;
  let k2 = 0;
  for (let i = 0; i < w.n; i++) {
    k1 = (Math.imul(k1, B1) + w.h1[i]!) | 0;
    k2 = (Math.imul(k2, B2) + w.h2[i]!) | 0;
    if (i >= n) {
      k1 = (k1 - Math.imul(w.h1[i - n]!, p1)) | 0;
      k2 = (k2 - Math.imul(w.h2[i - n]!, p2)) | 0;
    }
    if (i < n - 1) continue;
    if (bits !== undefined) {
      // The key's low 21 bits (see key()).
      const b = k2 >>> 11;
      if ((bits[b >>> 5]! & (1 << (b & 31))) === 0) continue;
    }
    if (fn(key(k1, k2), i - n + 1) === true) return;
  }
}

/** One key for a whole (short) text: its words' polynomial hash, with the word count mixed in. */
export function wholeKey(w: Words): number {
  let k1 = w.n;
  let k2 = w.n ^ 0x2545f491;
  for (let i = 0; i < w.n; i++) {
    k1 = (Math.imul(k1, B1) + w.h1[i]!) | 0;
    k2 = (Math.imul(k2, B2) + w.h2[i]!) | 0;
  }
  return key(k1, k2);
}
