import { KvStore } from './kv-store.js';
import { SqliteFingerprintTables } from './sqlite-fingerprints.js';
import { type AsyncKv, type Claim, type Fingerprint, type FingerprintIndex, type FingerprintIndexOptions, NOT_DUPLICATE, type StateStore, sigBytes, sigFromBytes } from './state-store.js';

/** A synchronous string store: a Map for tests and in-memory use. */
export interface SyncKv {
  get(key: string): string | undefined;
  put(key: string, value: string): void;
}

/**
 * Where a synchronous fingerprint index keeps its three kinds of entry: exact claims (hash -> owner),
 * MinHash signatures (id -> signature) and LSH buckets (band key -> ids, newline-separated).
 */
export interface FingerprintTables {
  exact(hash: string): string | undefined;
  setExact(hash: string, owner: string): void;
  sig(id: string): Int32Array | undefined;
  setSig(id: string, sig: Int32Array): void;
  bucket(band: string): string | undefined;
  /** The buckets of several band keys at once (absent keys are absent), when the store does it in one call. */
  buckets?(bands: readonly string[]): Map<string, string>;
  setBucket(band: string, ids: string): void;
  /** Runs `fn` atomically (also against other processes sharing the store), when the store can. */
  transaction?<T>(fn: () => T): T;
}

/** The tables over one string store: keys `exact:<hash>`, `sig:<id>` (base64) and `lsh:<band>`. */
export function kvTables(store: SyncKv): FingerprintTables {
  return {
    exact: (hash) => store.get(`exact:${hash}`),
    setExact: (hash, owner) => store.put(`exact:${hash}`, owner),
    sig: (id) => {
      const v = store.get(`sig:${id}`);
      return v === undefined ? undefined : sigFromBytes(Buffer.from(v, 'base64'));
    },
    setSig: (id, sig) => store.put(`sig:${id}`, sigBytes(sig).toString('base64')),
    bucket: (band) => store.get(`lsh:${band}`),
    setBucket: (band, ids) => store.put(`lsh:${band}`, ids),
  };
}

/**
 * The fingerprint index (semantics on FingerprintIndex) over synchronous tables. With SQLite tables,
 * a batch is one immediate transaction, so processes sharing the file claim atomically.
 */
export class SyncFingerprintIndex implements FingerprintIndex {
  readonly #maxPerBucket: number;

  constructor(
    private readonly tables: FingerprintTables,
    private readonly opts: FingerprintIndexOptions,
  ) {
    this.#maxPerBucket = opts.maxPerBucket ?? 8;
  }

  async claim(batch: readonly Fingerprint[]): Promise<Claim[]> {
    return this.claimSync(batch);
  }

  claimSync(batch: readonly Fingerprint[]): Claim[] {
    const run = () => batch.map((f) => this.#one(f));
    return this.tables.transaction ? this.tables.transaction(run) : run();
  }

  #one(f: Fingerprint): Claim {
    const t = this.tables;
    const first = t.exact(f.exact);
    if (first !== undefined) {
      const sep = first.indexOf('\u0000');
      if (first === f.owner || (sep < 0 && first === f.id)) return NOT_DUPLICATE;
      return { duplicate: true, kind: 'exact', of: sep < 0 ? first : first.slice(0, sep), similarity: 1 };
    }
    if (f.sig !== undefined && f.bands !== undefined) {
      let best: { id: string; similarity: number } | undefined;
      const seen = new Set<string>();
      // Each band key's ids are read once; the writes below keep this copy current.
      const buckets: Map<string, string | undefined> = t.buckets ? t.buckets(f.bands) : new Map();
      if (!t.buckets) for (const band of f.bands) if (!buckets.has(band)) buckets.set(band, t.bucket(band));
      for (const band of f.bands) {
        const ids = buckets.get(band);
        if (ids === undefined) continue;
        for (const id of ids.split('\n')) {
          if (id === f.id || seen.has(id)) continue;
          seen.add(id);
          const other = t.sig(id);
          if (other === undefined) continue;
          const sim = similarity(f.sig, other);
          if (sim >= this.opts.threshold && sim > (best?.similarity ?? -1)) best = { id, similarity: sim };
        }
      }
      if (best !== undefined) return { duplicate: true, kind: 'near', of: best.id, similarity: best.similarity };
      if (t.sig(f.id) === undefined) {
        t.setSig(f.id, f.sig);
        for (const band of f.bands) {
          const ids = buckets.get(band);
          const next = ids === undefined ? f.id : countIds(ids) < this.#maxPerBucket ? `${ids}\n${f.id}` : undefined;
          if (next === undefined) continue;
          t.setBucket(band, next);
          buckets.set(band, next);
        }
      }
    }
    t.setExact(f.exact, f.owner);
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
  return new SyncFingerprintIndex(kvTables({ get: (k) => map.get(k), put: (k, v) => void map.set(k, v) }), opts);
}

/**
 * The embedded backend: one SQLite file (`state.sqlite` under stateDir), one namespace per step and
 * one for the LLM cache (`cachePath` may put the cache in a file of its own). No TTL and no size
 * bound: it is the state of one process (or of processes sharing one disk).
 */
export class SqliteStateStore implements StateStore {
  readonly backend = 'sqlite' as const;
  readonly #stores: Array<{ close(): void }> = [];

  constructor(
    private readonly path: string,
    private readonly cachePath = path,
  ) {}

  get description(): string {
    return `sqlite ${this.path}`;
  }

  index(namespace: string, opts: FingerprintIndexOptions): FingerprintIndex {
    const tables = SqliteFingerprintTables.open(this.path, namespace);
    this.#stores.push(tables);
    return new SyncFingerprintIndex(tables, opts);
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
