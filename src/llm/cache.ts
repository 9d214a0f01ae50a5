import { createHash } from 'node:crypto';
import type { ChatRequest, ChatResult } from './types.js';

/** Where answers live: the run's state store (`StateStore.kv('llm-cache')`, SQLite or Redis) or a KvStore. */
export interface CacheStore {
  get(key: string): string | undefined | Promise<string | undefined>;
  put(key: string, value: string): void | Promise<void>;
}

/** What the cache keeps of an answer. */
export type CachedAnswer = Pick<ChatResult, 'content' | 'finishReason' | 'promptTokens' | 'completionTokens' | 'model'>;

/**
 * Content-addressed cache of LLM answers, so a replay after a crash costs no GPU time for work
 * already done. The key is the sha256 of a canonical JSON of everything that determines the answer:
 * model, messages, response_format (name + schema), temperature, max_tokens and seed.
 *
 * The cache never decides what is good: callers `put` only answers they checked (complete, parseable,
 * valid); `get` is consulted by the inference client before any HTTP call. With the shared (Redis)
 * store every worker sees every answer, so a partition's new owner after a rebalance or a crash does
 * not pay again for calls the old owner had answered. A store that cannot be reached fails the call
 * with `state_unavailable` (an infrastructure failure: the document is retried, never dead-lettered).
 */
export class ResponseCache {
  #hits = 0;
  #misses = 0;

  constructor(private readonly store: CacheStore) {}

  /**
   * The content address of `req` answered by `model`: sha256 of canonicalJson({model, messages (role,
   * content), responseFormat (name, schema), temperature, maxTokens, seed}), written out directly in
   * canonical (sorted) key order, the schema canonicalised once per schema object; the same request
   * object's key is remembered (a lookup and the store after the answer use one computation).
   */
  static key(model: string, req: ChatRequest): string {
    const known = KEYS.get(req);
    if (known?.model === model) return known.key;
    const j = JSON.stringify;
    let s = `{"maxTokens":${j(req.maxTokens)},"messages":[`;
    req.messages.forEach((m, i) => {
      s += `${i > 0 ? ',' : ''}{${m.content === undefined ? '' : `"content":${j(m.content)},`}"role":${j(m.role)}}`;
    });
    const rf = req.responseFormat;
    s += `],"model":${j(model)},"responseFormat":${rf ? `{"name":${j(rf.name)},"schema":${canonicalSchema(rf.schema)}}` : 'null'}`;
    s += `,"seed":${j(req.seed ?? null)}${req.temperature === undefined ? '' : `,"temperature":${j(req.temperature)}`}}`;
    const key = createHash('sha256').update(s).digest('hex');
    KEYS.set(req, { model, key });
    return key;
  }

  async get(model: string, req: ChatRequest): Promise<CachedAnswer | undefined> {
    const raw = await this.store.get(ResponseCache.key(model, req));
    if (raw === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return JSON.parse(raw) as CachedAnswer;
  }

  async put(model: string, req: ChatRequest, answer: CachedAnswer): Promise<void> {
    const { content, finishReason, promptTokens, completionTokens } = answer;
    await this.store.put(ResponseCache.key(model, req), JSON.stringify({ content, finishReason, promptTokens, completionTokens, model: answer.model }));
  }

  stats(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }
}

const KEYS = new WeakMap<ChatRequest, { model: string; key: string }>();
const SCHEMAS = new WeakMap<object, string>();

function canonicalSchema(schema: Record<string, unknown> | undefined): string {
  if (schema === undefined || schema === null) return j(schema ?? null);
  let c = SCHEMAS.get(schema);
  if (c === undefined) SCHEMAS.set(schema, (c = canonicalJson(schema)));
  return c;
}
const j = JSON.stringify;

/** JSON with object keys sorted at every level, so equal values always hash the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
