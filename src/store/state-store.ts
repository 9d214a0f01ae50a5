/**
 * The run's state that outlives a document: dedupe fingerprints and the LLM response cache. Two
 * backends behind one interface: the embedded SQLite file under stateDir (default; one process, or
 * processes sharing one disk) and a Redis-protocol server shared by every worker of a consumer group
 * (src/store/redis-state.ts). Every operation is batched and asynchronous, so a backend over the
 * network costs one round trip per micro-batch, not one per document.
 */

/** A document's (or trajectory's) dedupe fingerprint, as the dedupe steps compute it. */
export interface Fingerprint {
  /** Hash of the normalised content: equal hashes are exact duplicates. */
  exact: string;
  /** Who claims the hash: the id plus, for documents, its source position (a replay is not its own duplicate). */
  owner: string;
  /** The id near duplicates are reported by (and that a re-check skips as itself). */
  id: string;
  /** MinHash signature, for near duplicates; absent: exact only. */
  sig?: Int32Array;
  /** LSH band keys of `sig` (`<band>:<hash>`), one per band. */
  bands?: string[];
}

export type Claim = { duplicate: false } | { duplicate: true; kind: 'exact' | 'near'; of: string; similarity: number };

export const NOT_DUPLICATE: Claim = { duplicate: false };

/**
 * Check-and-insert of fingerprints, atomic per fingerprint across every worker sharing the store:
 *
 * 1. `exact` already claimed: not a duplicate when the claim is `owner`'s own (a replay; a claim
 *    holding a bare id, written before replay keys existed, matches `id`), else an exact duplicate of
 *    the claimer's id.
 * 2. Else, with a signature: the most similar entry sharing a band (other than `id`) with estimated
 *    Jaccard >= threshold makes it a near duplicate (nothing is stored).
 * 3. Else it is new: its signature and band entries (at most `maxPerBucket` ids per band key) and the
 *    exact claim are stored.
 *
 * Fingerprints of one batch are decided in order, each seeing the ones before it.
 */
export interface FingerprintIndex {
  claim(batch: readonly Fingerprint[]): Promise<Claim[]>;
}

export interface FingerprintIndexOptions {
  /** Estimated Jaccard similarity at or above which an entry is a near duplicate. */
  threshold: number;
  /** Ids remembered per band key; more are not needed to find a near duplicate. Default 8. */
  maxPerBucket?: number;
}

/** String values by key, for the LLM response cache. */
export interface AsyncKv {
  get(key: string): Promise<string | undefined>;
  /** Stores the value and, with leases, ends the key's lease (its waiters find the value). */
  put(key: string, value: string): Promise<void>;
  /**
   * Shared stores only: the value, or else a lease on the key (`owner` now makes it; others wait), or
   * `busy` (another holds the lease). One round trip. The lease lapses after `ttlMs` unless renewed.
   */
  lease?(key: string, owner: string, ttlMs: number): Promise<{ value: string } | 'leased' | 'busy'>;
  /** Extends the lease while `owner` still holds it (while the answer is being made); false if it lapsed to another. */
  renew?(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Ends `owner`'s lease after `graceMs` (0: now), e.g. while the answer is checked before `put`; another's lease is left alone. */
  release?(key: string, owner: string, graceMs: number): Promise<void>;
}

export interface StateStore {
  readonly backend: 'sqlite' | 'redis';
  /** Where it is, for the run log (no secrets). */
  readonly description: string;
  /** The fingerprint index of `namespace` (a step id). */
  index(namespace: string, opts: FingerprintIndexOptions): FingerprintIndex;
  /** The key-value namespace `namespace` (the LLM cache: `llm-cache`). */
  kv(namespace: string): AsyncKv;
  close(): Promise<void>;
}

/** The signature's bytes (little-endian int32s), as both backends store them. */
export function sigBytes(sig: Int32Array): Buffer {
  return Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength);
}

/** A signature from its stored bytes (a copy: the bytes may not be 4-aligned). */
export function sigFromBytes(b: Uint8Array): Int32Array {
  const out = new Int32Array(b.byteLength >> 2);
  new Uint8Array(out.buffer).set(b.subarray(0, out.byteLength));
  return out;
}
