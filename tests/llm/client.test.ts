import { afterEach, describe, expect, it } from 'vitest';
import { EndpointConfig } from '../../src/config/schema.js';
import { HttpInferenceClient, type HttpInferenceClientOptions } from '../../src/llm/client.js';
import type { RetryInfo } from '../../src/llm/retry.js';
import type { ChatRequest } from '../../src/llm/types.js';
import { answering, completion, json, TestServer, type Received } from './test-server.js';

const servers: TestServer[] = [];
const clients: HttpInferenceClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(handler: (r: Received) => void, model?: string): Promise<TestServer> {
  const s = await TestServer.start(handler, model);
  servers.push(s);
  return s;
}

function client(
  urls: string[],
  opts: Partial<HttpInferenceClientOptions> & { endpoint?: Partial<Omit<EndpointConfig, 'url'>> } = {},
): HttpInferenceClient {
  const { endpoint, ...rest } = opts;
  const c = new HttpInferenceClient({
    endpoints: urls.map((url) => EndpointConfig.parse({ url, model: 'test-model', ...endpoint })),
    timeoutMs: 10_000,
    maxRetries: 3,
    retryBaseMs: 1,
    // The test server has no /metrics: keep the configured limits (no low start without gauges).
    adaptive: { noGaugesInitialConcurrency: 1_000_000 },
    ...rest,
  });
  clients.push(c);
  return c;
}

function request(extra: Partial<ChatRequest> = {}): ChatRequest {
  return { stage: 'extract', messages: [{ role: 'user', content: 'hello' }], maxTokens: 64, temperature: 0.5, ...extra };
}

/** A handler that holds requests until `release()`; afterwards it answers at once. */
function gate(content = '{}') {
  const held: Received[] = [];
  let open = false;
  return {
    held,
    handler: (r: Received) => (open ? json(r.res, 200, completion(content)) : held.push(r)),
    release() {
      open = true;
      for (const r of held.splice(0)) json(r.res, 200, completion(content));
    },
  };
}

describe('HttpInferenceClient', () => {
  it('posts an OpenAI chat completion with the json_schema response format', async () => {
    const s = await server((r) => json(r.res, 200, completion('{"ok":true}', { promptTokens: 12, completionTokens: 3 })));
    const c = client([s.url], { endpoint: { apiKey: 'secret' } });
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
    const result = await c.chat(request({ seed: 7, responseFormat: { name: 'gemflow_extract', schema } }));

    expect(s.received[0]!.body).toEqual({
      model: 'test-model',
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 64,
      temperature: 0.5,
      seed: 7,
      response_format: { type: 'json_schema', json_schema: { name: 'gemflow_extract', schema, strict: true } },
    });
    expect(s.received[0]!.headers.authorization).toBe('Bearer secret');
    expect(result).toEqual({ content: '{"ok":true}', finishReason: 'stop', promptTokens: 12, completionTokens: 3, model: 'test-model', cached: false, endpoint: s.url });
    expect(c.usage()).toEqual({ extract: { calls: 1, cachedCalls: 0, promptTokens: 12, completionTokens: 3, errors: {}, requeued: 0, waitedForOther: 0 } });
    const [ep] = c.endpoints();
    expect(ep!.state()).toMatchObject({ url: s.url, ok: 1, errors: 0, inFlight: 0, limit: 16, maxConcurrency: 1024 });
    expect(ep!.latencyEwmaMs).toBeGreaterThanOrEqual(0);
  });

  it('accepts a base URL ending in /v1', async () => {
    const s = await server(answering('{}'));
    expect((await client([`${s.url}/v1/`]).chat(request())).content).toBe('{}');
  });

  it('discovers the model from /v1/models once when the config names none', async () => {
    const s = await server(answering('{}'), 'served-model');
    const c = client([s.url], { endpoint: { model: undefined } });
    await c.start();
    await c.chat(request());
    await c.chat(request());
    expect(s.modelsCalls).toBe(1);
    expect(c.model).toBe('served-model');
    expect(s.received.map((r) => r.body.model)).toEqual(['served-model', 'served-model']);
  });

  it('refuses endpoints that serve different models', async () => {
    const a = await server(answering('{}'), 'model-a');
    const b = await server(answering('{}'), 'model-b');
    await expect(client([a.url, b.url], { endpoint: { model: undefined } }).start()).rejects.toMatchObject({ code: 'llm_model_mismatch' });
  });

  it('retries a 429 after exactly the Retry-After the server asked for', async () => {
    const s = await server((r) => (r.index === 0 ? json(r.res, 429, { error: 'slow down' }, { 'retry-after': '1' }) : json(r.res, 200, completion('{}'))));
    const retries: RetryInfo[] = [];
    const c = client([s.url], { onRetry: (i) => retries.push(i) });
    const result = await c.chat(request());
    expect(result.content).toBe('{}');
    expect(s.received).toHaveLength(2);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ retry: 1, delayMs: 1000, stage: 'extract', endpoint: s.url, error: { code: 'llm_rate_limited' } });
    expect(c.usage().extract!.errors).toEqual({ llm_rate_limited: 1 });
  });

  it('retries a 503 on another endpoint', async () => {
    const down = await server((r) => json(r.res, 503, { error: 'overloaded' }));
    const up = await server(answering('{}'));
    const c = client([down.url, up.url]);
    const result = await c.chat(request());
    expect(result.endpoint).toBe(up.url);
    expect([down.received.length, up.received.length]).toEqual([1, 1]);
    expect(c.endpoints().map((e) => [e.ok, e.errors])).toEqual([[0, 1], [1, 0]]);
    expect(c.usage().extract!.errors).toEqual({ llm_unavailable: 1 });
  });

  it('retries a connection reset by the server', async () => {
    const s = await server((r) => (r.index === 0 ? r.res.socket!.destroy() : json(r.res, 200, completion('{}'))));
    const c = client([s.url]);
    expect((await c.chat(request())).content).toBe('{}');
    expect(s.received).toHaveLength(2);
    expect(c.usage().extract!.errors).toEqual({ llm_network: 1 });
  });

  it('retries a refused connection on another endpoint', async () => {
    const gone = await TestServer.start(answering('{}'));
    await gone.close();
    const up = await server(answering('{}'));
    const c = client([gone.url, up.url]);
    expect((await c.chat(request())).endpoint).toBe(up.url);
    expect(c.usage().extract!.errors).toEqual({ llm_network: 1 });
  });

  it('times out each attempt and gives up after the retries', async () => {
    const s = await server(() => {}); // never answers
    const c = client([s.url], { timeoutMs: 150, maxRetries: 1 });
    const err = await c.chat(request()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'llm_exhausted', cause: { code: 'llm_timeout' }, detail: { attempts: 2, lastCode: 'llm_timeout' } });
    expect(s.received).toHaveLength(2);
    expect(c.usage().extract!.errors).toEqual({ llm_timeout: 2, llm_exhausted: 1 });
    expect(c.endpoints()[0]!.inFlight).toBe(0);
  });

  it('fails a 400 at once as llm_bad_request', async () => {
    const s = await server((r) => json(r.res, 400, { error: 'bad schema' }));
    const err = await client([s.url]).chat(request()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'llm_bad_request', retriable: false, detail: { status: 400 } });
    expect(s.received).toHaveLength(1);
  });

  it('gives up with llm_exhausted when the server keeps failing', async () => {
    const s = await server((r) => json(r.res, 500, { error: 'boom' }));
    const c = client([s.url], { maxRetries: 2 });
    const err = await c.chat(request()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'llm_exhausted', retriable: false, cause: { code: 'llm_server_error' } });
    expect(s.received).toHaveLength(3);
    expect(c.usage().extract!.errors).toEqual({ llm_server_error: 3, llm_exhausted: 1 });
  });

  it('retries an unparseable response body', async () => {
    const s = await server((r) => (r.index === 0 ? r.res.end('<html>proxy error</html>') : json(r.res, 200, completion('{}'))));
    const c = client([s.url]);
    expect((await c.chat(request())).content).toBe('{}');
    expect(c.usage().extract!.errors).toEqual({ llm_bad_response: 1 });
  });

  it('never has more requests in flight than the endpoint limit; the rest wait in the queue', async () => {
    const g = gate();
    const s = await server(g.handler);
    const c = client([s.url], { endpoint: { initialConcurrency: 3, maxConcurrency: 8 } });
    const calls = Array.from({ length: 10 }, () => c.chat(request()));
    await s.arrivals(3);
    expect(c.endpoints()[0]!.inFlight).toBe(3);
    expect(c.waiting).toBe(7);
    expect(g.held).toHaveLength(3);
    g.release();
    await Promise.all(calls);
    expect(s.received).toHaveLength(10);
    expect(s.maxOpen).toBe(3);
    expect([c.endpoints()[0]!.inFlight, c.waiting]).toEqual([0, 0]);
  });

  it('hands new slots to waiting requests as soon as the limit is raised, up to maxConcurrency', async () => {
    const g = gate();
    const s = await server(g.handler);
    const c = client([s.url], { endpoint: { initialConcurrency: 1, maxConcurrency: 3 } });
    const calls = Array.from({ length: 5 }, () => c.chat(request()));
    await s.arrivals(1);
    const [ep] = c.endpoints();
    ep!.limit = 100;
    expect(ep!.limit).toBe(3);
    await s.arrivals(3);
    expect([ep!.inFlight, c.waiting]).toEqual([3, 2]);
    g.release();
    await Promise.all(calls);
    expect(s.maxOpen).toBe(3);
  });

  it('routes each request to the endpoint with the most headroom', async () => {
    const ga = gate();
    const gb = gate();
    const a = await server(ga.handler);
    const b = await server(gb.handler);
    const c = client([a.url, b.url], { endpoint: { initialConcurrency: 4 } });
    const calls = Array.from({ length: 8 }, () => c.chat(request()));
    await Promise.all([a.arrivals(4), b.arrivals(4)]);
    expect([ga.held.length, gb.held.length, c.waiting]).toEqual([4, 4, 0]);
    ga.release();
    gb.release();
    await Promise.all(calls);
  });

  it('stops waiting for a slot, or for the answer, when the caller aborts', async () => {
    const g = gate();
    const s = await server(g.handler);
    const c = client([s.url], { endpoint: { initialConcurrency: 1 } });
    const inFlight = new AbortController();
    const queued = new AbortController();
    const first = c.chat(request({ signal: inFlight.signal })).catch((e: unknown) => e);
    await s.arrivals(1);
    const second = c.chat(request({ signal: queued.signal })).catch((e: unknown) => e);
    await new Promise(setImmediate); // let chat() reach the queue
    expect(c.waiting).toBe(1);
    queued.abort();
    expect(await second).toMatchObject({ code: 'llm_aborted' });
    expect(c.waiting).toBe(0);
    inFlight.abort();
    expect(await first).toMatchObject({ code: 'llm_aborted' });
    expect(s.received).toHaveLength(1);
    expect(c.endpoints()[0]!.inFlight).toBe(0);
    expect(c.usage().extract!.errors).toEqual({ llm_aborted: 2 });
  });
});
