import { afterEach, describe, expect, it } from 'vitest';
import { documentHash, startSimulator, startSimulatorCluster, type SimulatorHandle } from '../../src/simulator/simulator.js';
import { chatJson, postChat, stageBody, STORAGE_DOC } from './fixtures.js';
import { sample, scrape } from './metrics-text.js';

const FAST = { prefillTokensPerSec: 1e7, decodeTokensPerSec: 1e7, maxDecodeTokensPerSecPerSeq: 1e6, timeScale: 0.01 };
const open: SimulatorHandle[] = [];
async function start(opts = {}): Promise<SimulatorHandle> {
  const sim = await startSimulator({ ...FAST, ...opts });
  open.push(sim);
  return sim;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('vLLM endpoints', () => {
  it('reports max_model_len and refuses a request over it with 400 and vLLM\'s message', async () => {
    const sim = await start({ maxModelLen: 1000 });
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: { max_model_len: number }[] };
    expect(models.data[0]!.max_model_len).toBe(1000);
    const content = 'x'.repeat(3600); // 900 tokens at ~4 characters per token
    const res = await postChat(sim.url, { messages: [{ role: 'user', content }], max_tokens: 200 });
    expect(res.status).toBe(400);
    const j = (await res.json()) as { error: { message: string; type: string } };
    expect(j.error.type).toBe('BadRequestError');
    expect(j.error.message).toBe(
      "This model's maximum context length is 1000 tokens. However, you requested 1100 tokens (900 in the messages, 200 in the completion). Please reduce the length of the messages or completion.",
    );
    expect((await postChat(sim.url, { messages: [{ role: 'user', content }], max_tokens: 100 })).status).toBe(200); // exactly fits
    expect((await (await fetch(`${(await start()).url}/v1/models`)).json()) as unknown).toMatchObject({ data: [{ max_model_len: 32768 }] });
  });

  it('serves /v1/models, /health and a plain chat completion in the OpenAI shape', async () => {
    const sim = await start();
    expect(sim.url).toBe(`http://127.0.0.1:${sim.port}`);
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: { id: string; owned_by: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['gemflow-sim-32b']);
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    sim.setFaults({ unhealthy: true });
    expect((await fetch(`${sim.url}/health`)).status).toBe(503);

    const res = await postChat(sim.url, { model: 'gemflow-sim-32b', messages: [{ role: 'user', content: 'Say hello in twenty characters or so.' }], max_tokens: 100 });
    expect(res.status).toBe(200);
    const j = (await res.json()) as {
      object: string;
      model: string;
      choices: { index: number; message: { role: string; content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    expect(j.object).toBe('chat.completion');
    expect(j.model).toBe('gemflow-sim-32b');
    expect(j.choices[0]!.message.role).toBe('assistant');
    expect(j.choices[0]!.message.content).toContain('test double');
    expect(j.choices[0]!.finish_reason).toBe('stop');
    expect(j.usage.prompt_tokens).toBe(Math.ceil('Say hello in twenty characters or so.'.length / 4));
    expect(j.usage.completion_tokens).toBe(Math.ceil(j.choices[0]!.message.content.length / 4));
    expect(j.usage.total_tokens).toBe(j.usage.prompt_tokens + j.usage.completion_tokens);
  });

  it('answers an unknown model with 404 and bad bodies with 400, in the OpenAI error shape', async () => {
    const sim = await start();
    const unknown = await postChat(sim.url, { model: 'gpt-9', messages: [{ role: 'user', content: 'hi' }] });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { type: 'NotFoundError', code: 404, message: expect.stringContaining('gpt-9') } });

    const notJson = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', body: '{"model": ' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: { type: 'BadRequestError', code: 400 } });
    for (const body of [{ model: 'gemflow-sim-32b' }, { messages: [{ role: 'user' }] }, { messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }]) {
      expect((await postChat(sim.url, body)).status).toBe(400);
    }
    const otherSchema = await postChat(sim.url, { messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'invoice', schema: {} } } });
    expect(otherSchema.status).toBe(400);
    expect((await fetch(`${sim.url}/v1/chat/completions`)).status).toBe(405);
    expect((await fetch(`${sim.url}/nope`)).status).toBe(404);
    expect(sim.stats().requests.byStatus).toMatchObject({ '400': 5, '404': 1 });
  });

  it('counts requests by stage and status, and repeated calls by key', async () => {
    const sim = await start();
    const body = stageBody('extract', { document: STORAGE_DOC });
    await chatJson(sim.url, body);
    await chatJson(sim.url, body);
    await chatJson(sim.url, stageBody('extract', { document: `${STORAGE_DOC}\nOne more line.` }));
    const stats = (await (await fetch(`${sim.url}/sim/stats`)).json()) as ReturnType<SimulatorHandle['stats']>;
    expect(stats.requests).toMatchObject({ total: 3, byStage: { extract: 3 }, byStatus: { '200': 3 } });
    expect(stats.calls).toEqual({ distinct: 2, repeated: 1, answered: 2, answeredRepeated: 1, answeredRepeatedDocs: [documentHash(body.messages as { role: string; content: string }[])] });
    expect(documentHash(body.messages as { role: string; content: string }[])).toMatch(/^[0-9a-f]{16}$/);
    expect(stats.tokens.generated).toBeGreaterThan(0);
    expect(stats.capacity.maxOutputTokensPerSec).toBe(1e7);
    expect(stats.busySec).toBeGreaterThan(0);
    expect(stats.model).toBe('gemflow-sim-32b');
  });

  it('kill() makes clients see connection errors, for requests in flight and after', async () => {
    // Slow decode so that the request is still running when the server dies.
    const sim = await start({ decodeTokensPerSec: 50, maxDecodeTokensPerSecPerSeq: 50, timeScale: 1 });
    const inFlight = postChat(sim.url, stageBody('extract', { document: STORAGE_DOC }));
    await expect.poll(async () => sample(await scrape(sim.url), 'vllm:num_requests_running')).toBe(1);
    await sim.kill();
    await expect(inFlight).rejects.toThrow(TypeError);
    await expect(postChat(sim.url, stageBody('extract', { document: STORAGE_DOC }))).rejects.toThrow(TypeError);
  });

  it('close() answers requests in flight with 503 and stops listening', async () => {
    const sim = await start({ decodeTokensPerSec: 50, maxDecodeTokensPerSecPerSeq: 50, timeScale: 1 });
    const inFlight = postChat(sim.url, stageBody('extract', { document: STORAGE_DOC }));
    await expect.poll(() => sim.stats().running).toBe(1);
    await sim.close();
    expect((await inFlight).status).toBe(503);
    await expect(fetch(`${sim.url}/health`)).rejects.toThrow(TypeError);
  });

  it('starts a cluster of replicas on their own ports', async () => {
    const sims = await startSimulatorCluster(3, FAST);
    open.push(...sims);
    expect(new Set(sims.map((s) => s.port)).size).toBe(3);
    expect(sims.map((s) => s.stats().replica)).toEqual([0, 1, 2]);
    for (const s of sims) expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('rejects invalid options', async () => {
    await expect(startSimulator({ maxRunningSeqs: 0 })).rejects.toMatchObject({ code: 'invalid_simulator_options' });
    await expect(startSimulator({ faults: { rates: { reset: 0.7, hang: 0.7 } } })).rejects.toMatchObject({ code: 'invalid_fault_config' });
  });
});
