import { createHash } from 'node:crypto';
import { GemflowError } from '../../src/errors.js';
import { memoryIndex } from '../../src/store/sqlite-state.js';
import type { Claim, Fingerprint, FingerprintIndex } from '../../src/store/state-store.js';
import { bandKeys, MinHash } from './minhash.js';

export interface DocDedupeOptions {
  /**
   * Where exact claims and MinHash LSH bands live: the step's index in the run's state store (SQLite,
   * or Redis shared by every worker). Default: in memory, built with `threshold`.
   */
  index?: FingerprintIndex;
  /** Also look for near duplicates with MinHash. Default true. */
  nearDuplicate?: boolean;
  /** Estimated Jaccard similarity of 5-word shingles at or above which a doc is a near duplicate. Default 0.85 (the index's, when given). */
  threshold?: number;
  /** LSH bands; must divide the 128 permutations. Default 16. */
  bands?: number;
}

export type DedupeResult = Claim;

/**
 * Document dedupe: exact duplicates after normalization (lower case, punctuation dropped, whitespace
 * collapsed; SHA-256 of the result) and, optionally, MinHash near duplicates.
 *
 * The CPU part (hash, signature, band keys) happens here; the check-and-insert is the index's, one
 * atomic batch per call (src/store/state-store.ts FingerprintIndex): a restarted run, and every other
 * worker sharing the store, recognises copies of documents seen before, and memory stays flat.
 *
 * Replays: the same record read again (same id and same `replayKey`, its source position) is never
 * a duplicate, so a document re-read after a crash is not dropped as a copy of itself; the same id and
 * text at another position (an exact repeat of the record) is a duplicate.
 */
export class DocDedupe {
  private readonly index: FingerprintIndex;
  private readonly minhash: MinHash | undefined;
  private readonly bands: number;
  /** Reused buffer for the normalized text (UTF-8) of texts up to 16 K code units. */
  private readonly buf = new Uint8Array(48 * 1024);

  constructor(options: DocDedupeOptions = {}) {
    const threshold = options.threshold ?? 0.85;
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new GemflowError('invalid_option', `dedupe threshold must be within 0..1, got ${threshold}`);
    }
    this.index = options.index ?? memoryIndex({ threshold });
    this.bands = options.bands ?? 16;
    if (options.nearDuplicate ?? true) {
      this.minhash = new MinHash({ numPerm: 128, shingleSize: 5 });
      if (this.minhash.numPerm % this.bands !== 0) {
        throw new GemflowError('invalid_option', `dedupe bands must divide ${this.minhash.numPerm}, got ${this.bands}`);
      }
    }
  }

  /** What the index needs to know of a document (CPU only, no I/O). */
  fingerprint(docId: string, text: string, replayKey?: string): Fingerprint {
    const owner = replayKey === undefined ? docId : `${docId}\u0000${replayKey}`;
    const f: Fingerprint = { exact: this.exactHash(text), owner, id: docId };
    if (this.minhash !== undefined) {
      f.sig = this.minhash.signature(text);
      f.bands = bandKeys(f.sig, this.bands);
    }
    return f;
  }

  /** Claims a batch of fingerprints in one call to the index (one round trip with Redis). */
  claim(batch: readonly Fingerprint[]): Promise<Claim[]> {
    return this.index.claim(batch);
  }

  /** One document (a batch of one). */
  async check(docId: string, text: string, replayKey?: string): Promise<DedupeResult> {
    return (await this.index.claim([this.fingerprint(docId, text, replayKey)]))[0]!;
  }

  /**
   * SHA-256 (hex) of the normalized text: letters and digits lower-cased, every other run one space,
   * encoded as UTF-8 on the fly (surrogates as 3 bytes each: consistent, which is all a key needs).
   */
  private exactHash(text: string): string {
    const lower = text.toLowerCase();
    const buf = lower.length * 3 <= this.buf.length ? this.buf : new Uint8Array(lower.length * 3);
    let n = 0;
    let pendingSpace = false;
    for (let i = 0; i < lower.length; i++) {
      const c = lower.charCodeAt(i);
      if (!isKept(c)) {
        pendingSpace = true;
        continue;
      }
      if (pendingSpace && n > 0) buf[n++] = 32;
      pendingSpace = false;
      if (c < 0x80) buf[n++] = c;
      else if (c < 0x800) {
        buf[n++] = 0xc0 | (c >> 6);
        buf[n++] = 0x80 | (c & 0x3f);
      } else {
        buf[n++] = 0xe0 | (c >> 12);
        buf[n++] = 0x80 | ((c >> 6) & 0x3f);
        buf[n++] = 0x80 | (c & 0x3f);
      }
    }
    return createHash('sha256').update(buf.subarray(0, n)).digest('hex');
  }
}

/** Letters and digits: ASCII alphanumerics, and code units >= 128 outside punctuation/space blocks. */
function isKept(c: number): boolean {
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
  return c !== 0xa0 && !(c >= 0xa1 && c <= 0xbf) && c !== 0xd7 && c !== 0xf7 && !(c >= 0x2000 && c <= 0x206f) && !(c >= 0x3000 && c <= 0x303f);
}
