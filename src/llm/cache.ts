import { createHash } from 'node:crypto';
import type { AsyncKv } from '../store/state-store.js';
import type { ChatRequest, ChatResult } from './types.js';

/** Where answers live: the run's state store (`StateStore.kv('llm-cache')`, SQLite or Redis) or a KvStore. */
/** Shared stores (AsyncKv) add leases, so that one worker makes a missing answer and the others wait. */
export interface CacheStore extends Pick<AsyncKv, 'lease' | 'renew' | 'release'> {
  get(key: string): string | undefined | Promise<string | undefined>;
  put(key: string, value: string): void | Promise<void>;
}

/** A lease on a missing answer: renewed while the call runs; `end` when it is over. */
export interface AnswerLease {
  /** ok: the answer came (the stage checks it and `put`s it, which ends the lease; else it lapses after a grace). */
  end(ok: boolean): void;
}

/** How long a lease lives unless renewed (a dead worker's lapse within it), and its renewal period. */
export const LEASE_TTL_MS = 5_000;
/** After an answer came: how long the lease waits for the stage's check and `put`. */
export const LEASE_GRACE_MS = 2_000;
const OWNER = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

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

  /**
   * The cached answer, or, with a shared store, a lease to make it (`lease`) or `busy`: another worker
   * is making it (wait, then look again). Without leases: the answer or a plain miss (`lease` undefined).
   */
  async lookup(model: string, req: ChatRequest): Promise<{ answer: CachedAnswer } | { lease?: AnswerLease } | 'busy'> {
    const store = this.store;
    if (!store.lease) {
      const answer = await this.get(model, req);
      return answer ? { answer } : {};
    }
    const key = ResponseCache.key(model, req);
    const r = await store.lease(key, OWNER, LEASE_TTL_MS);
    if (r === 'busy') return 'busy';
    if (r !== 'leased') {
      this.#hits++;
      return { answer: JSON.parse(r.value) as CachedAnswer };
    }
    this.#misses++;
    const timer = setInterval(() => void store.renew!(key, OWNER, LEASE_TTL_MS).catch(() => {}), LEASE_TTL_MS / 3);
    timer.unref();
    let ended = false;
    return {
      lease: {
        end: (ok) => {
          if (ended) return;
          ended = true;
          clearInterval(timer);
          void store.release!(key, OWNER, ok ? LEASE_GRACE_MS : 0).catch(() => {});
        },
      },
    };
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
