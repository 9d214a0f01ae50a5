import { createHash } from 'node:crypto';
import { GemflowError } from '../../src/errors.js';
import { LshIndex, MinHash } from './minhash.js';

/** Where the exact index lives: the project's KvStore implements it (a Map-backed object will do). */
export interface DedupeStore {
  get(key: string): string | undefined;
  put(key: string, value: string): void;
}

export interface DocDedupeOptions {
  /** Exact and near-duplicate indexes, persisted across restarts (the KvStore). Default: in memory. */
  store?: DedupeStore;
  /** Also look for near duplicates with MinHash. Default true. */
  nearDuplicate?: boolean;
  /** Estimated Jaccard similarity of 5-word shingles at or above which a doc is a near duplicate. Default 0.85. */
  threshold?: number;
  /** LSH bands; must divide the 128 permutations. Default 16. */
  bands?: number;
}

export type DedupeResult =
  | { duplicate: false }
  | { duplicate: true; of: string; kind: 'exact' | 'near'; similarity: number };

const NOT_DUPLICATE: DedupeResult = { duplicate: false };

/**
 * Document dedupe: exact duplicates after normalization (lower case, punctuation dropped, whitespace
 * collapsed; SHA-256 of the result) and, optionally, MinHash near duplicates.
 *
 * Both indexes live in `store`: a restarted run still recognises copies of documents it processed
 * before (including ones its source skipped as already committed), and memory stays flat.
 *
 * Replays: the same record read again (same id and same `replayKey`, its source position) is never
 * a duplicate, so a document re-read after a crash is not dropped as a copy of itself; the same id and
 * text at another position (an exact repeat of the record) is a duplicate.
 */
export class DocDedupe {
  private readonly store: DedupeStore;
  private readonly threshold: number;
  private readonly minhash: MinHash | undefined;
  private readonly lsh: LshIndex | undefined;
  /** Reused buffer for the normalized text (UTF-8) of texts up to 16 K code units. */
  private readonly buf = new Uint8Array(48 * 1024);

  constructor(options: DocDedupeOptions = {}) {
    this.store = options.store ?? mapStore();
    this.threshold = options.threshold ?? 0.85;
    if (!(this.threshold >= 0 && this.threshold <= 1)) {
      throw new GemflowError('invalid_option', `dedupe threshold must be within 0..1, got ${this.threshold}`);
    }
    if (options.nearDuplicate ?? true) {
      this.minhash = new MinHash({ numPerm: 128, shingleSize: 5 });
      const bands = options.bands ?? 16;
      if (this.minhash.numPerm % bands !== 0) {
        throw new GemflowError('invalid_option', `dedupe bands must divide ${this.minhash.numPerm}, got ${bands}`);
      }
      this.lsh = new LshIndex({ bands, store: this.store });
    }
  }

  check(docId: string, text: string, replayKey?: string): DedupeResult {
    const key = `exact:${this.exactHash(text)}`;
    const owner = replayKey === undefined ? docId : `${docId}\u0000${replayKey}`;
    const first = this.store.get(key);
    if (first !== undefined) {
      // Entries written before replay keys existed hold the bare id.
      const same = first === owner || (!first.includes('\u0000') && first === docId);
      return same ? NOT_DUPLICATE : { duplicate: true, of: first.split('\u0000')[0]!, kind: 'exact', similarity: 1 };
    }
    if (this.minhash !== undefined && this.lsh !== undefined) {
      const sig = this.minhash.signature(text);
      const near = this.lsh.best(sig, this.threshold, docId);
      if (near !== undefined) return { duplicate: true, of: near.id, kind: 'near', similarity: near.similarity };
      this.lsh.add(docId, sig);
    }
    this.store.put(key, owner);
    return NOT_DUPLICATE;
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

function mapStore(): DedupeStore {
  const map = new Map<string, string>();
  return { get: (k) => map.get(k), put: (k, v) => void map.set(k, v) };
}
