/**
 * MinHash signatures of word shingles, and an LSH index over them for near-duplicate search.
 *
 * - Words: runs of letters/digits (ASCII lower-cased; any code unit >= 128 counts as a word character
 *   except common punctuation blocks), hashed with FNV-1a while scanning, never allocated.
 * - Shingles: `shingleSize` consecutive words, combined into one 32-bit hash (a text shorter than that
 *   is one shingle). At most `maxShingles` shingles are used (a bounded prefix of huge documents).
 * - Permutations: `numPerm` hash functions h_i(x) = a_i * x + b_i mod 2^32 with random odd a_i, each a
 *   bijection of 32-bit values (x is already well mixed); the signature keeps the minimum of each over
 *   all shingles, comparing as signed 32-bit integers (any fixed order works, and it stays in V8's
 *   fast small-integer arithmetic).
 * - The fraction of equal signature slots estimates the Jaccard similarity of the shingle sets.
 */

import { GemflowError } from '../../src/errors.js';
import { SimdSignature } from './minhash-simd.js';

export interface MinHashOptions {
  /** Signature length (hash functions), a multiple of 4. Default 128. */
  numPerm?: number;
  /** Words per shingle. Default 5. */
  shingleSize?: number;
  /** Shingles considered per text (a prefix). Default 8192. */
  maxShingles?: number;
  /** Seed of the permutation coefficients; signatures are only comparable under the same seed. */
  seed?: number;
  /**
   * `simd` (default): the WebAssembly SIMD kernel of minhash-simd.ts where it runs (numPerm a multiple
   * of 16); `js`: the JavaScript loop. Both give the same signatures.
   */
  engine?: 'simd' | 'js';
}

/** Signature value of a slot no shingle reached (a text without words). */
export const EMPTY_SLOT = 0x7fffffff;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** murmur3's 32-bit finalizer (signed 32-bit result). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function isWordChar(c: number): boolean {
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
  return c !== 0xa0 && !(c >= 0x2000 && c <= 0x206f) && !(c >= 0x3000 && c <= 0x303f);
}

export class MinHash {
  readonly numPerm: number;
  readonly shingleSize: number;
  readonly maxShingles: number;
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  /** Ring of the last `shingleSize` word hashes (reused across calls). */
  private readonly ring: Int32Array;
  /** Shingle hashes of the current text (reused across calls; the SIMD kernel's memory when it runs). */
  private readonly shingleBuf: Int32Array;
  private readonly simd: SimdSignature | undefined;
  /** The engine in use (see MinHashOptions.engine; `js` where SIMD cannot run). */
  readonly engine: 'simd' | 'js';

  constructor(options: MinHashOptions = {}) {
    this.numPerm = options.numPerm ?? 128;
    this.shingleSize = options.shingleSize ?? 5;
    this.maxShingles = options.maxShingles ?? 8192;
    if (this.numPerm <= 0 || this.numPerm % 4 !== 0) {
      throw new GemflowError('invalid_option', `MinHash numPerm must be a positive multiple of 4, got ${this.numPerm}`);
    }
    this.simd = options.engine === 'js' ? undefined : SimdSignature.create(this.numPerm, this.maxShingles);
    this.engine = this.simd ? 'simd' : 'js';
    this.a = this.simd?.a ?? new Int32Array(this.numPerm);
    this.b = this.simd?.b ?? new Int32Array(this.numPerm);
    let state = (options.seed ?? 1) >>> 0;
    const next = (): number => (state = fmix32((state + 0x9e3779b9) >>> 0));
    for (let i = 0; i < this.numPerm; i++) {
      this.a[i] = next() | 1;
      this.b[i] = next();
    }
    this.ring = new Int32Array(this.shingleSize);
    this.shingleBuf = this.simd?.shingles ?? new Int32Array(this.maxShingles);
  }

  /** The MinHash signature of `text` (all EMPTY_SLOT for a text without words). */
  signature(text: string): Int32Array {
    return this.signatureOfParts([text]);
  }

  /**
   * The signature of `parts` joined by a line break (a separator between words), without making the
   * joined text: the same as `signature(parts.join('\n'))`.
   */
  signatureOfParts(parts: readonly string[]): Int32Array {
    const shingles = this.shingles(parts);
    if (this.simd !== undefined) return this.simd.signature(shingles.length);
    const sig = new Int32Array(this.numPerm);
    // Permutation-major, four permutations per pass: their coefficients and running minima stay in
    // registers while the shingle hashes stream by (numPerm is a multiple of 4).
    const { a, b } = this;
    const n = shingles.length;
    for (let p = 0; p < this.numPerm; p += 4) {
      const a0 = a[p]!, a1 = a[p + 1]!, a2 = a[p + 2]!, a3 = a[p + 3]!;
      const b0 = b[p]!, b1 = b[p + 1]!, b2 = b[p + 2]!, b3 = b[p + 3]!;
      let m0 = EMPTY_SLOT, m1 = EMPTY_SLOT, m2 = EMPTY_SLOT, m3 = EMPTY_SLOT;
      for (let s = 0; s < n; s++) {
        const x = shingles[s]!;
        const v0 = (Math.imul(a0, x) + b0) | 0;
        const v1 = (Math.imul(a1, x) + b1) | 0;
        const v2 = (Math.imul(a2, x) + b2) | 0;
        const v3 = (Math.imul(a3, x) + b3) | 0;
        if (v0 < m0) m0 = v0;
        if (v1 < m1) m1 = v1;
        if (v2 < m2) m2 = v2;
        if (v3 < m3) m3 = v3;
      }
      sig[p] = m0;
      sig[p + 1] = m1;
      sig[p + 2] = m2;
      sig[p + 3] = m3;
    }
    return sig;
  }

  /** Estimated Jaccard similarity of the texts behind two signatures. */
  static similarity(x: Int32Array, y: Int32Array): number {
    let equal = 0;
    for (let i = 0; i < x.length; i++) if (x[i] === y[i]) equal++;
    return x.length === 0 ? 0 : equal / x.length;
  }

  /** Hashes of the shingles of the parts' words (a view of a reused buffer, valid until the next call). */
  private shingles(parts: readonly string[]): Int32Array {
    const k = this.shingleSize;
    const out = this.shingleBuf;
    let words = 0;
    let n = 0;
    for (const text of parts) {
      const len = text.length;
      let i = 0;
      while (i < len && n < out.length) {
        let c = text.charCodeAt(i);
        if (!isWordChar(c)) {
          i++;
          continue;
        }
        let h = FNV_OFFSET;
        do {
          h = Math.imul(h ^ (c >= 65 && c <= 90 ? c | 0x20 : c), FNV_PRIME);
          c = ++i < len ? text.charCodeAt(i) : 0;
        } while (i < len && isWordChar(c));
        this.ring[words % k] = h;
        words++;
        if (words >= k) out[n++] = this.shingleHash(words);
      }
    }
    if (words > 0 && words < k) out[n++] = this.shingleHash(words);
    return out.subarray(0, n);
  }

  /** Hash of the last min(words, k) words in the ring, oldest first. */
  private shingleHash(words: number): number {
    const k = this.shingleSize;
    const count = Math.min(words, k);
    let h = 0x2545f491;
    for (let j = words - count; j < words; j++) h = Math.imul(h ^ this.ring[j % k]!, 0x9e3779b1) ^ (h >>> 15);
    return fmix32(h);
  }
}

/**
 * LSH band keys of a signature (`<band>:<hash>`): two signatures become candidates when all rows of one
 * band are equal. With b bands of r rows, a pair of similarity s is found with probability
 * 1 - (1 - s^r)^b (16 x 8: 99.4% at s = 0.85, 6% at s = 0.5). A hash collision only adds a candidate,
 * which the index then verifies against the stored signature (src/store/state-store.ts).
 */
export function bandKeys(sig: Int32Array, bands: number): string[] {
  const rows = sig.length / bands;
  const keys = new Array<string>(bands);
  for (let band = 0; band < bands; band++) {
    let h = FNV_OFFSET ^ band;
    for (let r = band * rows; r < (band + 1) * rows; r++) h = Math.imul(h ^ sig[r]!, FNV_PRIME);
    keys[band] = `${band}:${(h >>> 0).toString(36)}`;
  }
  return keys;
}
