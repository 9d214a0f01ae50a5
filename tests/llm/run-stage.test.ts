import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EndpointConfig } from '../../src/config/schema.js';
import { ResponseCache } from '../../src/llm/cache.js';
import { HttpInferenceClient } from '../../src/llm/client.js';
import { section } from '../../src/llm/prompt-sections.js';
import { outputJsonSchema, runStage } from '../../src/llm/run-stage.js';
import type { ChatMessage, LlmStage } from '../../src/llm/types.js';
import { KvStore } from '../../src/store/kv-store.js';
import { completion, json, TestServer } from './test-server.js';

const Output = z.object({ tools: z.array(z.string()).min(1), summary: z.string() });
type Output = z.infer<typeof Output>;
interface Input {
  text: string;
  mustUse: string;
}

function stage(check?: (o: Output, i: Input) => string[]): LlmStage<Input, Output> {
  return {
    id: 'demo',
    promptVersion: 'demo.v1',
    output: Output,
    render: (i) => [
      { role: 'system', content: 'Extract the tools.' },
      { role: 'user', content: section('document', i.text) },
    ],
    check: check ?? ((o, i) => (o.tools.includes(i.mustUse) ? [] : [`tool "${i.mustUse}" is missing`])),
  };
}

const input: Input = { text: 'Use the search tool.', mustUse: 'search' };
const good = JSON.stringify({ tools: ['search'], summary: 'searching' });
const opts = { temperature: 0.2, maxTokens: 128, seed: 3 };

describe('runStage', () => {
  let dir: string;
  let server: TestServer;
  let store: KvStore;
  let client: HttpInferenceClient;
  /** What the server answers, in order; the last one repeats. */
  let script: { content: string; finishReason?: string }[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gemflow-stage-'));
    script = [];
    server = await TestServer.start((r) => {
      const next = script[Math.min(r.index, script.length - 1)]!;
      json(r.res, 200, completion(next.content, { finishReason: next.finishReason }));
    });
    store = KvStore.open(join(dir, 'state.sqlite'), 'llm');
    client = new HttpInferenceClient({
      endpoints: [EndpointConfig.parse({ url: server.url, model: 'test-model' })],
      timeoutMs: 10_000,
      maxRetries: 0,
      cache: new ResponseCache(store),
    });
  });
  afterEach(async () => {
    await client.close();
    await server.close();
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The user message of the repair turn, after checking the turn quotes the bad answer. */
  function repairMessage(bad: string): string {
    const messages = server.received[1]!.body.messages as ChatMessage[];
    expect(messages.slice(0, 2)).toEqual(server.received[0]!.body.messages);
    expect(messages[2]).toEqual({ role: 'assistant', content: bad });
    expect(messages[3]!.role).toBe('user');
    return messages[3]!.content;
  }

  it('asks for the stage schema, accepts a valid answer and caches it', async () => {
    script = [{ content: good }];
    const result = await runStage(client, stage(), input, opts);
    expect(result).toEqual({ output: JSON.parse(good), model: 'test-model', promptTokens: 10, completionTokens: 5, calls: 1, cached: false });
    expect(server.received[0]!.body).toMatchObject({
      temperature: 0.2,
      max_tokens: 128,
      seed: 3,
      response_format: { type: 'json_schema', json_schema: { name: 'gemflow_demo', schema: z.toJSONSchema(Output), strict: true } },
    });
    expect(outputJsonSchema(Output)).toBe(outputJsonSchema(Output)); // derived once

    const again = await runStage(client, stage(), input, opts);
    expect(again).toMatchObject({ output: JSON.parse(good), calls: 1, cached: true });
    expect(server.received).toHaveLength(1);
  });

  it('repairs a malformed answer once, quoting the parse error, and caches the repaired answer', async () => {
    script = [{ content: '{"tools": ["search"' }, { content: good }];
    const result = await runStage(client, stage(), input, opts);
    expect(result).toMatchObject({ output: JSON.parse(good), calls: 2, promptTokens: 20, completionTokens: 10, cached: false });
    const text = repairMessage('{"tools": ["search"');
    expect(text).toContain('not valid JSON');
    expect(text).toContain(jsonError('{"tools": ["search"'));

    expect(await runStage(client, stage(), input, opts)).toMatchObject({ cached: true, calls: 1 });
    expect(server.received).toHaveLength(2);
  });

  it('repairs an answer the zod schema rejects, quoting the schema error', async () => {
    script = [{ content: JSON.stringify({ tools: [], summary: 1 }) }, { content: good }];
    const result = await runStage(client, stage(), input, opts);
    expect(result.calls).toBe(2);
    const text = repairMessage(JSON.stringify({ tools: [], summary: 1 }));
    expect(text).toContain('does not match the required schema');
    expect(text).toContain(z.prettifyError(Output.safeParse({ tools: [], summary: 1 }).error!));
  });

  it('repairs an answer the stage check rejects, quoting the problem', async () => {
    const wrongTool = JSON.stringify({ tools: ['browse'], summary: 's' });
    script = [{ content: wrongTool }, { content: good }];
    expect((await runStage(client, stage(), input, opts)).output.tools).toEqual(['search']);
    expect(repairMessage(wrongTool)).toContain('tool "search" is missing');
  });

  it('repairs an answer cut off at max_tokens', async () => {
    script = [{ content: '{"tools": ["sea', finishReason: 'length' }, { content: good }];
    expect((await runStage(client, stage(), input, opts)).calls).toBe(2);
    expect(repairMessage('{"tools": ["sea')).toContain('finish_reason "length"');
  });

  it('fails with llm_invalid_output after two bad answers and caches nothing', async () => {
    script = [{ content: 'not json' }, { content: JSON.stringify({ tools: ['browse'], summary: 's' }) }];
    const err = await runStage(client, stage(), input, opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'llm_invalid_output', retriable: false, detail: { stage: 'demo' } });
    expect((err as { detail: { repairError: string } }).detail.repairError).toContain('tool "search" is missing');
    expect(server.received).toHaveLength(2);

    script = [{ content: good }];
    expect(await runStage(client, stage(), input, opts)).toMatchObject({ cached: false, calls: 1 });
    expect(server.received).toHaveLength(3);
  });

  it('ignores a cached answer that no longer passes the check, and replaces it', async () => {
    const other = JSON.stringify({ tools: ['browse'], summary: 's' });
    script = [{ content: other }, { content: good }];
    await runStage(client, stage(() => []), input, opts); // lenient check: "browse" accepted and cached
    const result = await runStage(client, stage(), input, opts); // strict check rejects the cached answer
    expect(result).toMatchObject({ output: JSON.parse(good), calls: 1, cached: false });
    expect(server.received).toHaveLength(2);
    expect(await runStage(client, stage(), input, opts)).toMatchObject({ cached: true, output: JSON.parse(good) });
    expect(server.received).toHaveLength(2);
  });
});

function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('parsed');
}
