import { KvStore } from './kv-store.js';
import { type AsyncKv, type Claim, type Fingerprint, type FingerprintIndex, type FingerprintIndexOptions, NOT_DUPLICATE, type StateStore, sigBytes } from './state-store.js';

/** A synchronous string store: the KvStore, or a Map for tests and in-memory use. */
export interface SyncKv {
  get(key: string): string | undefined;
  put(key: string, value: string): void;
}

/**
 * The fingerprint index (semantics on FingerprintIndex) over a synchronous store: keys `exact:<hash>`
 * -> owner, `sig:<id>` -> base64 signature, `lsh:<band>:<hash>` -> ids (newline-separated). With a
 * KvStore, a batch is one immediate SQLite transaction, so processes sharing the file claim atomically.
 */
export class SyncFingerprintIndex implements FingerprintIndex {
  readonly #maxPerBucket: number;

  constructor(
    private readonly store: SyncKv & { transaction?<T>(fn: () => T): T },
    private readonly opts: FingerprintIndexOptions,
  ) {
    this.#maxPerBucket = opts.maxPerBucket ?? 8;
  }

  async claim(batch: readonly Fingerprint[]): Promise<Claim[]> {
    return this.claimSync(batch);
  }

  claimSync(batch: readonly Fingerprint[]): Claim[] {
    const run = () => batch.map((f) => this.#one(f));
    return this.store.transaction ? this.store.transaction(run) : run();
  }

  #one(f: Fingerprint): Claim {
    const s = this.store;
    const exactKey = `exact:${f.exact}`;
    const first = s.get(exactKey);
    if (first !== undefined) {
      const sep = first.indexOf('\u0000');
      if (first === f.owner || (sep < 0 && first === f.id)) return NOT_DUPLICATE;
      return { duplicate: true, kind: 'exact', of: sep < 0 ? first : first.slice(0, sep), similarity: 1 };
    }
    if (f.sig !== undefined && f.bands !== undefined) {
      let best: { id: string; similarity: number } | undefined;
      const seen = new Set<string>();
      // Each band key's ids are read once; the writes below keep this copy current.
      const buckets = new Map<string, string | undefined>();
      for (const band of f.bands) if (!buckets.has(band)) buckets.set(band, s.get(`lsh:${band}`));
      for (const band of f.bands) {
        const ids = buckets.get(band);
        if (ids === undefined) continue;
        for (const id of ids.split('\n')) {
          if (id === f.id || seen.has(id)) continue;
          seen.add(id);
          const other = s.get(`sig:${id}`);
          if (other === undefined) continue;
          const b = Buffer.from(other, 'base64');
          const sim = similarity(f.sig, new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4));
          if (sim >= this.opts.threshold && sim > (best?.similarity ?? -1)) best = { id, similarity: sim };
        }
      }
      if (best !== undefined) return { duplicate: true, kind: 'near', of: best.id, similarity: best.similarity };
      if (s.get(`sig:${f.id}`) === undefined) {
        s.put(`sig:${f.id}`, sigBytes(f.sig).toString('base64'));
        for (const band of f.bands) {
          const ids = buckets.get(band);
          const next = ids === undefined ? f.id : countIds(ids) < this.#maxPerBucket ? `${ids}\n${f.id}` : undefined;
          if (next === undefined) continue;
          s.put(`lsh:${band}`, next);
          buckets.set(band, next);
        }
      }
    }
    s.put(exactKey, f.owner);
    return NOT_DUPLICATE;
  }
}

/** Number of ids in a newline-separated bucket. */
function countIds(ids: string): number {
  let n = 1;
  for (let i = ids.indexOf('\n'); i >= 0; i = ids.indexOf('\n', i + 1)) n++;
  return n;
}

/** Fraction of equal slots: the estimated Jaccard similarity of two MinHash signatures. */
export function similarity(x: Int32Array, y: Int32Array): number {
  if (x.length !== y.length || x.length === 0) return 0;
  let equal = 0;
  for (let i = 0; i < x.length; i++) if (x[i] === y[i]) equal++;
  return equal / x.length;
}

/** An in-memory index (a Map): for a step used without a run's state store (tests, embedding). */
export function memoryIndex(opts: FingerprintIndexOptions): SyncFingerprintIndex {
  const map = new Map<string, string>();
  return new SyncFingerprintIndex({ get: (k) => map.get(k), put: (k, v) => void map.set(k, v) }, opts);
}

/**
 * The embedded backend: one SQLite file (`state.sqlite` under stateDir), one namespace per step and
 * one for the LLM cache (`cachePath` may put the cache in a file of its own). No TTL and no size
 * bound: it is the state of one process (or of processes sharing one disk).
 */
export class SqliteStateStore implements StateStore {
  readonly backend = 'sqlite' as const;
  readonly #stores: KvStore[] = [];

  constructor(
    private readonly path: string,
    private readonly cachePath = path,
  ) {}

  get description(): string {
    return `sqlite ${this.path}`;
  }

  index(namespace: string, opts: FingerprintIndexOptions): FingerprintIndex {
    return new SyncFingerprintIndex(this.#open(this.path, namespace), opts);
  }

  kv(namespace: string): AsyncKv {
    const store = this.#open(this.cachePath, namespace);
    return {
      get: async (k) => store.get(k),
      put: async (k, v) => store.put(k, v),
    };
  }

  /** The KvStore of `namespace` (sync), for callers that need it as it is. */
  #open(path: string, namespace: string): KvStore {
    const store = KvStore.open(path, namespace);
    this.#stores.push(store);
    return store;
  }

  async close(): Promise<void> {
    for (const s of this.#stores.splice(0)) s.close();
  }
}
