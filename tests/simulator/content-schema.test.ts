import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relevanceLlmStage } from '../../operators/relevance-llm/index.js';
import { ExtractOutput } from '../../operators/extract/schema.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/simulator.js';
import { chatJson, NEWS_DOC, postChat, STORAGE_DOC } from './fixtures.js';

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ prefillTokensPerSec: 1e7, decodeTokensPerSec: 1e7, maxDecodeTokensPerSecPerSeq: 1e6, timeScale: 0.01 });
});
afterAll(() => sim.close());

const body = (name: string, schema: unknown, user: string) => ({
  model: 'gemflow-sim-32b',
  messages: [{ role: 'user', content: user }],
  max_tokens: 2048,
  response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } },
});

describe('simulator answers from the request schema', () => {
  it('answers an unknown gemflow_<stage> with a value that satisfies its schema', async () => {
    const Out = z.strictObject({
      language: z.enum(['en', 'de', 'fr']),
      confidence: z.number().min(0).max(1),
      count: z.number().int().min(3).max(9),
      tags: z.array(z.string().min(2)).min(2).max(4),
      ok: z.boolean(),
      reason: z.string().min(10).max(200),
      nested: z.strictObject({ id: z.string(), when: z.string().optional(), kind: z.union([z.literal('a'), z.literal('b')]) }),
      maybe: z.string().nullable(),
    });
    const schema = z.toJSONSchema(Out) as Record<string, unknown>;
    const a = await chatJson(sim.url, body('gemflow_language_check', schema, `<document>\n${STORAGE_DOC}\n</document>`));
    expect(Out.parse(a)).toBeTruthy();
    // Deterministic.
    expect(await chatJson(sim.url, body('gemflow_language_check', schema, `<document>\n${STORAGE_DOC}\n</document>`))).toEqual(a);
  });

  it('answers the relevance_llm stage from the text: step lists score high, news low, within its schema', async () => {
    const schema = z.toJSONSchema(relevanceLlmStage.output) as Record<string, unknown>;
    const ask = async (doc: string) => relevanceLlmStage.output.parse(await chatJson(sim.url, { ...body('gemflow_relevance_llm', schema, ''), messages: relevanceLlmStage.render({ text: doc }) }));
    const howto = await ask(STORAGE_DOC);
    const news = await ask(NEWS_DOC);
    expect(howto.score).toBeGreaterThanOrEqual(0.6);
    expect(news.score).toBeLessThan(0.2);
    expect(howto.reason).toMatch(/steps/);
  });

  it("fails loudly when a known stage's answer does not match the operator's declared schema (drift)", async () => {
    // An extract schema that has drifted: it now requires a field the simulator does not write.
    const drifted = z.toJSONSchema(ExtractOutput.extend({ language: z.string() })) as Record<string, unknown>;
    const res = await postChat(sim.url, body('gemflow_extract', drifted, `<document>\n${STORAGE_DOC}\n</document>`));
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/gemflow_extract answer does not match the request's response_format schema.*language/);
    // The operator's own schema passes.
    const ok = await postChat(sim.url, body('gemflow_extract', z.toJSONSchema(ExtractOutput), `<document>\n${STORAGE_DOC}\n</document>`));
    expect(ok.status).toBe(200);
  });
});
