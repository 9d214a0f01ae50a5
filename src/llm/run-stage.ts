import { z } from 'zod';
import { GemflowError } from '../errors.js';
import type { StageClient } from './client.js';
import { schemaName } from './prompt-sections.js';
import type { ChatMessage, ChatRequest, ChatResult, LlmStage, StageResult } from './types.js';

export interface RunStageOptions {
  /** The request's messages when the caller has already rendered them (default: stage.render(input)). */
  messages?: ChatMessage[];
  temperature: number;
  maxTokens: number;
  seed?: number;
  signal?: AbortSignal;
}

/** JSON Schemas of stage outputs, derived once per zod schema. */
const jsonSchemas = new WeakMap<z.ZodType, Record<string, unknown>>();

export function outputJsonSchema(output: z.ZodType): Record<string, unknown> {
  let schema = jsonSchemas.get(output);
  if (!schema) jsonSchemas.set(output, (schema = z.toJSONSchema(output) as Record<string, unknown>));
  return schema;
}

type Assessment<O> = { ok: true; output: O } | { ok: false; error: string };

/**
 * One LLM stage call with structured output: render, ask, then accept the answer only if it is
 * complete (finish_reason "stop"), JSON, valid against the stage's zod schema and free of
 * `stage.check` problems. A rejected answer gets exactly one repair turn (the bad answer plus the
 * exact error); a second rejection throws `llm_invalid_output`.
 *
 * Caching: an accepted answer is cached under the original request (also when it came from the
 * repair turn), so a replay costs one cache read. A cached answer is re-checked like a fresh one and
 * ignored when it no longer passes (e.g. the stage's check got stricter).
 *
 * `calls` counts the answers judged (1, or 2 with a repair; an ignored cache entry is not counted),
 * and the token counts are summed over them.
 */
export async function runStage<I, O>(client: StageClient, stage: LlmStage<I, O>, input: I, opts: RunStageOptions): Promise<StageResult<O>> {
  const req: ChatRequest = {
    stage: stage.id,
    messages: opts.messages ?? stage.render(input),
    responseFormat: { name: schemaName(stage.id), schema: outputJsonSchema(stage.output) },
    maxTokens: opts.maxTokens,
    temperature: opts.temperature,
    seed: opts.seed,
    signal: opts.signal,
  };
  let first = await client.chat(req);
  let verdict = assess(stage, input, first, opts.maxTokens);
  if (!verdict.ok && first.cached) {
    first = await client.chat(req, { skipCache: true });
    verdict = assess(stage, input, first, opts.maxTokens);
  }
  if (verdict.ok) return accept(client, req, first, verdict.output, [first]);

  // Only accepted answers are cached, always under the original request: a repair turn never hits.
  const repair: ChatRequest = {
    ...req,
    messages: [
      ...req.messages,
      { role: 'assistant', content: first.content },
      {
        role: 'user',
        content: `Your previous answer was rejected: ${verdict.error}\nReply with the corrected answer only: one JSON object that follows the required schema, with no other text.`,
      },
    ],
  };
  const second = await client.chat(repair, { skipCache: true });
  const repaired = assess(stage, input, second, opts.maxTokens);
  if (repaired.ok) return accept(client, req, second, repaired.output, [first, second]);
  throw new GemflowError('llm_invalid_output', `stage ${stage.id}: invalid output after one repair: ${repaired.error}`, {
    retriable: false,
    detail: { stage: stage.id, firstError: verdict.error, repairError: repaired.error },
  });
}

function accept<O>(client: StageClient, req: ChatRequest, final: ChatResult, output: O, judged: ChatResult[]): StageResult<O> {
  if (!final.cached) client.remember?.(req, final);
  return {
    output,
    model: final.model,
    promptTokens: judged.reduce((n, r) => n + r.promptTokens, 0),
    completionTokens: judged.reduce((n, r) => n + r.completionTokens, 0),
    calls: judged.length,
    cached: final.cached,
  };
}

function assess<I, O>(stage: LlmStage<I, O>, input: I, result: ChatResult, maxTokens: number): Assessment<O> {
  if (result.finishReason !== 'stop') {
    return { ok: false, error: `the answer is incomplete (finish_reason "${result.finishReason}"); it must fit in ${maxTokens} tokens.` };
  }
  let value: unknown;
  try {
    value = JSON.parse(result.content);
  } catch (e) {
    return { ok: false, error: `the answer is not valid JSON: ${(e as Error).message}` };
  }
  const parsed = stage.output.safeParse(value);
  if (!parsed.success) return { ok: false, error: `the answer does not match the required schema:\n${z.prettifyError(parsed.error)}` };
  const problems = stage.check?.(parsed.data, input) ?? [];
  if (problems.length > 0) return { ok: false, error: `the answer has these problems:\n- ${problems.join('\n- ')}` };
  return { ok: true, output: parsed.data };
}
