import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EndpointConfig } from '../../src/config/schema.js';
import { canonicalJson, ResponseCache } from '../../src/llm/cache.js';
import { HttpInferenceClient } from '../../src/llm/client.js';
import type { ChatRequest } from '../../src/llm/types.js';
import { KvStore } from '../../src/store/kv-store.js';
import { answering, TestServer } from './test-server.js';

const req: ChatRequest = {
  stage: 'extract',
  messages: [{ role: 'user', content: 'hello' }],
  responseFormat: { name: 'gemflow_extract', schema: { type: 'object', required: ['a'], properties: { a: { type: 'string' } } } },
  maxTokens: 64,
  temperature: 0.5,
  seed: 1,
};

describe('ResponseCache', () => {
  let dir: string;
  const closers: (() => unknown)[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gemflow-cache-'));
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await rm(dir, { recursive: true, force: true });
  });

  function open(): { store: KvStore; cache: ResponseCache } {
    const store = KvStore.open(join(dir, 'state.sqlite'), 'llm');
    closers.push(() => store.close());
    return { store, cache: new ResponseCache(store) };
  }

  it('addresses answers by everything that determines them, and nothing else', () => {
    const key = ResponseCache.key('m', req);
    const reordered = { ...req, responseFormat: { name: 'gemflow_extract', schema: { properties: { a: { type: 'string' } }, required: ['a'], type: 'object' } } };
    expect(ResponseCache.key('m', reordered)).toBe(key);
    expect(ResponseCache.key('m', { ...req, stage: 'other', signal: new AbortController().signal })).toBe(key);
    const variants: [string, ChatRequest][] = [
      ['other-model', req],
      ['m', { ...req, temperature: 0.6 }],
      ['m', { ...req, maxTokens: 65 }],
      ['m', { ...req, seed: undefined }],
      ['m', { ...req, messages: [{ role: 'system', content: 'hello' }] }],
      ['m', { ...req, responseFormat: { ...req.responseFormat!, name: 'gemflow_ground' } }],
      ['m', { ...req, responseFormat: undefined }],
    ];
    const keys = new Set([key, ...variants.map(([model, r]) => ResponseCache.key(model, r))]);
    expect(keys.size).toBe(variants.length + 1);
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });

  it('keeps the addresses of earlier versions: sha256 of the canonical JSON of the identity', () => {
    const identity = (model: string, r: ChatRequest) => ({
      model,
      messages: r.messages.map((m) => ({ role: m.role, content: m.content })),
      responseFormat: r.responseFormat ? { name: r.responseFormat.name, schema: r.responseFormat.schema } : null,
      temperature: r.temperature,
      maxTokens: r.maxTokens,
      seed: r.seed ?? null,
    });
    const unicode: ChatRequest = { ...req, messages: [{ role: 'user', content: 'é "quoted" \u2028 ✓ \ud83d\ude00\n' }] };
    for (const r of [req, unicode, { ...req, seed: undefined }, { ...req, responseFormat: undefined }, { ...req, temperature: 0.25 }]) {
      expect(ResponseCache.key('m', r)).toBe(createHash('sha256').update(canonicalJson(identity('m', r))).digest('hex'));
    }
  });

  it('counts hits and misses', async () => {
    const { cache } = open();
    expect(await cache.get('m', req)).toBeUndefined();
    await cache.put('m', req, { content: '{"a":"x"}', finishReason: 'stop', promptTokens: 3, completionTokens: 2, model: 'm' });
    expect(await cache.get('m', req)).toEqual({ content: '{"a":"x"}', finishReason: 'stop', promptTokens: 3, completionTokens: 2, model: 'm' });
    expect(cache.stats()).toEqual({ hits: 1, misses: 1 });
  });

  it('answers remembered requests without any HTTP request, also after reopening the store', async () => {
    const server = await TestServer.start(answering('{"a":"x"}'));
    closers.push(() => server.close());
    const endpoints = [EndpointConfig.parse({ url: server.url, model: 'test-model' })];
    const first = open();
    const c1 = new HttpInferenceClient({ endpoints, timeoutMs: 10_000, maxRetries: 0, cache: first.cache });
    const fresh = await c1.chat(req);
    expect(fresh.cached).toBe(false);
    expect((await c1.chat(req)).cached).toBe(false); // not remembered yet: the client never caches on its own
    await c1.remember(req, fresh);
    const hit = await c1.chat(req);
    expect(hit).toEqual({ ...fresh, cached: true, endpoint: 'cache' });
    expect(server.received).toHaveLength(2);
    expect(c1.usage().extract).toEqual({ calls: 3, cachedCalls: 1, promptTokens: 20, completionTokens: 10, errors: {}, requeued: 0, waitedForOther: 0 });
    expect((await c1.chat(req, { skipCache: true })).cached).toBe(false);
    expect(server.received).toHaveLength(3);
    await c1.close();
    first.store.close();

    const second = open();
    const c2 = new HttpInferenceClient({ endpoints, timeoutMs: 10_000, maxRetries: 0, cache: second.cache });
    closers.push(() => c2.close());
    expect((await c2.chat(req)).cached).toBe(true);
    expect(server.received).toHaveLength(3);
    expect(second.cache.stats()).toEqual({ hits: 1, misses: 0 });
  });
});
