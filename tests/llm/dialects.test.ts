import { afterEach, describe, expect, it } from 'vitest';
import { EndpointConfig } from '../../src/config/schema.js';
import { HttpInferenceClient, type HttpInferenceClientOptions } from '../../src/llm/client.js';
import { ErrorRateMonitor } from '../../src/llm/error-rate.js';
import { runStage } from '../../src/llm/run-stage.js';
import type { StructuredOutputDialect } from '../../src/llm/structured-output.js';
import { startSimulator, type SimulatorHandle, type SimulatorStartOptions } from '../../src/simulator/index.js';
import type { SimulatorDialect } from '../../src/simulator/options.js';
import { z } from 'zod';

const sims: SimulatorHandle[] = [];
const clients: HttpInferenceClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function sim(opts: SimulatorStartOptions): Promise<SimulatorHandle> {
  const s = await startSimulator({ timeScale: 0.001, ...opts });
  sims.push(s);
  return s;
}

type Notice = { level: string; message: string };

function client(url: string, opts: Partial<HttpInferenceClientOptions> & { endpoint?: Partial<EndpointConfig> } = {}): { c: HttpInferenceClient; notices: Notice[] } {
  const notices: Notice[] = [];
  const { endpoint, ...rest } = opts;
  const c = new HttpInferenceClient({
    endpoints: [EndpointConfig.parse({ url, ...endpoint })],
    timeoutMs: 10_000,
    maxRetries: 2,
    retryBaseMs: 1,
    onNotice: (level, message) => notices.push({ level, message }),
    ...rest,
  });
  clients.push(c);
  return { c, notices };
}

/** A stage the simulator answers by rule: its probe schema ({"ok": true}). */
const probeStage = {
  id: 'probe',
  promptVersion: 'probe.v1',
  output: z.object({ ok: z.boolean() }),
  render: () => [{ role: 'user' as const, content: 'Reply with the JSON object {"ok": true}.' }],
};

const SPOKEN: Array<[StructuredOutputDialect, SimulatorDialect | undefined]> = [
  ['json_schema', 'json_schema'],
  ['json_object_schema', 'json_object_schema'],
  ['structured_outputs', 'structured_outputs'],
  ['guided_json', 'guided_json'],
  ['grammar', 'grammar'],
  ['none', undefined],
];

describe('structured-output dialects against the simulator', () => {
  for (const [dialect, spoken] of SPOKEN) {
    it(`${dialect}: the request carries the schema the way that dialect does, and the answer passes the checks`, async () => {
      // A simulator speaking only this dialect (for none: one speaking only json_object_schema).
      const s = await sim({ dialects: [spoken ?? 'json_object_schema'] });
      const { c } = client(s.url, { structuredOutput: dialect });
      const r = await runStage(c, probeStage, undefined, { temperature: 0, maxTokens: 64 });
      expect(r.output).toEqual({ ok: true });
      expect(r.calls).toBe(1);
      expect(s.stats().requests.byDialect).toEqual({ [dialect]: 1 });
      expect(s.stats().requests.byStatus).toEqual({ '200': 1 });
    });
  }

  it('auto: a server of known identity is trusted without a test request', async () => {
    const s = await sim({});
    const { c, notices } = client(s.url);
    await c.start();
    expect(c.endpoints()[0]!.dialect).toBe('json_schema');
    expect(s.stats().requests.total).toBe(0);
    expect(notices.map((n) => n.message)).toContainEqual(expect.stringContaining('json_schema (server identity gemflow-simulator)'));
  });

  it('auto: an unknown server is probed once, its rejections skipped, and the dialect remembered', async () => {
    // Speaks like llama-cpp-python 0.3.36: json_object + schema only, json_schema answered HTTP 500.
    const s = await sim({ dialects: ['json_object_schema'] });
    const { c, notices } = client(s.url);
    await c.start();
    expect(c.endpoints()[0]!.dialect).toBe('json_object_schema');
    const r = await runStage(c, probeStage, undefined, { temperature: 0, maxTokens: 64 });
    await runStage(c, probeStage, undefined, { temperature: 0, maxTokens: 64 });
    expect(r.output).toEqual({ ok: true });
    // One rejected probe (json_schema), one accepted probe, then two calls in the remembered dialect.
    expect(s.stats().requests.byDialect).toEqual({ json_schema: 1, json_object_schema: 3 });
    expect(s.stats().requests.byStatus).toEqual({ '500': 1, '200': 3 });
    const notice = notices.find((n) => n.message.includes('json_object_schema (probed'))!;
    expect(notice.message).toContain("Input should be 'text' or 'json_object'");
  });

  it('auto: a server that takes no schema dialect falls back to none (schema in the prompt)', async () => {
    const s = await sim({ dialects: ['structured_outputs'], ownedBy: 'someone' });
    const { c, notices } = client(s.url);
    await c.start();
    expect(c.endpoints()[0]!.dialect).toBe('none');
    expect(notices.filter((n) => n.level === 'warn').map((n) => n.message)).toContainEqual(expect.stringContaining('none (the server accepts no schema dialect'));
    expect((await runStage(c, probeStage, undefined, { temperature: 0, maxTokens: 64 })).output).toEqual({ ok: true });
  });

  it('a server that rejects the configured dialect: llm_request_rejected with its own message, not retried, not held against the replica', async () => {
    const s = await sim({ dialects: ['json_object_schema'] });
    const { c } = client(s.url, { structuredOutput: 'json_schema' });
    const e = (await runStage(c, probeStage, undefined, { temperature: 0, maxTokens: 64 }).catch((x: unknown) => x)) as { code: string; message: string; retriable: boolean };
    expect(e.code).toBe('llm_request_rejected');
    expect(e.retriable).toBe(false);
    expect(e.message).toContain("Input should be 'text' or 'json_object'");
    expect(e.message).toContain('HTTP 500');
    expect(s.stats().requests.total).toBe(1); // not retried
    expect(c.endpoints()[0]!.ejected).toBe(false);
    // The run's monitor turns it into a stop at once, with the server's words.
    const monitor = new ErrorRateMonitor(200, 0.5);
    let stop: { code: string; message: string } | undefined;
    try {
      monitor.record(false, undefined, e);
    } catch (x) {
      stop = x as { code: string; message: string };
    }
    expect(stop?.code).toBe('llm_request_rejected');
    expect(stop?.message).toContain("Input should be 'text' or 'json_object'");
  });
});
