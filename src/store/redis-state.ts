import { createHash } from 'node:crypto';
import { errorMessage, GemflowError } from '../errors.js';
import { redact, RespClient, type RespValue } from './resp-client.js';
import { type AsyncKv, type Claim, type Fingerprint, type FingerprintIndex, type FingerprintIndexOptions, NOT_DUPLICATE, type StateStore, sigBytes } from './state-store.js';

export interface RedisStateOptions {
  url: string;
  /** Prefix of every key (several pipelines can share one server). */
  keyPrefix: string;
  /** TTL of dedupe keys (0: none). */
  dedupeTtlSeconds: number;
  /** TTL of LLM cache entries (0: none). */
  cacheTtlSeconds: number;
  /** A command without a reply after this long fails (state_unavailable). */
  timeoutMs: number;
}

/**
 * The claim of a batch of fingerprints (semantics on FingerprintIndex), run inside Redis as one Lua
 * script: atomic against every other worker, one round trip per batch.
 * ARGV: prefix, ttl, threshold, maxPerBucket, bands, then per fingerprint: exact, owner, id, sig
 * (raw bytes, '' for none) and `bands` band keys. Keys: <prefix>x:<exact> -> owner,
 * <prefix>s:<id> -> signature, <prefix>b:<band>:<hash> -> ids (newline-separated).
 * Reply per fingerprint: {0} new or own replay, {1, of} exact, {2, of, similarity} near.
 */
const CLAIM_SCRIPT = `
local p, ttl, threshold, maxPer, B = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function put(k, v)
  if ttl > 0 then redis.call('SET', k, v, 'EX', ttl) else redis.call('SET', k, v) end
end
local out = {}
local i = 6
while i <= #ARGV do
  local exact, owner, id, sig = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local ek = p .. 'x:' .. exact
  local first = redis.call('GET', ek)
  local res
  if first then
    local sep = string.find(first, '\\0', 1, true)
    if first == owner or ((not sep) and first == id) then res = {0}
    elseif sep then res = {1, string.sub(first, 1, sep - 1)}
    else res = {1, first} end
  elseif B > 0 and sig ~= '' then
    local n = string.len(sig) / 4
    local best, bestSim = nil, -1
    local seen = {}
    for b = 1, B do
      local ids = redis.call('GET', p .. 'b:' .. ARGV[i + 3 + b])
      if ids then
        for cand in string.gmatch(ids, '[^\\n]+') do
          if cand ~= id and not seen[cand] then
            seen[cand] = true
            local other = redis.call('GET', p .. 's:' .. cand)
            if other and string.len(other) == string.len(sig) then
              local eq = 0
              for k = 1, string.len(sig), 4 do
                if string.sub(sig, k, k + 3) == string.sub(other, k, k + 3) then eq = eq + 1 end
              end
              local sim = eq / n
              if sim >= threshold and sim > bestSim then best, bestSim = cand, sim end
            end
          end
        end
      end
    end
    if best then
      res = {2, best, tostring(bestSim)}
    else
      local sk = p .. 's:' .. id
      if redis.call('EXISTS', sk) == 0 then
        put(sk, sig)
        for b = 1, B do
          local bk = p .. 'b:' .. ARGV[i + 3 + b]
          local ids = redis.call('GET', bk)
          if not ids then put(bk, id)
          else
            local count = 1
            for _ in string.gmatch(ids, '\\n') do count = count + 1 end
            if count < maxPer then put(bk, ids .. '\\n' .. id) elseif ttl > 0 then redis.call('EXPIRE', bk, ttl) end
          end
        end
      end
    end
  end
  if not res then
    put(ek, owner)
    res = {0}
  end
  out[#out + 1] = res
  i = i + 4 + B
end
return out
`;
/** Extends a lease only while `owner` holds it; 1 if it did. */
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** Ends a lease (after ARGV[2] ms; 0: now) only while `owner` holds it. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then if tonumber(ARGV[2]) > 0 then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return redis.call('DEL', KEYS[1]) end return 0`;
const CLAIM_SHA = createHash('sha1').update(CLAIM_SCRIPT).digest('hex');

/**
 * The shared backend: a Redis-protocol server (Redis >= 6.2, Valkey, or a managed cache in
 * non-cluster mode) reached through one pipelined connection per process. Keys:
 * `<keyPrefix><step id>:{x,s,b}:...` for each dedupe step, `<keyPrefix>llm:<sha256>` for the LLM cache;
 * every key written gets its TTL, so a server with `maxmemory-policy volatile-lru` evicts the least
 * recently used state when it reaches its memory budget (README: "Shared state").
 */
export class RedisStateStore implements StateStore {
  readonly backend = 'redis' as const;
  readonly #client: RespClient;

  private constructor(private readonly opts: RedisStateOptions) {
    this.#client = new RespClient(opts.url, { timeoutMs: opts.timeoutMs, connectTimeoutMs: opts.timeoutMs });
  }

  /** Connects and loads the claim script; a server that cannot be reached fails the start (state_unavailable). */
  static async open(opts: RedisStateOptions, log?: { warn(msg: string, f?: Record<string, unknown>): void }): Promise<RedisStateStore> {
    const s = new RedisStateStore(opts);
    try {
      await s.#client.command(['SCRIPT', 'LOAD', CLAIM_SCRIPT]);
      const info = String(await s.#client.command(['INFO', 'memory']));
      const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
      const max = Number(/maxmemory:(\d+)/.exec(info)?.[1] ?? 0);
      if (log && (max === 0 || (policy !== undefined && !policy.startsWith('volatile-') && !policy.startsWith('allkeys-')))) {
        log.warn('the shared state server has no memory budget with eviction: set maxmemory and maxmemory-policy volatile-lru (README: Shared state)', { maxmemory: max, policy });
      }
    } catch (e) {
      await s.close();
      throw new GemflowError('state_unavailable', `cannot use the shared state store at ${redact(opts.url)}: ${errorMessage(e)}`, { retriable: true, cause: e });
    }
    return s;
  }

  get description(): string {
    return `redis ${this.#client.address} prefix ${this.opts.keyPrefix}`;
  }

  index(namespace: string, opts: FingerprintIndexOptions): FingerprintIndex {
    const prefix = `${this.opts.keyPrefix}${namespace}:`;
    const head = [prefix, String(this.opts.dedupeTtlSeconds), String(opts.threshold), String(opts.maxPerBucket ?? 8)];
    return {
      claim: async (batch) => {
        if (batch.length === 0) return [];
        const bands = batch[0]!.sig !== undefined ? (batch[0]!.bands?.length ?? 0) : 0;
        const args: Array<string | Buffer> = ['EVALSHA', CLAIM_SHA, '0', ...head, String(bands)];
        for (const f of batch) {
          if ((f.sig !== undefined ? (f.bands?.length ?? 0) : 0) !== bands) throw new GemflowError('internal', 'fingerprints of one batch must have the same number of bands');
          args.push(f.exact, f.owner, f.id, f.sig && bands > 0 ? sigBytes(f.sig) : '');
          if (bands > 0) args.push(...f.bands!);
        }
        const reply = await this.#eval(args);
        if (!Array.isArray(reply) || reply.length !== batch.length) {
          throw new GemflowError('state_unavailable', `unexpected reply to the dedupe script from ${this.#client.address}`, { retriable: true });
        }
        return reply.map((r): Claim => {
          const [kind, of, sim] = r as [number, string?, string?];
          if (kind === 0) return NOT_DUPLICATE;
          return kind === 1 ? { duplicate: true, kind: 'exact', of: of!, similarity: 1 } : { duplicate: true, kind: 'near', of: of!, similarity: Number(sim) };
        });
      },
    };
  }

  kv(namespace: string): AsyncKv {
    const prefix = `${this.opts.keyPrefix}${namespace}:`;
    const ttl = this.opts.cacheTtlSeconds;
    const leaseKey = (k: string): string => `${prefix}lease:${k}`;
    return {
      get: async (k) => {
        const v = await this.#client.command(['GET', prefix + k]);
        return v === null ? undefined : String(v);
      },
      put: async (k, v) => {
        await Promise.all([this.#client.command(ttl > 0 ? ['SET', prefix + k, v, 'EX', ttl] : ['SET', prefix + k, v]), this.#client.command(['DEL', leaseKey(k)])]);
      },
      // Pipelined on the one connection: GET the value, SET the lease only if nobody holds it.
      lease: async (k, owner, ttlMs) => {
        const [v, set] = await Promise.all([this.#client.command(['GET', prefix + k]), this.#client.command(['SET', leaseKey(k), owner, 'NX', 'PX', Math.max(1, Math.round(ttlMs))])]);
        if (v !== null) {
          if (set !== null) void this.#client.command(['EVAL', RELEASE_SCRIPT, '1', leaseKey(k), owner, '0']).catch(() => {});
          return { value: String(v) };
        }
        return set !== null ? 'leased' : 'busy';
      },
      // Owner-checked: a worker whose lease lapsed (a stall longer than its lifetime) and was taken by
      // another must neither extend nor end the new owner's lease.
      renew: async (k, owner, ttlMs) => (await this.#client.command(['EVAL', RENEW_SCRIPT, '1', leaseKey(k), owner, String(Math.max(1, Math.round(ttlMs)))])) === 1,
      release: async (k, owner, graceMs) => {
        await this.#client.command(['EVAL', RELEASE_SCRIPT, '1', leaseKey(k), owner, String(Math.max(0, Math.round(graceMs)))]);
      },
    };
  }

  /** EVALSHA, loading the script again when the server lost it (a restart without persistence of scripts). */
  async #eval(args: Array<string | Buffer>): Promise<RespValue> {
    try {
      return await this.#client.command(args);
    } catch (e) {
      const reply = (e as GemflowError).detail?.reply;
      if (typeof reply !== 'string' || !reply.startsWith('NOSCRIPT')) throw e;
      await this.#client.command(['SCRIPT', 'LOAD', CLAIM_SCRIPT]);
      return this.#client.command(args);
    }
  }

  /** A raw command (tests and the benchmark read the server's own figures). */
  command(args: Array<string | number>): Promise<RespValue> {
    return this.#client.command(args);
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
