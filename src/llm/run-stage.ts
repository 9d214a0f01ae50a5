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

type Assessment<O> = { ok: true; output: O } | { ok: false; error: string; truncated?: boolean };

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
  if (verdict.ok) return await accept(client, req, first, verdict.output, [first]);

  // Only accepted answers are cached, always under the original request: a repair turn never hits.
  const repair: ChatRequest = {
    ...req,
    messages: [...req.messages, { role: 'assistant', content: first.content }, { role: 'user', content: repairPrompt(verdict, opts.maxTokens) }],
  };
  const second = await client.chat(repair, { skipCache: true });
  const repaired = assess(stage, input, second, opts.maxTokens);
  if (repaired.ok) return await accept(client, req, second, repaired.output, [first, second]);
  // Both attempts' errors go into the message (and so into the dead letter), each with how it ended.
  throw new GemflowError(
    'llm_invalid_output',
    `stage ${stage.id}: invalid output after one repair: first answer (finish_reason ${first.finishReason}, ${first.completionTokens} tokens): ${verdict.error} | ` +
      `repair answer (finish_reason ${second.finishReason}, ${second.completionTokens} tokens): ${repaired.error}`,
    {
      retriable: false,
      detail: {
        stage: stage.id,
        firstError: verdict.error,
        repairError: repaired.error,
        attempts: [
          { error: verdict.error, finishReason: first.finishReason, completionTokens: first.completionTokens, content: first.content.slice(0, 2000) },
          { error: repaired.error, finishReason: second.finishReason, completionTokens: second.completionTokens, content: second.content.slice(0, 2000) },
        ],
      },
    },
  );
}

/** The repair turn: the exact error; an answer cut at the token limit is asked to be shorter. */
function repairPrompt(verdict: { error: string; truncated?: boolean }, maxTokens: number): string {
  if (verdict.truncated) {
    return (
      `Your previous answer was cut off (finish_reason "length"): it reached the limit of ${maxTokens} tokens before the JSON was complete. ` +
      `Reply again with a shorter answer that fits well within ${Math.floor(maxTokens * 0.7)} tokens: fewer items, shorter strings, ` +
      'no optional fields unless needed. Reply with the corrected answer only: one complete JSON object that follows the required schema, with no other text.'
    );
  }
  return `Your previous answer was rejected: ${verdict.error}\nReply with the corrected answer only: one JSON object that follows the required schema, with no other text.`;
}

async function accept<O>(client: StageClient, req: ChatRequest, final: ChatResult, output: O, judged: ChatResult[]): Promise<StageResult<O>> {
  // Awaited: the answer is in the (possibly shared) cache before the document goes on, so a crash
  // after this point never pays for it again; a cache that cannot be reached fails the call (retried).
  if (!final.cached) await client.remember?.(req, final);
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
  if (result.finishReason === 'length') {
    return { ok: false, truncated: true, error: `the answer is incomplete (finish_reason "length"): it was cut at the limit of ${maxTokens} tokens.` };
  }
  if (result.finishReason !== 'stop') {
    return { ok: false, error: `the answer is incomplete (finish_reason "${result.finishReason}"); it must fit in ${maxTokens} tokens.` };
  }
  const json = tolerantJsonParse(result.content);
  if (!json.ok) return { ok: false, error: `the answer is not valid JSON: ${json.error}` };
  const parsed = stage.output.safeParse(json.value);
  if (!parsed.success) return { ok: false, error: `the answer does not match the required schema:\n${z.prettifyError(parsed.error)}` };
  const problems = stage.check?.(parsed.data, input) ?? [];
  if (problems.length > 0) return { ok: false, error: `the answer has these problems:\n- ${problems.join('\n- ')}` };
  return { ok: true, output: parsed.data };
}

/**
 * JSON as real models write it: strict JSON.parse first; then the same text with a code fence
 * removed, cut to its first complete top-level object or array (prose before or after dropped), and
 * raw control characters inside strings escaped (a newline in a string is invalid JSON but a common
 * defect, also of grammar-constrained servers). Nothing else is guessed: a truncated or otherwise
 * broken answer is not repaired here but by the repair turn.
 */
export function tolerantJsonParse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  let firstError: string;
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    firstError = (e as Error).message;
  }
  let t = text.trim();
  const fence = /^```[a-zA-Z0-9_-]*\s*\n?([\s\S]*?)\n?```/m.exec(t);
  if (fence) t = fence[1]!.trim();
  const cut = firstValue(t);
  if (cut === undefined) return { ok: false, error: t.search(/[{[]/) < 0 ? `${firstError} (no JSON object in it)` : `${firstError} (the JSON is incomplete)` };
  try {
    return { ok: true, value: JSON.parse(escapeControlCharsInStrings(cut)) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** The first balanced {...} or [...] in `t` (string-aware), or undefined when it never closes. */
function firstValue(t: string): string | undefined {
  const start = t.search(/[{[]/);
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < t.length; i++) {
    const c = t[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return t.slice(start, i + 1);
    }
  }
  return undefined;
}

const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function escapeControlCharsInStrings(t: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (inString) {
      if (c === '\\') {
        out += c + (t[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '"') inString = false;
      else if (c < ' ') {
        out += CONTROL_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
        continue;
      }
    } else if (c === '"') inString = true;
    out += c;
  }
  return out;
}
