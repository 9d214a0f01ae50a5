import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { GemflowError, errorCode, errorMessage } from '../errors.js';
import { readSection, stageOfSchemaName } from '../llm/prompt-sections.js';
import { readStructuredRequest, schemaInInstruction } from '../llm/structured-output.js';
import { CapacityModel, isKvAllocation, KV_ALLOCATIONS } from './capacity-model.js';
import { simulatedAnswer } from './content/stage-answer.js';
import { FaultPlan } from './fault-plan.js';
import { hashUnit, sha256Hex } from './hash.js';
import { DEFAULT_SIMULATOR_OPTIONS, SIMULATOR_OWNED_BY, type FaultConfig, type FaultKind, type SimulatorOptions, type SimulatorRuntimeConfig } from './options.js';
import { SimMetrics, type SimStats } from './sim-metrics.js';

/**
 * The bundled vLLM simulator: a test double of vLLM's OpenAI-compatible server on node:http. No
 * model runs: answers to gemflow's stage prompts are derived from the prompt's sections by rules
 * (see content/), timed by a continuous-batching capacity model (capacity-model.ts), with injectable
 * faults (fault-plan.ts). The served model name says it is simulated.
 */

export interface SimulatorHandle {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  stats(): SimStats;
  /** Replaces the fault configuration (rates, Retry-After, health). */
  setFaults(f: FaultConfig): void;
  /** Changes capacity, faults, invalid answers or up/down while running (as `POST /_sim/config`). */
  configure(c: SimulatorRuntimeConfig): void;
  /** Dies abruptly: open sockets destroyed, nothing answered, listening stopped. */
  kill(): Promise<void>;
  /** Shuts down: stops listening, answers requests in flight (and hung ones) with 503, then closes. */
  close(): Promise<void>;
}

/** Options; `faultRate` is shorthand for `faults.totalRate` spread over every fault kind. */
export type SimulatorStartOptions = Partial<SimulatorOptions> & { faultRate?: number };

type Json = Record<string, unknown>;

interface ChatBody {
  model?: string;
  messages: { role: string; content: string }[];
  maxTokens: number;
  schemaName?: string;
  /** The JSON Schema the request asks for (from whichever dialect carries it). */
  schema?: Json;
  /** The structured-output dialect of the request ("none" without one). */
  dialect: string;
  seed?: number;
}

const DEFAULT_MAX_TOKENS = 4096;

const ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  405: 'MethodNotAllowedError',
  413: 'BadRequestError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

function resolveOptions(opts: SimulatorStartOptions): SimulatorOptions {
  const { faultRate, ...rest } = opts;
  const o: SimulatorOptions = { ...DEFAULT_SIMULATOR_OPTIONS, ...rest };
  if (faultRate !== undefined) o.faults = { ...o.faults, totalRate: faultRate };
  const problems: string[] = [];
  const positive = ['prefillTokensPerSec', 'decodeTokensPerSec', 'maxDecodeTokensPerSecPerSeq', 'kvCacheTokens', 'maxModelLen', 'tickMs', 'timeScale', 'maxBodyBytes'] as const;
  for (const k of positive) if (!(o[k] > 0)) problems.push(`${k} must be > 0, got ${o[k]}`);
  if (!Number.isInteger(o.maxRunningSeqs) || o.maxRunningSeqs < 1) problems.push(`maxRunningSeqs must be an integer >= 1, got ${o.maxRunningSeqs}`);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) problems.push(`port must be an integer in 0..65535, got ${o.port}`);
  if (!(o.judgeFailRate >= 0 && o.judgeFailRate <= 1)) problems.push(`judgeFailRate must be in [0, 1], got ${o.judgeFailRate}`);
  if (!isKvAllocation(o.kvAllocation)) problems.push(`kvAllocation must be ${KV_ALLOCATIONS.join(' or ')}, got ${JSON.stringify(o.kvAllocation)}`);
  if (!(o.invalidAnswerRate >= 0 && o.invalidAnswerRate <= 1)) problems.push(`invalidAnswerRate must be in [0, 1], got ${o.invalidAnswerRate}`);
  if (problems.length > 0) throw new GemflowError('invalid_simulator_options', `simulator options: ${problems.join('; ')}`);
  return o;
}

const RUNTIME_KEYS = ['maxRunningSeqs', 'prefillTokensPerSec', 'decodeTokensPerSec', 'maxDecodeTokensPerSecPerSeq', 'kvCacheTokens', 'faults', 'invalidAnswerRate', 'down'] as const;

/** Checks a runtime change (the body of POST /_sim/config); throws `invalid_simulator_options` naming every problem. */
export function checkRuntimeConfig(c: unknown): SimulatorRuntimeConfig {
  const problems: string[] = [];
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    throw new GemflowError('invalid_simulator_options', 'runtime config must be a JSON object');
  }
  const r = c as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!(RUNTIME_KEYS as readonly string[]).includes(k)) problems.push(`unknown key "${k}"; known: ${RUNTIME_KEYS.join(', ')}`);
  for (const k of ['prefillTokensPerSec', 'decodeTokensPerSec', 'maxDecodeTokensPerSecPerSeq', 'kvCacheTokens'] as const) {
    if (r[k] !== undefined && !(typeof r[k] === 'number' && r[k] > 0)) problems.push(`${k} must be a number > 0, got ${JSON.stringify(r[k])}`);
  }
  if (r.maxRunningSeqs !== undefined && !(Number.isInteger(r.maxRunningSeqs) && (r.maxRunningSeqs as number) >= 1)) {
    problems.push(`maxRunningSeqs must be an integer >= 1, got ${JSON.stringify(r.maxRunningSeqs)}`);
  }
  if (r.invalidAnswerRate !== undefined && !(typeof r.invalidAnswerRate === 'number' && r.invalidAnswerRate >= 0 && r.invalidAnswerRate <= 1)) {
    problems.push(`invalidAnswerRate must be a number in [0, 1], got ${JSON.stringify(r.invalidAnswerRate)}`);
  }
  if (r.down !== undefined && typeof r.down !== 'boolean') problems.push(`down must be true or false, got ${JSON.stringify(r.down)}`);
  if (r.faults !== undefined) {
    try {
      new FaultPlan(0, 0, r.faults as FaultConfig);
    } catch (e) {
      problems.push(`faults: ${errorMessage(e)}`);
    }
  }
  if (problems.length > 0) throw new GemflowError('invalid_simulator_options', `simulator runtime config: ${problems.join('; ')}`);
  return r as SimulatorRuntimeConfig;
}

/**
 * The user message a stage's answer is made from: the last one carrying a tagged section. A repair
 * turn ends with the client's correction request (no sections), so the answer comes from the original.
 */
function stageUserText(messages: ReadonlyArray<{ role: string; content: string }>): string {
  const users = messages.filter((m) => m.role === 'user');
  const tagged = users.filter((m) => /<(document|workflow|trajectory)>/.test(m.content));
  return (tagged.at(-1) ?? users.at(-1))?.content ?? '';
}

/** ~4 characters per token, at least 1. */
function tokensOf(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** OpenAI's error shape. */
function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { message, type: ERROR_TYPES[status] ?? 'Error', param: null, code: status } }, headers);
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new GemflowError('body_too_large', `request body exceeds ${maxBytes} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Message content as text: a string, or OpenAI content parts of type "text". */
function contentText(c: unknown): string | undefined {
  if (typeof c === 'string') return c;
  if (Array.isArray(c) && c.every((p) => typeof p?.text === 'string')) return c.map((p: { text: string }) => p.text).join('');
  return undefined;
}

/** Validates a chat body; throws GemflowError `invalid_request` naming the first problem. */
function parseChatBody(raw: string): ChatBody {
  let b: Json;
  try {
    b = JSON.parse(raw) as Json;
  } catch (e) {
    throw new GemflowError('invalid_request', `body is not valid JSON: ${errorMessage(e)}`);
  }
  const bad = (m: string): never => {
    throw new GemflowError('invalid_request', m);
  };
  if (typeof b !== 'object' || b === null || Array.isArray(b)) bad('body must be a JSON object');
  if (b.model !== undefined && typeof b.model !== 'string') bad('model must be a string');
  if (!Array.isArray(b.messages) || b.messages.length === 0) bad('messages must be a non-empty array');
  const messages = (b.messages as unknown[]).map((m, i) => {
    const msg = m as Json;
    const content = contentText(msg?.content);
    if (typeof msg?.role !== 'string' || content === undefined) bad(`messages[${i}] needs a string role and text content`);
    return { role: msg.role as string, content: content! };
  });
  const maxTokens = b.max_tokens ?? b.max_completion_tokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1) bad('max_tokens must be a positive integer');
  if (b.temperature !== undefined && (typeof b.temperature !== 'number' || b.temperature < 0 || b.temperature > 2)) bad('temperature must be a number in [0, 2]');
  if (b.seed !== undefined && !Number.isInteger(b.seed)) bad('seed must be an integer');
  const so = readStructuredRequest(b);
  if (so.problem) bad(so.problem);
  const dialect = so.dialect === undefined || so.dialect === 'text' || so.dialect === 'json_object' ? 'none' : so.dialect;
  const inPrompt = dialect === 'none' ? schemaInInstruction(messages) : undefined;
  const schemaName = so.name ?? inPrompt?.name;
  const schema = so.schema ?? inPrompt?.schema;
  return { model: b.model as string | undefined, messages, maxTokens: maxTokens as number, schemaName, schema, dialect, seed: b.seed as number | undefined };
}

/**
 * A request in a dialect this simulator does not speak, answered the way a server lacking it does
 * (see SimulatorOptions.dialects); undefined when it is spoken.
 */
function dialectRejection(dialect: string, spoken: readonly string[]): { status: number; message: string } | undefined {
  if (dialect === 'none' || spoken.includes(dialect)) return undefined;
  const rfTypes = ['text', 'json_object', ...(spoken.includes('json_schema') ? ['json_schema'] : [])];
  const allowed = rfTypes.map((t) => `'${t}'`).join(rfTypes.length > 2 ? ', ' : ' or ').replace(/, ('[^']+')$/, ' or $1');
  switch (dialect) {
    case 'json_schema':
      // llama-cpp-python 0.3.36: its request validation fails inside the handler, so a 500 (its words).
      return {
        status: 500,
        message:
          `1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': "Input should be ${allowed}", ` +
          `'input': 'json_schema', 'ctx': {'expected': "${allowed}"}}\n\n    POST /v1/chat/completions`,
      };
    case 'grammar':
      return { status: 400, message: `1 validation error for ChatCompletionRequest\nresponse_format.type\n  Input should be ${allowed} [type=literal_error, input_value='json']` };
    case 'json_object_schema':
      return { status: 400, message: `1 validation error for ChatCompletionRequest\nresponse_format.schema\n  Extra inputs are not permitted [type=extra_forbidden]` };
    default:
      return { status: 400, message: `1 validation error for ChatCompletionRequest\n${dialect}\n  Extra inputs are not permitted [type=extra_forbidden]` };
  }
}

/** Cuts a JSON answer so that it no longer parses. */
function malform(content: string): string {
  return content.length > 1 ? content.slice(0, -1) : '{';
}

export async function startSimulator(opts: SimulatorStartOptions = {}): Promise<SimulatorHandle> {
  const o = resolveOptions(opts);
  const capacity = new CapacityModel(o);
  capacity.onAbandonedWaiting = (sec) => metrics.abandonedWhileWaiting(sec);
  const faults = new FaultPlan(o.seed, o.replica, o.faults);
  const metrics = new SimMetrics(o.model);
  let faultConfig = o.faults;
  let invalidAnswerRate = o.invalidAnswerRate;
  let down = false;
  /** Open connections and how many of their requests are in flight. */
  const sockets = new Map<Socket, number>();
  let closing: Promise<void> | undefined;
  const hung = new Set<ServerResponse>();
  let served = 0;

  const statsBase = (): Pick<SimStats, 'replica' | 'timeScale' | 'capacity'> => ({
    replica: o.replica,
    timeScale: o.timeScale,
    capacity: { maxOutputTokensPerSec: capacity.maxOutputTokensPerSec, maxRunningSeqs: capacity.params.maxRunningSeqs, kvCacheTokens: capacity.params.kvCacheTokens },
  });

  const reply = (res: ServerResponse, status: number, message: string, headers?: Record<string, string>): void => {
    metrics.status(status);
    sendError(res, status, message, headers);
  };

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: ChatBody;
    try {
      body = parseChatBody(await readBody(req, o.maxBodyBytes));
    } catch (e) {
      metrics.request();
      return reply(res, errorCode(e) === 'body_too_large' ? 413 : 400, errorMessage(e));
    }
    const stage = stageOfSchemaName(body.schemaName);
    const key = sha256Hex(JSON.stringify(body.messages), body.schemaName ?? '');
    metrics.request(key, stage ?? 'chat');
    if (body.model !== undefined && body.model !== o.model) {
      return reply(res, 404, `The model \`${body.model}\` does not exist. This simulator serves \`${o.model}\`.`);
    }
    metrics.dialect(body.dialect);
    const rejection = dialectRejection(body.dialect, o.dialects);
    if (rejection) return reply(res, rejection.status, rejection.message);
    const probe = body.schemaName === 'gemflow_probe';
    if (body.schemaName !== undefined && !probe && stage === undefined) {
      return reply(res, 400, `the simulator answers json_schema names gemflow_<stage>, not "${body.schemaName}"`);
    }
    // vLLM validates the length against max_model_len before scheduling anything.
    const promptTokens = tokensOf(body.messages.reduce((n, m) => n + m.content.length, 0));
    if (promptTokens + body.maxTokens > o.maxModelLen) {
      return reply(
        res,
        400,
        `This model's maximum context length is ${o.maxModelLen} tokens. However, you requested ${promptTokens + body.maxTokens} tokens ` +
          `(${promptTokens} in the messages, ${body.maxTokens} in the completion). Please reduce the length of the messages or completion.`,
      );
    }

    const fault = faults.roll(key);
    if (fault) metrics.fault(fault);
    switch (fault) {
      case 'rate_limit':
        // In simulated seconds, so scaled to wall time like every other duration: at a timeScale below 1
        // the value has a fraction (HTTP says whole seconds; gemflow's client reads both).
        return reply(res, 429, 'simulated rate limit', { 'retry-after': String((faultConfig.retryAfterSec ?? 1) * o.timeScale) });
      case 'server_error':
        return reply(res, 500, 'simulated internal server error');
      case 'unavailable':
        return reply(res, 503, 'simulated overload: service unavailable');
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
    }

    let content: string;
    try {
      const userText = stageUserText(body.messages);
      const seed = `${o.seed}/${body.seed ?? ''}`;
      // Only a first answer is spoilt (a repair turn carries the earlier answer as an assistant message).
      const firstTurn = !body.messages.some((m) => m.role === 'assistant');
      const invalid = firstTurn && invalidAnswerRate > 0 && hashUnit('invalid', o.seed, key) < invalidAnswerRate;
      if (invalid) metrics.invalidAnswer();
      content = probe
        ? '{"ok": true}'
        : stage !== undefined
        ? simulatedAnswer(stage, body.schema, userText, { seed, judgeFailRate: o.judgeFailRate, invalid })
        : `Simulated reply from ${o.model}, the gemflow vLLM simulator (a test double): no model ran.`;
    } catch (e) {
      return reply(res, errorCode(e) === 'invalid_request' ? 400 : 500, errorMessage(e));
    }
    const answer = shape(content, body.maxTokens, fault);

    const abort = new AbortController();
    let gone = false;
    res.on('close', () => {
      if (res.writableFinished) return;
      gone = true;
      if (o.cancelOnDisconnect) abort.abort(new GemflowError('client_gone', 'client closed the connection'));
    });
    let queueSec: number;
    let firstTokenSec: number;
    try {
      ({ queueSec, firstTokenSec } = await capacity.submit({ promptTokens, completionTokens: answer.completionTokens }, abort.signal));
    } catch (e) {
      if (abort.signal.aborted) metrics.aborted(); // the client went away: its generation is dropped
      if (res.destroyed || down) return; // (down: its connection is already reset)
      if (errorCode(e) === 'context_too_long') return reply(res, 400, errorMessage(e));
      return reply(res, 503, errorMessage(e), { connection: 'close' });
    }
    metrics.completed(promptTokens, answer.completionTokens, answer.finishReason, queueSec, firstTokenSec);
    if (gone) metrics.orphaned(); // generated to the end for a client that had left (cancelOnDisconnect: false)
    if (res.destroyed) return;
    if (faultConfig.hung) {
      // Wedged while it ran: the answer never leaves.
      hung.add(res);
      res.on('close', () => hung.delete(res));
      return;
    }
    metrics.status(200);
    if (answer.finishReason === 'stop' && fault === undefined) metrics.answeredKey(key, documentHash(body.messages));
    sendJson(res, 200, {
      id: `chatcmpl-sim${o.replica}-${++served}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: o.model,
      choices: [{ index: 0, message: { role: 'assistant', content: answer.content }, logprobs: null, finish_reason: answer.finishReason }],
      usage: { prompt_tokens: promptTokens, completion_tokens: answer.completionTokens, total_tokens: promptTokens + answer.completionTokens },
    });
  }

  /** Counts the request as in flight on its connection; once shutting down, a finished one closes it. */
  function track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    sockets.set(socket, (sockets.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (sockets.get(socket) ?? 1) - 1;
      if (!sockets.has(socket)) return;
      sockets.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
  }

  /** `keep`: the admin request's own connection, which must survive to answer it. */
  function configure(c: SimulatorRuntimeConfig, keep?: Socket): void {
    const { faults: f, invalidAnswerRate: rate, down: d, ...cap } = checkRuntimeConfig(c);
    if (Object.keys(cap).length > 0) capacity.reconfigure(cap);
    if (f !== undefined) {
      faults.configure(f);
      faultConfig = f;
    }
    if (rate !== undefined) invalidAnswerRate = rate;
    if (d === true && !down) {
      down = true;
      // Died: what was queued or running is lost, and every open connection is reset.
      capacity.dropAll(new GemflowError('replica_down', 'the replica went down'));
      for (const res of hung) res.destroy();
      for (const socket of sockets.keys()) if (socket !== keep) socket.destroy();
    } else if (d === false) down = false;
  }

  async function adminConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET') {
      const p = capacity.params;
      return sendJson(res, 200, {
        maxRunningSeqs: p.maxRunningSeqs,
        prefillTokensPerSec: p.prefillTokensPerSec,
        decodeTokensPerSec: p.decodeTokensPerSec,
        maxDecodeTokensPerSecPerSeq: p.maxDecodeTokensPerSecPerSeq,
        kvCacheTokens: p.kvCacheTokens,
        faults: faultConfig,
        invalidAnswerRate,
        down,
      });
    }
    if (req.method !== 'POST') return sendError(res, 405, 'use GET or POST');
    try {
      configure(JSON.parse(await readBody(req, 1 << 20)) as SimulatorRuntimeConfig, req.socket);
    } catch (e) {
      return sendError(res, 400, errorMessage(e));
    }
    sendJson(res, 200, { ok: true });
  }

  function route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/_sim/config') {
      track(req, res);
      adminConfig(req, res).catch((e: unknown) => sendError(res, 500, errorMessage(e)));
      return;
    }
    if (down && path !== '/sim/stats') {
      // A dead pod: the connection is reset, nothing is answered.
      req.socket.destroy();
      return;
    }
    track(req, res);
    const get = req.method === 'GET';
    if (faultConfig.hung && path !== '/sim/stats') {
      // Wedged: read the request (so the client's write completes) and never answer.
      req.resume();
      hung.add(res);
      res.on('close', () => hung.delete(res));
      return;
    }
    if (path === '/v1/chat/completions') {
      if (req.method !== 'POST') return sendError(res, 405, 'use POST');
      chat(req, res).catch((e: unknown) => sendError(res, 500, errorMessage(e)));
    } else if (get && (path === '/health' || path === '/metrics' || path === '/v1/models' || path === '/version') && (metrics.route(path), false)) {
      // (counted above)
    } else if (path === '/health' && get && !o.health) {
      sendError(res, 404, 'Not Found');
    } else if (path === '/metrics' && get && !o.metrics) {
      sendError(res, 404, 'Not Found');
    } else if (path === '/health' && get) {
      res.writeHead(faultConfig.unhealthy ? 503 : 200).end();
    } else if (path === '/v1/models' && get) {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: o.model, object: 'model', created: 0, owned_by: o.ownedBy ?? (o.dialects.includes('json_schema') ? SIMULATOR_OWNED_BY : 'me'), root: o.model, max_model_len: o.maxModelLen }],
      });
    } else if (path === '/metrics' && get) {
      const text = metrics.prometheus(capacity.snapshot(), capacity.params.kvCacheTokens);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } else if (path === '/sim/stats' && get) {
      sendJson(res, 200, metrics.stats(statsBase(), capacity.snapshot()));
    } else {
      sendError(res, 404, `no route ${req.method} ${path}`);
    }
  }

  const server: Server = createServer(route);
  // Keep idle connections longer than clients do (undici closes its own after ~4 s), so a client never
  // reuses a connection the server has just closed (a reset that says nothing about the server).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('connection', (s: Socket) => {
    sockets.set(s, 0);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const shutDown = (abrupt: boolean): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      capacity.close();
      if (abrupt) {
        for (const socket of sockets.keys()) socket.destroy();
        return;
      }
      // Requests in flight get 503 from their handlers (capacity.close rejects them); hung ones here.
      for (const res of hung) sendError(res, 503, 'simulator shutting down', { connection: 'close' });
      // Connections without a request in flight (keep-alive, or never used) would hold close() open.
      for (const [socket, active] of sockets) if (active === 0) socket.destroy();
    });
    return closing;
  };

  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    port,
    stats: () => metrics.stats(statsBase(), capacity.snapshot()),
    setFaults(f: FaultConfig) {
      faults.configure(f);
      faultConfig = f;
    },
    configure: (c) => configure(c),
    kill: () => shutDown(true),
    close: () => shutDown(false),
  };
}

/** Content cut to the token limit (finish_reason "length"), or damaged by a content fault. */
function shape(content: string, maxTokens: number, fault: FaultKind | undefined): { content: string; completionTokens: number; finishReason: 'stop' | 'length' } {
  let text = content;
  let finishReason: 'stop' | 'length' = 'stop';
  if (fault === 'malformed') text = malform(text);
  const limit = fault === 'length' ? Math.min(maxTokens, Math.max(1, Math.floor(tokensOf(text.length) / 2))) : maxTokens;
  if (tokensOf(text.length) > limit || fault === 'length') {
    text = text.slice(0, limit * 4);
    finishReason = 'length';
  }
  return { content: text, completionTokens: tokensOf(text.length), finishReason };
}

/**
 * `n` replicas on consecutive ports (or free ports when `port` is 0), differing in their fault rolls;
 * numbered from `opts.replica` (default 0).
 */
export async function startSimulatorCluster(n: number, opts: SimulatorStartOptions = {}): Promise<SimulatorHandle[]> {
  if (!Number.isInteger(n) || n < 1) throw new GemflowError('invalid_simulator_options', `replicas must be an integer >= 1, got ${n}`);
  const handles: SimulatorHandle[] = [];
  try {
    for (let i = 0; i < n; i++) {
      handles.push(await startSimulator({ ...opts, replica: (opts.replica ?? 0) + i, port: opts.port ? opts.port + i : 0 }));
    }
  } catch (e) {
    await Promise.all(handles.map((h) => h.close()));
    throw e;
  }
  return handles;
}

/**
 * Which document a request is about: a sha256 prefix of the last user message's `document` section
 * (as sent), so tests can tell whose calls were repeated.
 */
export function documentHash(messages: ReadonlyArray<{ role: string; content: string }>): string | undefined {
  const user = messages.filter((m) => m.role === 'user').at(-1);
  const doc = user && readSection(user.content, 'document');
  return doc === undefined ? undefined : sha256Hex(doc).slice(0, 16);
}
