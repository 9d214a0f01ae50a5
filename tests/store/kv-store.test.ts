import { copyFileSync, existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KvStore } from '../../src/store/kv-store.js';

describe('KvStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gemflow-kv-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file of the old layout (values in the WITHOUT ROWID kv table): new values shadow old ones, never lost', () => {
    const path = join(dir, 'old.sqlite');
    const raw = new Database(path);
    raw.exec('CREATE TABLE kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID');
    const ins = raw.prepare('INSERT INTO kv VALUES (?, ?, ?)');
    ins.run('c', 'old', 'v0');
    ins.run('c', 'both', 'v1');
    ins.run('other', 'old', 'elsewhere');
    raw.close();
    const kv = KvStore.open(path, 'c');
    expect([kv.get('old'), kv.get('both'), kv.size()]).toEqual(['v0', 'v1', 2]);
    kv.put('both', 'v2');
    kv.put('new', 'v3');
    expect([kv.get('both'), kv.get('new'), kv.size()]).toEqual(['v2', 'v3', 3]);
    expect(kv.putIfAbsent('old', 'x')).toBe(false);
    expect(kv.get('old')).toBe('v0');
    expect(kv.putIfAbsent('z', 'y')).toBe(true);
    expect(kv.delete('old')).toBe(true);
    expect([kv.get('old'), kv.size()]).toEqual([undefined, 3]);
    kv.close();
    const other = KvStore.open(path, 'other');
    expect(other.get('old')).toBe('elsewhere');
    other.close();
  });

  it('gets, puts, overwrites and deletes string values', () => {
    const kv = KvStore.open(join(dir, 'a.sqlite'));
    expect(kv.get('k')).toBeUndefined();
    expect(kv.has('k')).toBe(false);
    kv.put('k', 'v1');
    kv.put('k', 'v2');
    expect(kv.get('k')).toBe('v2');
    expect(kv.has('k')).toBe(true);
    expect(kv.size()).toBe(1);
    expect(kv.delete('k')).toBe(true);
    expect(kv.delete('k')).toBe(false);
    expect(kv.get('k')).toBeUndefined();
    kv.close();
  });

  it('putIfAbsent stores only the first value and says whether it stored', () => {
    const kv = KvStore.open(join(dir, 'a.sqlite'), 'dedupe');
    expect(kv.putIfAbsent('doc', 'first')).toBe(true);
    expect(kv.putIfAbsent('doc', 'second')).toBe(false);
    expect(kv.get('doc')).toBe('first');
    kv.close();
  });

  it('keeps namespaces sharing one file apart', () => {
    const path = join(dir, 'nested', 'state.sqlite');
    const cache = KvStore.open(path, 'llm');
    const dedupe = KvStore.open(path, 'dedupe');
    cache.put('k', 'from-cache');
    dedupe.put('k', 'from-dedupe');
    expect(cache.get('k')).toBe('from-cache');
    expect(dedupe.get('k')).toBe('from-dedupe');
    expect(cache.size()).toBe(1);
    cache.close();
    dedupe.close();
  });

  it('putMany writes a batch, readable after reopening', () => {
    const path = join(dir, 'a.sqlite');
    const kv = KvStore.open(path);
    kv.putMany(Array.from({ length: 100 }, (_, i) => [`k${i}`, `v${i}`] as const));
    kv.close();
    kv.close(); // idempotent
    expect(existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0).toBe(0); // checkpointed on close
    const again = KvStore.open(path);
    expect(again.size()).toBe(100);
    expect(again.get('k99')).toBe('v99');
    again.close();
  });

  it('committed writes survive a crash: the files as a killed process leaves them are readable', () => {
    const path = join(dir, 'live.sqlite');
    const kv = KvStore.open(path);
    kv.put('a', '1');
    kv.putMany([['b', '2'], ['c', '3']]);
    // Not closed, so not checkpointed: the writes sit in the WAL, as after kill -9.
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    const crashed = join(dir, 'crashed.sqlite');
    copyFileSync(path, crashed);
    copyFileSync(`${path}-wal`, `${crashed}-wal`);
    const recovered = KvStore.open(crashed);
    expect([recovered.get('a'), recovered.get('b'), recovered.get('c')]).toEqual(['1', '2', '3']);
    recovered.close();
    kv.close();
  });

  it('reports an unopenable path as store_open_failed', () => {
    const file = join(dir, 'plain-file');
    KvStore.open(file).close();
    expect(() => KvStore.open(join(file, 'sub', 'x.sqlite'))).toThrow(expect.objectContaining({ code: 'store_open_failed' }));
  });
});
