import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { GemflowError } from '../errors.js';

/** SQLite page cache per connection, KiB (see open). */
const CACHE_KIB = 2048;

/**
 * Opens (creating the file and its directory when missing) a state database: WAL, `synchronous =
 * NORMAL` (a commit survives kill -9; see KvStore), a 5 s busy timeout, a small page cache.
 */
export function openDatabase(path: string): Database.Database {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Another connection (cache and dedupe share files) may hold the write lock for a moment.
    db.pragma('busy_timeout = 5000');
    // Page cache per connection, from malloc: better-sqlite3 builds SQLite with a 16 MB default, and a
    // run opens one connection per namespace (each LLM step's cache, each dedupe index), so the native
    // heap grew by up to 16 MB per connection as the files grew. Lookups are by primary key; 2 MB holds
    // the B-tree's upper levels.
    db.pragma(`cache_size = -${CACHE_KIB}`);
    return db;
  } catch (e) {
    throw new GemflowError('store_open_failed', `cannot open key-value store ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Checkpoints the write-ahead log into the main file and closes. Idempotent. */
export function closeDatabase(db: Database.Database): void {
  if (!db.open) return;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** The values' table: a rowid table with a unique index on (ns, key), see KvStore. */
const TABLE = 'kv_rows';
/** Where files written before 2026-12-04 keep their values (read, never written). */
export const LEGACY_TABLE = 'kv';

/** Whether `db` has a table `name`. */
export function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare<[string], number>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(name)! > 0;
}

/**
 * A tiny string key-value store in one SQLite file (better-sqlite3), shared by the LLM response cache
 * and document dedupe. Each `KvStore` reads and writes one namespace; several namespaces (and several
 * stores, even in other processes) may share a file.
 *
 * Durability: the database runs in WAL mode with `synchronous = NORMAL`. Every `put` is its own
 * committed transaction (`putMany` commits a batch at once), appended to the write-ahead log before
 * the call returns, so it survives the process being killed (kill -9): the next open replays the log.
 * Only an OS crash or power loss can lose the last few commits (never corrupting the file). `close()`
 * checkpoints the log back into the main file and truncates it.
 *
 * Calls are synchronous (SQLite in-process, microseconds per call on a warm page cache).
 *
 * Layout: a rowid table with a unique index on (ns, key). Values are large (an LLM answer is ~1.5 KB),
 * so a new one is appended at the table's end and only the small index entry lands at a random place.
 * Until 2026-12-04 the values lived in a WITHOUT ROWID table keyed by (ns, key) (`kv`): two or three
 * values a page, a page split every other insert, and each commit rewrote those pages into the WAL.
 * Lookup + store of a ~1.5 KB answer, one commit each, 20,000 random keys: 28-31 µs of CPU against
 * 72-81 µs (a micro-benchmark of the two layouts; README "Shared state"). Such a file's `kv` table is
 * still read (never written); new values shadow its old ones.
 */
export class KvStore {
  readonly #db: Database.Database;
  readonly #ns: string;
  readonly #get: Database.Statement<[{ ns: string; key: string }], { value: string }>;
  readonly #put: Database.Statement<[string, string, string]>;
  readonly #insert: Database.Statement<[{ ns: string; key: string; value: string }]>;
  readonly #delete: (ns: string, key: string) => boolean;
  readonly #count: Database.Statement<[{ ns: string }], { n: number }>;
  readonly #putMany: (entries: Iterable<readonly [string, string]>) => void;

  private constructor(db: Database.Database, namespace: string) {
    this.#db = db;
    this.#ns = namespace;
    db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (ns, key))`);
    // A file written before 2026-12-04 holds its values in the WITHOUT ROWID table `kv`: read there too
    // (new values shadow old ones), never written.
    const legacy = hasTable(db, LEGACY_TABLE);
    this.#get = db.prepare(
      legacy
        ? `SELECT value FROM ${TABLE} WHERE ns = @ns AND key = @key UNION ALL SELECT value FROM ${LEGACY_TABLE} WHERE ns = @ns AND key = @key LIMIT 1`
        : `SELECT value FROM ${TABLE} WHERE ns = @ns AND key = @key`,
    );
    this.#put = db.prepare(`INSERT INTO ${TABLE} (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value`);
    this.#insert = db.prepare(
      legacy
        ? `INSERT INTO ${TABLE} (ns, key, value) SELECT @ns, @key, @value WHERE NOT EXISTS (SELECT 1 FROM ${LEGACY_TABLE} WHERE ns = @ns AND key = @key) ON CONFLICT (ns, key) DO NOTHING`
        : `INSERT INTO ${TABLE} (ns, key, value) VALUES (@ns, @key, @value) ON CONFLICT (ns, key) DO NOTHING`,
    );
    const del = db.prepare(`DELETE FROM ${TABLE} WHERE ns = ? AND key = ?`);
    const delLegacy = legacy ? db.prepare(`DELETE FROM ${LEGACY_TABLE} WHERE ns = ? AND key = ?`) : undefined;
    this.#delete = (ns, key) => this.transaction(() => del.run(ns, key).changes + (delLegacy?.run(ns, key).changes ?? 0)) > 0;
    this.#count = db.prepare(
      legacy
        ? `SELECT (SELECT count(*) FROM ${TABLE} WHERE ns = @ns) + (SELECT count(*) FROM ${LEGACY_TABLE} o WHERE o.ns = @ns AND NOT EXISTS (SELECT 1 FROM ${TABLE} n WHERE n.ns = o.ns AND n.key = o.key)) AS n`
        : `SELECT count(*) AS n FROM ${TABLE} WHERE ns = @ns`,
    );
    this.#putMany = db.transaction((entries: Iterable<readonly [string, string]>) => {
      for (const [k, v] of entries) this.#put.run(this.#ns, k, v);
    });
  }

  /** Opens (creating the file and its directory when missing) the store at `path`, in `namespace`. */
  static open(path: string, namespace = 'default'): KvStore {
    const db = openDatabase(path);
    try {
      return new KvStore(db, namespace);
    } catch (e) {
      db.close();
      throw new GemflowError('store_open_failed', `cannot open key-value store ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  get namespace(): string {
    return this.#ns;
  }

  get(key: string): string | undefined {
    return this.#get.get({ ns: this.#ns, key })?.value;
  }

  has(key: string): boolean {
    return this.#get.get({ ns: this.#ns, key }) !== undefined;
  }

  put(key: string, value: string): void {
    this.#put.run(this.#ns, key, value);
  }

  /** Stores `value` only when `key` is absent; true when it was stored (atomic "first seen"). */
  putIfAbsent(key: string, value: string): boolean {
    return this.#insert.run({ ns: this.#ns, key, value }).changes === 1;
  }

  /** Writes all entries in one transaction (one log append instead of one per entry). */
  putMany(entries: Iterable<readonly [string, string]>): void {
    this.#putMany(entries);
  }

  /**
   * Runs `fn` in one immediate transaction (the write lock taken at its start), so a check-then-write
   * in it is atomic also against other processes sharing the file. Nested calls join the outer one.
   */
  transaction<T>(fn: () => T): T {
    if (this.#db.inTransaction) return fn();
    return this.#db.transaction(fn).immediate();
  }

  delete(key: string): boolean {
    return this.#delete(this.#ns, key);
  }

  /** Number of keys in this namespace. */
  size(): number {
    return this.#count.get({ ns: this.#ns })?.n ?? 0;
  }

  /** Checkpoints the write-ahead log into the main file and closes. Idempotent. */
  close(): void {
    closeDatabase(this.#db);
  }
}
