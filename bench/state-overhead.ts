/**
 * Shared-state overhead per document: `npm run build && node dist/bench/state-overhead.js [--docs 20000]
 * [--batch 64] [--calls 5] [--url redis://...] [--out bench-state.json]`.
 *
 * What a worker spends on dedupe and the LLM cache for one document, on this process's CPU
 * (process.cpuUsage: user + system), for both backends over the same documents:
 *   - fingerprint: normalised-text SHA-256, MinHash signature, LSH band keys (CPU only, the same for both);
 *   - claim: the atomic check-and-insert of the fingerprints, in batches of --batch (one EVALSHA per
 *     batch with Redis; one SQLite transaction per batch), 4 batches in flight as the dedupe step does;
 *   - cache: --calls LLM calls per document (GEM staged: extract, ground x2, refine x2), each a cache key
 *     (sha256 of the canonical request), a lookup (a miss) and a store of a ~1.5 KB answer, all the
 *     calls of a batch's documents issued at once (pipelined with Redis).
 * With Redis it also reports the server's own CPU (INFO cpu) per document. Without --url it starts a
 * server with scripts/redis/redis.sh on loopback. Documents: bench/corpus.ts (~1.2 KB procedural text).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { DocDedupe } from '../operators/dedupe/doc-dedupe.js';
import { ResponseCache } from '../src/llm/cache.js';
import type { ChatRequest } from '../src/llm/types.js';
import { RedisStateStore } from '../src/store/redis-state.js';
import { SqliteStateStore } from '../src/store/sqlite-state.js';
import type { Fingerprint, StateStore } from '../src/store/state-store.js';
import { writeCorpus } from './corpus.js';

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '64' },
    calls: { type: 'string', default: '5' },
    url: { type: 'string' },
    out: { type: 'string' },
  },
});
const N = Number(args.docs);
const BATCH = Number(args.batch);
const CALLS = Number(args.calls);
const IN_FLIGHT = 4;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Result {
  backend: string;
  docs: number;
  fingerprintCpuMsPerDoc: number;
  claimCpuMsPerDoc: number;
  cacheCpuMsPerDoc: number;
  /** Of cacheCpuMsPerDoc: the content addresses alone (canonical JSON + sha256 of each request), the same for both backends. */
  cacheKeyCpuMsPerDoc: number;
  totalCpuMsPerDoc: number;
  wallMsPerDoc: number;
  serverCpuMsPerDoc?: number;
  /** Redis used_memory growth per document: dedupe keys, and the cache's CALLS entries. */
  serverBytesPerDoc?: { dedupe: number; cache: number };
  duplicates: number;
}

async function serverCpuMs(store: StateStore): Promise<number | undefined> {
  if (!(store instanceof RedisStateStore)) return undefined;
  const info = String(await store.command(['INFO', 'cpu']));
  const f = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (f('used_cpu_user') + f('used_cpu_sys')) * 1000;
}

async function usedMemory(store: StateStore): Promise<number | undefined> {
  if (!(store instanceof RedisStateStore)) return undefined;
  return Number(/used_memory:(\d+)/.exec(String(await store.command(['INFO', 'memory'])))?.[1]);
}

async function measure(name: string, store: StateStore, texts: string[]): Promise<Result> {
  const dedupe = new DocDedupe({ index: store.index(`bench-${Date.now()}`, { threshold: 0.85 }) });
  const cache = new ResponseCache(store.kv(`bench-llm-${Date.now()}`));
  const answer = { content: JSON.stringify({ workflows: [{ name: 'x'.repeat(600), steps: ['y'.repeat(700)] }] }), finishReason: 'stop', promptTokens: 900, completionTokens: 400, model: 'bench' };
  const request = (text: string, call: number): ChatRequest => ({
    stage: 'extract',
    messages: [
      { role: 'system', content: `You extract workflows (call ${call}). ${'Rules. '.repeat(60)}` },
      { role: 'user', content: `<document>\n${text}\n</document>` },
    ],
    temperature: 0,
    maxTokens: 2048,
    seed: call,
  });

  // Fingerprints alone (backend-independent CPU).
  let t0 = cpuMs();
  const fps: Fingerprint[] = texts.map((t, i) => dedupe.fingerprint(`d${i}`, t, `p${i % 12}@${i}`));
  const fingerprintCpu = cpuMs() - t0;

  t0 = cpuMs();
  for (const text of texts) for (let c = 0; c < CALLS; c++) ResponseCache.key('bench', request(text, c));
  const cacheKeyCpu = cpuMs() - t0;

  const server0 = await serverCpuMs(store);
  const mem0 = await usedMemory(store);
  const wall0 = performance.now();
  let duplicates = 0;
  // Claims: batches of BATCH, IN_FLIGHT at once.
  t0 = cpuMs();
  for (let i = 0; i < fps.length; i += BATCH * IN_FLIGHT) {
    const batches: Promise<void>[] = [];
    for (let j = i; j < Math.min(fps.length, i + BATCH * IN_FLIGHT); j += BATCH) {
      batches.push(dedupe.claim(fps.slice(j, j + BATCH)).then((r) => void (duplicates += r.filter((c) => c.duplicate).length)));
    }
    await Promise.all(batches);
  }
  const claimCpu = cpuMs() - t0;
  const mem1 = await usedMemory(store);
  // Cache: CALLS calls per document, a batch of documents' calls at once: miss, then store.
  t0 = cpuMs();
  for (let i = 0; i < texts.length; i += BATCH) {
    const calls: Promise<void>[] = [];
    for (let j = i; j < Math.min(texts.length, i + BATCH); j++) {
      for (let c = 0; c < CALLS; c++) {
        const req = request(texts[j]!, c);
        calls.push(cache.get('bench', req).then((hit) => (hit ? undefined : cache.put('bench', req, answer))));
      }
    }
    await Promise.all(calls);
  }
  const cacheCpu = cpuMs() - t0;
  const wall = performance.now() - wall0;
  const server1 = await serverCpuMs(store);
  const mem2 = await usedMemory(store);
  const per = (x: number) => Math.round((x / texts.length) * 10000) / 10000;
  return {
    backend: name,
    docs: texts.length,
    fingerprintCpuMsPerDoc: per(fingerprintCpu),
    claimCpuMsPerDoc: per(claimCpu),
    cacheCpuMsPerDoc: per(cacheCpu),
    cacheKeyCpuMsPerDoc: per(cacheKeyCpu),
    totalCpuMsPerDoc: per(fingerprintCpu + claimCpu + cacheCpu),
    wallMsPerDoc: per(wall),
    serverCpuMsPerDoc: server0 !== undefined && server1 !== undefined ? per(server1 - server0) : undefined,
    serverBytesPerDoc: mem0 !== undefined ? { dedupe: Math.round((mem1! - mem0) / texts.length), cache: Math.round((mem2! - mem1!) / texts.length) } : undefined,
    duplicates,
  };
}

const dir = await mkdtemp(join(tmpdir(), 'gemflow-bench-state-'));
const script = resolve(import.meta.dirname, '../../scripts/redis/redis.sh');
let url = args.url;
try {
  await writeCorpus(join(dir, 'corpus.jsonl'), N, { seed: 11 });
  const texts = (await readFile(join(dir, 'corpus.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
  if (url === undefined) {
    const { stdout } = await run('bash', [script, 'start', '--dir', join(dir, 'redis')], { env: { ...process.env, REDIS_MAXMEMORY: '2gb' } });
    url = /URL=(\S+)/.exec(stdout)![1]!;
  }
  // Warm-up (JIT, connection, script load) on a tenth of the documents, not reported.
  const warm = texts.slice(0, Math.max(500, Math.floor(N / 10)));
  const results: Result[] = [];
  for (const backend of ['redis', 'sqlite'] as const) {
    const open = async (): Promise<StateStore> =>
      backend === 'redis'
        ? RedisStateStore.open({ url: url!, keyPrefix: `bench:${backend}:`, dedupeTtlSeconds: 3600, cacheTtlSeconds: 3600, timeoutMs: 10_000 })
        : new SqliteStateStore(join(dir, `state-${Date.now()}.sqlite`));
    const w = await open();
    await measure(backend, w, warm);
    await w.close();
    const s = await open();
    results.push(await measure(backend, s, texts));
    await s.close();
  }
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  console.log(`state overhead per document: ${N} documents (${Math.round(bytes / N)} B mean), batch ${BATCH}, ${IN_FLIGHT} batches in flight, ${CALLS} LLM calls per document`);
  console.log('| backend | fingerprint | claim | cache (of which keys) | total (this process) | server CPU | wall | server bytes/doc (dedupe, cache) | duplicates |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const mem = r.serverBytesPerDoc ? `${r.serverBytesPerDoc.dedupe}, ${r.serverBytesPerDoc.cache}` : '-';
    console.log(`| ${r.backend} | ${r.fingerprintCpuMsPerDoc} | ${r.claimCpuMsPerDoc} | ${r.cacheCpuMsPerDoc} (${r.cacheKeyCpuMsPerDoc}) | ${r.totalCpuMsPerDoc} | ${r.serverCpuMsPerDoc ?? '-'} | ${r.wallMsPerDoc} | ${mem} | ${r.duplicates} |`);
  }
  console.log('(ms per document; CPU = user + system of this process)');
  if (args.out) await writeFile(args.out, JSON.stringify({ docs: N, batch: BATCH, calls: CALLS, results }, null, 2));
} finally {
  if (args.url === undefined) await run('bash', [script, 'stop', '--dir', join(dir, 'redis')]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
