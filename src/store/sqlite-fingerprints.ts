import type Database from 'better-sqlite3';
import { closeDatabase, openDatabase } from './kv-store.js';
import type { FingerprintTables } from './sqlite-state.js';
import { sigBytes, sigFromBytes } from './state-store.js';

/** 2^32: a band hash's range. */
const U32 = 0x1_0000_0000;
/** Band numbers packed into a bucket key (bands divide 128 MinHash permutations, so at most 128). */
const BANDS = 128;
/** Namespaces a file can hold: (ns * 128 + band) * 2^32 + hash stays below 2^53. */
const MAX_NAMESPACES = 2 ** 53 / (BANDS * U32);

/**
 * A fingerprint index's tables in the run's SQLite state file, one namespace (a step id) each:
 *
 * - `fp_exact (ns, hash) -> owner` and `fp_sig (ns, id) -> signature` (little-endian int32 BLOB);
 * - `fp_lsh (k) -> ids`, keyed by one integer packing the namespace, the band and the band's 32-bit
 *   hash (`<band>:<hash base 36>`, as bandKeys writes them; any other band key is hashed into the
 *   namespace's range, where a collision only adds a candidate that the signature check rejects);
 * - `fp_ns (name) -> ns`, the namespaces' small integer ids.
 *
 * Before 2026-12, these entries were rows of the generic `kv (ns, key, value)` table with text keys
 * (`exact:<hash>`, `sig:<id>` as base64, `lsh:<band>`): ~35-byte compound text keys, 17 random B-tree
 * inserts per new fingerprint. Integer keys and binary signatures make rows smaller (fewer pages
 * written per commit) and comparisons cheaper; opening a namespace moves its old rows over, once, in
 * one transaction (sqlite-fingerprints.test.ts).
 */
export class SqliteFingerprintTables implements FingerprintTables {
  readonly #db: Database.Database;
  readonly #ns: number;
  readonly #getExact: Database.Statement<[number, string], string>;
  readonly #putExact: Database.Statement<[number, string, string]>;
  readonly #getSig: Database.Statement<[number, string], Buffer>;
  readonly #putSig: Database.Statement<[number, string, Buffer]>;
  readonly #getBucket: Database.Statement<[number], string>;
  readonly #putBucket: Database.Statement<[number, string]>;
  readonly #getBuckets = new Map<number, Database.Statement<number[], [number, string]>>();

  static open(path: string, namespace: string): SqliteFingerprintTables {
    const db = openDatabase(path);
    try {
      return new SqliteFingerprintTables(db, namespace);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private constructor(db: Database.Database, namespace: string) {
    this.#db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS fp_ns (name TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS fp_exact (ns INTEGER NOT NULL, hash TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (ns, hash)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS fp_sig (ns INTEGER NOT NULL, id TEXT NOT NULL, sig BLOB NOT NULL, PRIMARY KEY (ns, id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS fp_lsh (k INTEGER PRIMARY KEY, ids TEXT NOT NULL);`);
    this.#getExact = db.prepare<[number, string], string>('SELECT owner FROM fp_exact WHERE ns = ? AND hash = ?').pluck();
    this.#putExact = db.prepare('INSERT INTO fp_exact (ns, hash, owner) VALUES (?, ?, ?) ON CONFLICT (ns, hash) DO UPDATE SET owner = excluded.owner');
    this.#getSig = db.prepare<[number, string], Buffer>('SELECT sig FROM fp_sig WHERE ns = ? AND id = ?').pluck();
    this.#putSig = db.prepare('INSERT INTO fp_sig (ns, id, sig) VALUES (?, ?, ?) ON CONFLICT (ns, id) DO UPDATE SET sig = excluded.sig');
    this.#getBucket = db.prepare<[number], string>('SELECT ids FROM fp_lsh WHERE k = ?').pluck();
    this.#putBucket = db.prepare('INSERT INTO fp_lsh (k, ids) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET ids = excluded.ids');
    this.#ns = this.transaction(() => {
      const known = db.prepare<[string], number>('SELECT id FROM fp_ns WHERE name = ?').pluck().get(namespace);
      if (known !== undefined) return known;
      const id = db.prepare<[], number>('SELECT coalesce(max(id), -1) + 1 FROM fp_ns').pluck().get()!;
      if (id >= MAX_NAMESPACES) throw new Error(`more than ${MAX_NAMESPACES} dedupe namespaces in one state file`);
      db.prepare('INSERT INTO fp_ns (name, id) VALUES (?, ?)').run(namespace, id);
      return id;
    });
    this.#migrate(namespace);
  }

  exact(hash: string): string | undefined {
    return this.#getExact.get(this.#ns, hash);
  }

  setExact(hash: string, owner: string): void {
    this.#putExact.run(this.#ns, hash, owner);
  }

  sig(id: string): Int32Array | undefined {
    const b = this.#getSig.get(this.#ns, id);
    return b === undefined ? undefined : sigFromBytes(b);
  }

  setSig(id: string, sig: Int32Array): void {
    this.#putSig.run(this.#ns, id, sigBytes(sig));
  }

  /** The buckets of several band keys, read at once (absent keys are absent from the map). */
  buckets(bands: readonly string[]): Map<string, string> {
    const keys = bands.map((b) => this.bucketKey(b));
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    let stmt = this.#getBuckets.get(keys.length);
    if (stmt === undefined) {
      stmt = this.#db.prepare<number[], [number, string]>(`SELECT k, ids FROM fp_lsh WHERE k IN (${keys.map(() => '?').join(',')})`).raw();
      this.#getBuckets.set(keys.length, stmt);
    }
    const byKey = new Map<number, string>();
    for (const [k, ids] of stmt.all(...keys)) byKey.set(k, ids);
    for (let i = 0; i < bands.length; i++) {
      const ids = byKey.get(keys[i]!);
      if (ids !== undefined) out.set(bands[i]!, ids);
    }
    return out;
  }

  bucket(band: string): string | undefined {
    return this.#getBucket.get(this.bucketKey(band));
  }

  setBucket(band: string, ids: string): void {
    this.#putBucket.run(this.bucketKey(band), ids);
  }

  /** The integer key of a band key in this namespace. */
  bucketKey(band: string): number {
    const colon = band.indexOf(':');
    const b = colon > 0 && colon <= 3 ? Number(band.slice(0, colon)) : Number.NaN;
    const h = colon > 0 ? Number.parseInt(band.slice(colon + 1), 36) : Number.NaN;
    if (Number.isInteger(b) && b >= 0 && b < BANDS && Number.isInteger(h) && h >= 0 && h < U32 && h.toString(36) === band.slice(colon + 1)) {
      return (this.#ns * BANDS + b) * U32 + h;
    }
    // Not bandKeys' form: two FNV-1a hashes of the key, 39 bits, in the namespace's range.
    let h1 = 0x811c9dc5;
    let h2 = 0x050c5d1f;
    for (let i = 0; i < band.length; i++) {
      const c = band.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193);
    }
    return (this.#ns * BANDS + ((h2 >>> 0) % BANDS)) * U32 + (h1 >>> 0);
  }

  /** Runs `fn` in one immediate transaction (the write lock taken at its start); nested calls join. */
  transaction<T>(fn: () => T): T {
    if (this.#db.inTransaction) return fn();
    return this.#db.transaction(fn).immediate();
  }

  /** Moves this namespace's rows of the old `kv` layout (see the class) into the tables, once. */
  #migrate(namespace: string): void {
    const db = this.#db;
    const hasKv = db.prepare<[], number>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'kv'").pluck().get()! > 0;
    if (!hasKv) return;
    // Prefix ranges: 'exact:' up to 'exact;' (';' follows ':'), and likewise; read in pages, since a
    // statement cannot stay open while the same connection writes.
    const page = db.prepare<[string, string, string], [string, string]>('SELECT key, value FROM kv WHERE ns = ? AND key > ? AND key < ? ORDER BY key LIMIT 4096').raw();
    const drop = db.prepare('DELETE FROM kv WHERE ns = ? AND key >= ? AND key < ?');
    const prefixes = ['exact:', 'sig:', 'lsh:'] as const;
    const any = db.prepare<[string, string, string], number>('SELECT 1 FROM kv WHERE ns = ? AND key >= ? AND key < ? LIMIT 1').pluck();
    if (!prefixes.some((p) => any.get(namespace, p, `${p.slice(0, -1)};`) !== undefined)) return;
    this.transaction(() => {
      for (const p of prefixes) {
        const hi = `${p.slice(0, -1)};`;
        for (let after: string = p, rows = page.all(namespace, after, hi); rows.length > 0; rows = page.all(namespace, after, hi)) {
          for (const [key, value] of rows) {
            const rest = key.slice(p.length);
            if (p === 'exact:') {
              if (this.exact(rest) === undefined) this.setExact(rest, value);
            } else if (p === 'sig:') {
              if (this.sig(rest) === undefined) this.#putSig.run(this.#ns, rest, Buffer.from(value, 'base64'));
            } else {
              const have = this.bucket(rest);
              this.setBucket(rest, have === undefined ? value : mergeIds(have, value));
            }
          }
          after = rows[rows.length - 1]![0];
        }
        drop.run(namespace, p, hi);
      }
    });
  }

  /** Checkpoints the write-ahead log into the main file and closes. Idempotent. */
  close(): void {
    closeDatabase(this.#db);
  }
}

/** Ids of two newline-separated buckets, each once, in order. */
function mergeIds(a: string, b: string): string {
  const ids = new Set(a.split('\n'));
  for (const id of b.split('\n')) ids.add(id);
  return [...ids].join('\n');
}
