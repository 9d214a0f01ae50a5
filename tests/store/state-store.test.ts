import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bandKeys, MinHash } from '../../operators/dedupe/minhash.js';
import { EndpointConfig } from '../../src/config/schema.js';
import { LEASE_TTL_MS, ResponseCache } from '../../src/llm/cache.js';
import { HttpInferenceClient } from '../../src/llm/client.js';
import type { ChatRequest } from '../../src/llm/types.js';
import { RedisStateStore } from '../../src/store/redis-state.js';
import { RespClient } from '../../src/store/resp-client.js';
import { SqliteStateStore } from '../../src/store/sqlite-state.js';
import type { Fingerprint, StateStore } from '../../src/store/state-store.js';
import { completion, json, TestServer } from '../llm/test-server.js';
import { changeWords, words } from '../operators/dedupe/text-gen.js';
import { type RedisServer, startRedis } from './redis-server.js';

let redis: RedisServer;
let dir: string;
beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(join(tmpdir(), 'gemflow-state-'));
}, 60_000);
afterAll(async () => {
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const mh = new MinHash();
const fp = (id: string, ws: string[], exact = ws.join(' '), replay = 'p0@1'): Fingerprint => {
  const sig = mh.signature(ws.join(' '));
  return { exact, owner: `${id}\u0000${replay}`, id, sig, bands: bandKeys(sig, 16) };
};
const base = words(300, 7);
let n = 0;

const backends: Array<[string, () => Promise<StateStore>]> = [
  ['sqlite', async () => new SqliteStateStore(join(dir, `s${n++}.sqlite`))],
  ['redis', async () => RedisStateStore.open({ url: redis.url, keyPrefix: `t${n++}:`, dedupeTtlSeconds: 3600, cacheTtlSeconds: 600, timeoutMs: 2000 })],
];

describe.each(backends)('FingerprintIndex on %s', (_name, open) => {
  it('claims new entries; finds exact and near duplicates; a replay is not its own duplicate', async () => {
    const store = await open();
    const ix = store.index('dedupe', { threshold: 0.85 });
    const near = changeWords(base, [10, 150, 290]);
    const other = words(300, 99);
    const r = await ix.claim([
      fp('a', base),
      fp('b', base), // exact copy of a, same batch: decided after a
      fp('c', near, 'near-exact'),
      fp('d', other, 'other-exact'),
      fp('a', base), // the same record again (same position): a replay
      fp('a', base, base.join(' '), 'p1@9'), // the same id and text at another position: an exact repeat
    ]);
    expect(r[0]).toEqual({ duplicate: false });
    expect(r[1]).toEqual({ duplicate: true, kind: 'exact', of: 'a', similarity: 1 });
    expect(r[2]).toMatchObject({ duplicate: true, kind: 'near', of: 'a' });
    const sim = r[2]!.duplicate ? r[2]!.similarity : 0;
    expect(sim).toBeGreaterThanOrEqual(0.85);
    expect(sim).toBeLessThan(1);
    expect(r[3]).toEqual({ duplicate: false });
    expect(r[4]).toEqual({ duplicate: false });
    expect(r[5]).toEqual({ duplicate: true, kind: 'exact', of: 'a', similarity: 1 });
    // A near duplicate stores nothing: c is still unknown, and d's replay (same owner) is no duplicate.
    expect(await ix.claim([fp('d', other, 'other-exact')])).toEqual([{ duplicate: false }]);
    // Other namespaces do not see it.
    expect(await store.index('other', { threshold: 0.85 }).claim([fp('z', base)])).toEqual([{ duplicate: false }]);
    await store.close();
  });

  it('keeps LLM answers by key', async () => {
    const store = await open();
    const kv = store.kv('llm-cache');
    expect(await kv.get('k')).toBeUndefined();
    await kv.put('k', '{"content":"é ✓"}');
    expect(await kv.get('k')).toBe('{"content":"é ✓"}');
    await store.close();
  });
});

describe('RedisStateStore', () => {
  it('claims atomically across clients racing on near duplicates: exactly one of each group wins', async () => {
    const opts = { url: redis.url, keyPrefix: 'race:', dedupeTtlSeconds: 3600, cacheTtlSeconds: 600, timeoutMs: 2000 };
    const workers = await Promise.all([1, 2, 3].map(() => RedisStateStore.open(opts)));
    // 20 groups of 3 near duplicates; each worker gets one of each group, in batches, all at once.
    const groups = Array.from({ length: 20 }, (_, g) => words(200, 1000 + g));
    const results = await Promise.all(
      workers.map((w, k) =>
        w.index('dedupe', { threshold: 0.8 }).claim(groups.map((ws, g) => fp(`g${g}-w${k}`, changeWords(ws, [k * 50 + 5]), `g${g}-w${k}`))),
      ),
    );
    for (let g = 0; g < groups.length; g++) {
      const winners = results.filter((r) => !r[g]!.duplicate);
      expect(winners).toHaveLength(1);
      const losers = results.filter((r) => r[g]!.duplicate);
      for (const l of losers) expect(l[g]).toMatchObject({ duplicate: true, kind: 'near' });
    }
    await Promise.all(workers.map((w) => w.close()));
  });

  it('one worker makes a missing answer, the others wait for it (leases), and a dead worker\'s lease lapses', async () => {
    // Two workers (own clients, own connections) share one Redis and one model server that answers after
    // 600 ms, as when a partition moved while its old owner's call was generating.
    const server = await TestServer.start((r) => setTimeout(() => json(r.res, 200, completion('{"a":"x"}')), 600));
    const endpoints = [EndpointConfig.parse({ url: server.url, model: 'test-model' })];
    const opts = { url: redis.url, keyPrefix: 'lease:', dedupeTtlSeconds: 3600, cacheTtlSeconds: 600, timeoutMs: 2000 };
    const [sa, sb] = await Promise.all([RedisStateStore.open(opts), RedisStateStore.open(opts)]);
    const a = new HttpInferenceClient({ endpoints, timeoutMs: 10_000, maxRetries: 0, cache: new ResponseCache(sa.kv('llm-cache')) });
    const b = new HttpInferenceClient({ endpoints, timeoutMs: 10_000, maxRetries: 0, cache: new ResponseCache(sb.kv('llm-cache')) });
    const req: ChatRequest = { stage: 'extract', messages: [{ role: 'user', content: 'lease me' }], maxTokens: 64, temperature: 0, seed: 1 };
    const first = a.chat(req).then(async (r) => (await a.remember(req, r), r)); // the stage checks it, then remembers it
    await server.arrivals(1);
    const second = await b.chat(req); // the same call on the other worker, while the first is generating
    expect(second).toMatchObject({ content: '{"a":"x"}', cached: true, endpoint: 'cache' });
    expect((await first).cached).toBe(false);
    expect(server.received).toHaveLength(1); // paid once
    expect(b.usage().extract).toMatchObject({ calls: 1, cachedCalls: 1, waitedForOther: 1 });
    // The answer ended the lease: no lease key is left.
    expect(await sa.command(['KEYS', 'lease:llm-cache:lease:*'])).toEqual([]);

    // A worker that took a lease and died (never renewed, never answered): the others wait at most the
    // lease's lifetime, then make the answer themselves.
    const orphan: ChatRequest = { ...req, messages: [{ role: 'user', content: 'orphaned' }] };
    expect(await sa.kv('llm-cache').lease!(ResponseCache.key('test-model', orphan), 'dead-worker', LEASE_TTL_MS)).toBe('leased');
    const t0 = Date.now();
    const third = await b.chat(orphan);
    expect(third.cached).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LEASE_TTL_MS - 1000);
    expect(server.received).toHaveLength(2);
    await Promise.all([a.close(), b.close()]);
    await Promise.all([sa.close(), sb.close()]);
    await server.close();
  }, 30_000);

  it('a worker whose lease lapsed to another neither extends nor ends the new owner\'s lease', async () => {
    const s = await RedisStateStore.open({ url: redis.url, keyPrefix: 'owner:', dedupeTtlSeconds: 3600, cacheTtlSeconds: 600, timeoutMs: 2000 });
    const kv = s.kv('llm-cache');
    // A took the lease and stalled past its lifetime; B took it over.
    expect(await kv.lease!('k', 'worker-a', 50)).toBe('leased');
    await new Promise((r) => setTimeout(r, 120));
    expect(await kv.lease!('k', 'worker-b', 10_000)).toBe('leased');
    // A wakes up: its renewal and its release (both kinds) leave B's lease as it was.
    expect(await kv.renew!('k', 'worker-a', 50)).toBe(false);
    await kv.release!('k', 'worker-a', 0);
    await kv.release!('k', 'worker-a', 10);
    await new Promise((r) => setTimeout(r, 60));
    expect(await kv.lease!('k', 'worker-c', 10_000)).toBe('busy');
    const pttl = Number(await s.command(['PTTL', 'owner:llm-cache:lease:k']));
    expect(pttl).toBeGreaterThan(9_000);
    // B's own renewal and release work.
    expect(await kv.renew!('k', 'worker-b', 20_000)).toBe(true);
    expect(Number(await s.command(['PTTL', 'owner:llm-cache:lease:k']))).toBeGreaterThan(19_000);
    await kv.release!('k', 'worker-b', 0);
    expect(await s.command(['EXISTS', 'owner:llm-cache:lease:k'])).toBe(0);
    // A release with a grace keeps the lease that long, then it is gone.
    expect(await kv.lease!('k', 'worker-c', 10_000)).toBe('leased');
    await kv.release!('k', 'worker-c', 100);
    expect(await kv.lease!('k', 'worker-d', 10_000)).toBe('busy');
    await new Promise((r) => setTimeout(r, 200));
    expect(await kv.lease!('k', 'worker-d', 10_000)).toBe('leased');
    await s.close();
  });

  it('sets a TTL on every key it writes', async () => {
    const store = await RedisStateStore.open({ url: redis.url, keyPrefix: 'ttl:', dedupeTtlSeconds: 1000, cacheTtlSeconds: 500, timeoutMs: 2000 });
    await store.index('dedupe', { threshold: 0.85 }).claim([fp('a', base)]);
    await store.kv('llm-cache').put('k', 'v');
    const keys = (await store.command(['KEYS', 'ttl:*'])) as string[];
    expect(keys.length).toBe(1 + 1 + 16 + 1); // exact, signature, 16 bands, cache entry
    for (const k of keys) {
      const ttl = Number(await store.command(['TTL', k]));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(k.startsWith('ttl:llm-cache:') ? 500 : 1000);
    }
    await store.close();
  });

  it('fails with state_unavailable while the server is down, and works again once it is back, with nothing lost', async () => {
    const own = await startRedis();
    try {
      const store = await RedisStateStore.open({ url: own.url, keyPrefix: 'o:', dedupeTtlSeconds: 3600, cacheTtlSeconds: 600, timeoutMs: 1000 });
      const ix = store.index('dedupe', { threshold: 0.85 });
      expect(await ix.claim([fp('a', base)])).toEqual([{ duplicate: false }]);
      await own.kill();
      await expect(ix.claim([fp('b', base)])).rejects.toMatchObject({ code: 'state_unavailable', message: expect.stringContaining('unavailable') });
      await expect(store.kv('llm-cache').get('k')).rejects.toMatchObject({ code: 'state_unavailable' });
      await own.restart();
      // a's claim survived the SIGKILL (append-only file); b is its duplicate.
      expect(await ix.claim([fp('b', base)])).toEqual([{ duplicate: true, kind: 'exact', of: 'a', similarity: 1 }]);
      await store.close();
    } finally {
      await own.stop();
    }
  });

  it('a server that stops answering (SIGSTOP) fails waiting commands after timeoutMs; it works again once resumed', async () => {
    const own = await startRedis();
    const pid = Number(await readFile(join(own.dir, 'pid'), 'utf8'));
    try {
      const store = await RedisStateStore.open({ url: own.url, keyPrefix: 'h:', dedupeTtlSeconds: 3600, cacheTtlSeconds: 600, timeoutMs: 800 });
      const kv = store.kv('llm-cache');
      await kv.put('k', 'v');
      process.kill(pid, 'SIGSTOP');
      await expect(kv.get('k')).rejects.toMatchObject({ code: 'state_unavailable', message: expect.stringContaining('no reply within 800 ms') });
      process.kill(pid, 'SIGCONT');
      expect(await kv.get('k')).toBe('v');
      await store.close();
    } finally {
      process.kill(pid, 'SIGCONT');
      await own.stop();
    }
  });

    it('refuses a server that cannot be reached at start, naming it without the password', async () => {
    await expect(
      RedisStateStore.open({ url: 'redis://user:s3cret@127.0.0.1:1', keyPrefix: 'x:', dedupeTtlSeconds: 1, cacheTtlSeconds: 1, timeoutMs: 500 }),
    ).rejects.toMatchObject({ code: 'state_unavailable', message: expect.not.stringContaining('s3cret') });
  });
});

describe('RespClient', () => {
  it('pipelines commands of one tick and keeps replies in order, binary values included', async () => {
    const c = new RespClient(redis.url);
    const bin = Buffer.from([0, 1, 2, 255, 13, 10, 36]);
    const replies = await Promise.all([
      c.command(['SET', 'resp:a', bin]),
      c.command(['STRLEN', 'resp:a']),
      c.command(['GET', 'resp:none']),
      c.command(['MGET', 'resp:none', 'resp:a']),
      c.command(['INCR', 'resp:n']),
      c.command(['LPUSH', 'resp:a', 'x']), // WRONGTYPE: only this command fails
    ].map((p) => p.catch((e: { code: string }) => e.code)));
    expect(replies.slice(0, 3)).toEqual(['OK', 7, null]);
    expect((replies[3] as unknown[])[0]).toBeNull();
    expect(replies[4]).toBe(1);
    expect(replies[5]).toBe('state_unavailable');
    await c.close();
  });
});
