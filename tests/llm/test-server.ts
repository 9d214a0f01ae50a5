import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A chat completion request as the test server received it. */
export interface Received {
  body: Record<string, unknown>;
  headers: IncomingMessage['headers'];
  res: ServerResponse;
  /** 0-based arrival index among chat completion requests. */
  index: number;
}

/**
 * A real HTTP server on 127.0.0.1 speaking just enough of the OpenAI API for the client tests:
 * GET /v1/models lists `model`; POST /v1/chat/completions goes to `handler`. It records every chat
 * request and the most requests it ever had open at once.
 */
export class TestServer {
  readonly received: Received[] = [];
  modelsCalls = 0;
  open = 0;
  maxOpen = 0;
  url = '';
  readonly #server;
  readonly #arrivals: { n: number; resolve: () => void }[] = [];

  private constructor(handler: (r: Received) => void, readonly model: string) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'GET' && req.url === '/v1/models') {
          this.modelsCalls++;
          return json(res, 200, { object: 'list', data: [{ id: this.model, object: 'model', owned_by: 'vllm' }] });
        }
        if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return json(res, 404, { error: 'not found' });
        this.open++;
        this.maxOpen = Math.max(this.maxOpen, this.open);
        res.on('close', () => this.open--);
        const r: Received = { body: JSON.parse(Buffer.concat(chunks).toString('utf8')), headers: req.headers, res, index: this.received.length };
        this.received.push(r);
        for (const a of [...this.#arrivals]) {
          if (this.received.length >= a.n) {
            this.#arrivals.splice(this.#arrivals.indexOf(a), 1);
            a.resolve();
          }
        }
        handler(r);
      });
    });
  }

  static async start(handler: (r: Received) => void, model = 'test-model'): Promise<TestServer> {
    const s = new TestServer(handler, model);
    s.#server.listen(0, '127.0.0.1');
    await once(s.#server, 'listening');
    s.url = `http://127.0.0.1:${(s.#server.address() as AddressInfo).port}`;
    return s;
  }

  /** Resolves once `n` chat requests have arrived in total. */
  arrivals(n: number): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#arrivals.push({ n, resolve }));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An OpenAI chat completion body answering `content`. */
export function completion(content: string, opts: { finishReason?: string; model?: string; promptTokens?: number; completionTokens?: number } = {}) {
  return {
    id: 'cmpl-test',
    object: 'chat.completion',
    model: opts.model ?? 'test-model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: opts.finishReason ?? 'stop' }],
    usage: { prompt_tokens: opts.promptTokens ?? 10, completion_tokens: opts.completionTokens ?? 5 },
  };
}

/** Answers every request with `content`. */
export function answering(content: string): (r: Received) => void {
  return (r) => json(r.res, 200, completion(content));
}
