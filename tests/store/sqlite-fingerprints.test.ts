import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bandKeys, MinHash } from '../../operators/dedupe/minhash.js';
import { KvStore } from '../../src/store/kv-store.js';
import { SqliteFingerprintTables } from '../../src/store/sqlite-fingerprints.js';
import { kvTables, SqliteStateStore, SyncFingerprintIndex } from '../../src/store/sqlite-state.js';
import type { Fingerprint } from '../../src/store/state-store.js';
import { changeWords, words } from '../operators/dedupe/text-gen.js';

const mh = new MinHash();
const fp = (id: string, ws: string[], exact = ws.join(' '), pos = 'p0@1', bands?: (sig: Int32Array) => string[]): Fingerprint => {
  const sig = mh.signature(ws.join(' '));
  return { exact, owner: `${id}\u0000${pos}`, id, sig, bands: bands ? bands(sig) : bandKeys(sig, 16) };
};
const base = words(300, 7);
const near = changeWords(base, [10, 150, 290]);
const other = words(300, 99);

describe('SQLite fingerprint tables', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gemflow-fp-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('moves an index of the old kv layout over once, and keeps every claim and signature', async () => {
    const path = join(dir, 'state.sqlite');
    // The layout written before: the generic WITHOUT ROWID kv table, text keys, base64 signatures.
    const raw = new Database(path);
    raw.exec('CREATE TABLE kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID');
    const put = raw.prepare('INSERT INTO kv (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value');
    const get = raw.prepare<[string, string], string>('SELECT value FROM kv WHERE ns = ? AND key = ?').pluck();
    const ns = 'dedupe-trajectories';
    const oldIndex = new SyncFingerprintIndex(kvTables({ get: (k) => get.get(ns, k), put: (k, v) => void put.run(ns, k, v) }), { threshold: 0.85 });
    expect(oldIndex.claimSync([fp('a', base), fp('d', other, 'other-exact')])).toEqual([{ duplicate: false }, { duplicate: false }]);
    expect(raw.prepare('SELECT count(*) FROM kv WHERE ns = ?').pluck().get(ns)).toBe(2 + 2 + 2 * 16);
    put.run('llm-cache', 'answer', 'kept');
    raw.close();

    const store = new SqliteStateStore(path);
    const ix = store.index('dedupe-trajectories', { threshold: 0.85 });
    const r = await ix.claim([
      fp('a', base), // a's replay: its own claim
      fp('b', base), // exact copy of a
      fp('c', near, 'near-exact'), // near duplicate of a: found through a's migrated buckets and signature
      fp('d', other, 'other-exact', 'p1@2'), // d's text at another position: exact
    ]);
    expect(r[0]).toEqual({ duplicate: false });
    expect(r[1]).toEqual({ duplicate: true, kind: 'exact', of: 'a', similarity: 1 });
    expect(r[2]).toMatchObject({ duplicate: true, kind: 'near', of: 'a' });
    expect(r[3]).toEqual({ duplicate: true, kind: 'exact', of: 'd', similarity: 1 });
    await store.close();

    const db = new Database(path, { readonly: true });
    const count = (sql: string) => db.prepare(sql).pluck().get() as number;
    expect(count("SELECT count(*) FROM kv WHERE ns = 'dedupe-trajectories'")).toBe(0);
    expect(db.prepare("SELECT value FROM kv WHERE ns = 'llm-cache' AND key = 'answer'").pluck().get()).toBe('kept');
    expect(count('SELECT count(*) FROM fp_exact')).toBe(2);
    expect(count('SELECT count(*) FROM fp_sig')).toBe(2);
    expect(count('SELECT count(*) FROM fp_lsh')).toBe(32);
    db.close();

    // The LLM cache of the old file still finds its answer (KvStore reads the old table).
    const cache = KvStore.open(path, 'llm-cache');
    expect(cache.get('answer')).toBe('kept');
    cache.close();
    // Opening again moves nothing and finds the same claims.
    const again = new SqliteStateStore(path);
    expect(await again.index('dedupe-trajectories', { threshold: 0.85 }).claim([fp('e', base)])).toEqual([{ duplicate: true, kind: 'exact', of: 'a', similarity: 1 }]);
    await again.close();
  });

  it('packs bandKeys band keys into distinct integers per namespace, and hashes other band keys', () => {
    const path = join(dir, 'state.sqlite');
    const a = SqliteFingerprintTables.open(path, 'one');
    const b = SqliteFingerprintTables.open(path, 'two');
    const keys = bandKeys(mh.signature(base.join(' ')), 32);
    const ints = new Set([...keys.map((k) => a.bucketKey(k)), ...keys.map((k) => b.bucketKey(k))]);
    expect(ints.size).toBe(64);
    for (const k of ints) expect(Number.isSafeInteger(k)).toBe(true);
    expect(a.bucketKey('0:0')).not.toBe(a.bucketKey('1:0'));
    expect(a.bucketKey('0:zzzzzzz')).not.toBe(a.bucketKey('0:zzzzzzy')); // beyond 32 bits: hashed
    expect(a.bucketKey('custom band')).not.toBe(b.bucketKey('custom band'));
    expect(Number.isSafeInteger(a.bucketKey('custom band'))).toBe(true);
    a.close();
    b.close();
  });

  it('finds near duplicates with band keys of any form', async () => {
    const store = new SqliteStateStore(join(dir, 'state.sqlite'));
    const ix = store.index('dedupe', { threshold: 0.85 });
    const custom = (sig: Int32Array) => bandKeys(sig, 16).map((k) => `band/${k}`);
    expect(await ix.claim([fp('a', base, 'a', 'p0@1', custom)])).toEqual([{ duplicate: false }]);
    expect(await ix.claim([fp('c', near, 'c', 'p0@2', custom)])).toEqual([expect.objectContaining({ duplicate: true, kind: 'near', of: 'a' })]);
    expect(await ix.claim([fp('d', other, 'd', 'p0@3', custom)])).toEqual([{ duplicate: false }]);
    await store.close();
  });

  it('two connections to one file claim atomically: the second sees the first one\'s claims', async () => {
    const path = join(dir, 'state.sqlite');
    const s1 = new SqliteStateStore(path);
    const s2 = new SqliteStateStore(path);
    const i1 = s1.index('dedupe', { threshold: 0.85 });
    const i2 = s2.index('dedupe', { threshold: 0.85 });
    expect(await i1.claim([fp('a', base)])).toEqual([{ duplicate: false }]);
    expect(await i2.claim([fp('b', base), fp('c', near, 'c')])).toEqual([
      { duplicate: true, kind: 'exact', of: 'a', similarity: 1 },
      expect.objectContaining({ duplicate: true, kind: 'near', of: 'a' }),
    ]);
    await s1.close();
    await s2.close();
  });
});
