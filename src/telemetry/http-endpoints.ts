import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { GemflowError, errorMessage } from '../errors.js';

/** A readiness condition; a check that throws or rejects counts as not ready. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface WorkerEndpointsOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default 0.0.0.0 (the kubelet and Prometheus reach the pod IP). */
  host?: string;
  /** Served on /metrics (see createWorkerRegistry). */
  registry: Registry;
  /**
   * /readyz answers 200 when every check passes, 503 otherwise, with each check's result as JSON,
   * e.g. `{ sourceAssigned: () => ..., inferenceAnswering: () => ..., notDraining: () => ... }`.
   */
  readiness: Record<string, ReadinessCheck>;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
}

export interface WorkerEndpoints {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The worker's HTTP endpoints for Kubernetes and Prometheus:
 * - `/healthz`: 200 while the process serves requests (liveness: a stuck event loop fails it);
 * - `/readyz`: the readiness checks (see `readiness`);
 * - `/metrics`: the registry in Prometheus text format.
 * GET and HEAD only. Resolves once listening; throws GemflowError `server_listen_failed` otherwise.
 */
export async function startWorkerEndpoints(opts: WorkerEndpointsOptions): Promise<WorkerEndpoints> {
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((e: unknown) => send(res, 500, 'text/plain; charset=utf-8', `internal error: ${errorMessage(e)}\n`));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new GemflowError('server_listen_failed', `cannot listen on ${opts.host ?? '0.0.0.0'}:${opts.port}: ${e.message}`, { cause: e })));
    server.listen(opts.port, opts.host ?? '0.0.0.0', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '0.0.0.0';
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  return { url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`, port, close };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: WorkerEndpointsOptions): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  switch (path) {
    case '/healthz':
      return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    case '/readyz': {
      const names = Object.keys(opts.readiness);
      const results = await Promise.all(names.map((n) => Promise.resolve().then(opts.readiness[n]!).then((ok) => ok === true, () => false)));
      const checks = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
      const ready = results.every(Boolean);
      return send(res, ready ? 200 : 503, 'application/json', JSON.stringify({ ready, checks }) + '\n');
    }
    case '/metrics':
      return send(res, 200, opts.registry.contentType, await opts.registry.metrics());
    default:
      return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /readyz or /metrics\n');
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
