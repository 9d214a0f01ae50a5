import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bandKeys, MinHash } from '../../operators/dedupe/minhash.js';
import { SqliteFingerprintTables } from '../../src/store/sqlite-fingerprints.js';
import { memoryIndex, similarity, SqliteStateStore } from '../../src/store/sqlite-state.js';
import { type Claim, type Fingerprint, NOT_DUPLICATE, sigBytes } from '../../src/store/state-store.js';
import { changeWords, words } from '../operators/dedupe/text-gen.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemflow-claims-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * The claim semantics of FingerprintIndex written out plainly: one fingerprint at a time, every key
 * read and written on its own (a get before each use), over a Map. The oracle a batch claimed in one
 * transaction must agree with, decision for decision and key for key.
 */
function oneByOne(map: Map<string, string>, f: Fingerprint, threshold: number, maxPerBucket: number): Claim {
  const exactKey = `exact:${f.exact}`;
  const first = map.get(exactKey);
  if (first !== undefined) {
    const sep = first.indexOf('\u0000');
    if (first === f.owner || (sep < 0 && first === f.id)) return NOT_DUPLICATE;
    return { duplicate: true, kind: 'exact', of: sep < 0 ? first : first.slice(0, sep), similarity: 1 };
  }
  if (f.sig !== undefined && f.bands !== undefined) {
    let best: { id: string; similarity: number } | undefined;
    const seen = new Set<string>();
    for (const band of f.bands) {
      const ids = map.get(`lsh:${band}`);
      if (ids === undefined) continue;
      for (const id of ids.split('\n')) {
        if (id === f.id || seen.has(id)) continue;
        seen.add(id);
        const other = map.get(`sig:${id}`);
        if (other === undefined) continue;
        const b = Buffer.from(other, 'base64');
        const sim = similarity(f.sig, new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4));
        if (sim >= threshold && sim > (best?.similarity ?? -1)) best = { id, similarity: sim };
      }
    }
    if (best !== undefined) return { duplicate: true, kind: 'near', of: best.id, similarity: best.similarity };
    if (map.get(`sig:${f.id}`) === undefined) {
      map.set(`sig:${f.id}`, sigBytes(f.sig).toString('base64'));
      for (const band of f.bands) {
        const key = `lsh:${band}`;
        const ids = map.get(key);
        if (ids === undefined) map.set(key, f.id);
        else if (ids.split('\n').length < maxPerBucket) map.set(key, `${ids}\n${f.id}`);
      }
    }
  }
  map.set(exactKey, f.owner);
  return NOT_DUPLICATE;
}

/**
 * 600 fingerprints: fresh texts, near copies (a few words changed) of earlier ones, exact copies under
 * other ids, replays of the same id and position, the same id at another position, exact-only
 * fingerprints (no signature), and a family of near copies of one text that overfills LSH buckets.
 */
function corpus(): Fingerprint[] {
  const mh = new MinHash();
  const out: Fingerprint[] = [];
  const texts: string[][] = [];
  let seed = 1;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const fp = (id: string, ws: string[], pos: string, sig = true): Fingerprint => {
    const f: Fingerprint = { exact: ws.join(' '), owner: `${id}\u0000${pos}`, id };
    if (sig) {
      f.sig = mh.signature(ws.join(' '));
      f.bands = bandKeys(f.sig, 16);
    }
    return f;
  };
  const family = words(200, 4242);
  for (let i = 0; i < 600; i++) {
    const r = rnd();
    const id = `t${i}`;
    if (texts.length === 0 || r < 0.35) {
      const ws = words(60 + Math.floor(rnd() * 200), 1000 + i);
      texts.push(ws);
      out.push(fp(id, ws, `p0@${i}`));
    } else if (r < 0.55) {
      const src = texts[Math.floor(rnd() * texts.length)]!;
      const ws = changeWords(src, [Math.floor(rnd() * src.length), Math.floor(rnd() * src.length)]);
      texts.push(ws);
      out.push(fp(id, ws, `p0@${i}`));
    } else if (r < 0.65) {
      out.push(fp(id, texts[Math.floor(rnd() * texts.length)]!, `p0@${i}`));
    } else if (r < 0.75 && out.length > 0) {
      out.push({ ...out[Math.floor(rnd() * out.length)]! }); // a replay: same id, same position
    } else if (r < 0.8 && out.length > 0) {
      const o = out[Math.floor(rnd() * out.length)]!;
      out.push({ ...o, owner: `${o.id}\u0000p9@${i}` }); // the same id at another position
    } else if (r < 0.88) {
      out.push(fp(id, words(80, 5000 + i), `p0@${i}`, false)); // exact only
    } else {
      out.push(fp(id, changeWords(family, [Math.floor(rnd() * 200)]), `p0@${i}`)); // one big near-duplicate family
    }
  }
  return out;
}

/** Splits `xs` into batches of varying sizes (1 to 70). */
function batches<T>(xs: T[]): T[][] {
  const sizes = [1, 64, 3, 70, 17, 2, 33, 64, 5];
  const out: T[][] = [];
  for (let at = 0, k = 0; at < xs.length; k++) {
    out.push(xs.slice(at, at + sizes[k % sizes.length]!));
    at += sizes[k % sizes.length]!;
  }
  return out;
}

describe('SyncFingerprintIndex: batches claimed in one transaction decide as one fingerprint at a time', () => {
  const fps = corpus();
  const threshold = 0.85;
  const maxPerBucket = 4;
  const expectedMap = new Map<string, string>();
  const expected = fps.map((f) => oneByOne(expectedMap, f, threshold, maxPerBucket));

  it('the corpus exercises every kind of decision', () => {
    const kinds = new Set(expected.map((c) => (c.duplicate ? c.kind : 'new')));
    expect([...kinds].sort()).toEqual(['exact', 'near', 'new']);
    expect(expected.filter((c) => c.duplicate && c.kind === 'near').length).toBeGreaterThan(20);
  });

  it('SQLite, in batches of 1 to 70: the same claims and the same stored keys and values', async () => {
    const path = join(dir, 'claims.sqlite');
    const store = new SqliteStateStore(path);
    const ix = store.index('dedupe', { threshold, maxPerBucket });
    const got: Claim[] = [];
    for (const b of batches(fps)) got.push(...(await ix.claim(b)));
    await store.close();
    expect(got).toEqual(expected);
    // The stored rows, in the one-by-one model's keys (bucket keys as the tables pack them).
    const tables = SqliteFingerprintTables.open(path, 'dedupe');
    const want = new Map([...expectedMap].map(([k, v]) => [k.startsWith('lsh:') ? `lsh:${tables.bucketKey(k.slice(4))}` : k, v]));
    tables.close();
    const db = new Database(path, { readonly: true });
    const ns = db.prepare("SELECT id FROM fp_ns WHERE name = 'dedupe'").pluck().get();
    const stored = new Map<string, string>();
    for (const r of db.prepare('SELECT hash, owner FROM fp_exact WHERE ns = ?').all(ns) as Array<{ hash: string; owner: string }>) stored.set(`exact:${r.hash}`, r.owner);
    for (const r of db.prepare('SELECT id, sig FROM fp_sig WHERE ns = ?').all(ns) as Array<{ id: string; sig: Buffer }>) stored.set(`sig:${r.id}`, r.sig.toString('base64'));
    for (const r of db.prepare('SELECT k, ids FROM fp_lsh').all() as Array<{ k: number; ids: string }>) stored.set(`lsh:${r.k}`, r.ids);
    db.close();
    expect(stored).toEqual(want);
  });

  it('in memory, the whole corpus as one batch: the same claims', async () => {
    expect(await memoryIndex({ threshold, maxPerBucket }).claim(fps)).toEqual(expected);
  });
});
