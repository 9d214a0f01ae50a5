import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { GemflowError } from '../errors.js';

/** A RESP2 reply: simple/bulk strings as strings (UTF-8), integers, arrays, null. */
export type RespValue = string | number | null | RespValue[];

type Pending = { resolve: (v: RespValue) => void; reject: (e: unknown) => void };

export interface RespClientOptions {
  /** A command without its reply after this long fails, and the connection is dropped. Default 5000. */
  timeoutMs?: number;
  /** Connecting (TCP + TLS + AUTH + SELECT). Default 5000. */
  connectTimeoutMs?: number;
}

/**
 * A small Redis-protocol (RESP2) client over node:net / node:tls, for Redis, Valkey and the managed
 * caches that speak it. Commands issued in the same tick are written in one socket write (automatic
 * pipelining), and replies are matched to commands in order.
 *
 * Failures: a connection that cannot be made, breaks, or leaves a command unanswered for `timeoutMs`
 * fails every command waiting on it with `state_unavailable` (an infrastructure failure: the pipeline
 * retries the document, then stops uncommitted); the next command connects again. No command is
 * resent by the client itself, so nothing runs twice behind the caller's back. An error reply
 * (`-ERR ...`) fails only its own command, with `state_unavailable` and the server's message
 * (`detail.reply`).
 *
 * URL: redis://[user:password@]host[:port][/db], or rediss:// for TLS.
 */
export class RespClient {
  readonly #url: URL;
  readonly #opts: Required<RespClientOptions>;
  #socket: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  readonly #waiting: Pending[] = [];
  #out: Array<string | Buffer> = [];
  #flushScheduled = false;
  #buf: Buffer = Buffer.alloc(0);
  #timer: NodeJS.Timeout | undefined;
  #lastReplyAt = 0;
  #closed = false;

  constructor(url: string, opts: RespClientOptions = {}) {
    try {
      this.#url = new URL(url);
    } catch {
      throw new GemflowError('config_invalid', `state.url is not a URL: ${redact(url)}`);
    }
    if (this.#url.protocol !== 'redis:' && this.#url.protocol !== 'rediss:') {
      throw new GemflowError('config_invalid', `state.url must start with redis:// or rediss://, got ${redact(url)}`);
    }
    this.#opts = { timeoutMs: opts.timeoutMs ?? 5000, connectTimeoutMs: opts.connectTimeoutMs ?? 5000 };
  }

  /** host:port, for messages (never the password). */
  get address(): string {
    return `${this.#url.hostname}:${this.#url.port || 6379}`;
  }

  /** One command; its reply, or a rejection (state_unavailable). */
  command(args: ReadonlyArray<string | Buffer | number>): Promise<RespValue> {
    if (this.#closed) return Promise.reject(new GemflowError('state_unavailable', `redis client for ${this.address} is closed`, { retriable: true }));
    if (this.#socket === undefined) return this.#ready().then(() => this.command(args));
    return new Promise<RespValue>((resolve, reject) => {
      // The reply clock starts when the connection goes from idle to waiting (replies keep it going).
      if (this.#waiting.length === 0) this.#lastReplyAt = performance.now();
      this.#waiting.push({ resolve, reject });
      this.#enqueue(args);
    });
  }

  /** Closes the connection (QUIT not awaited); later commands fail. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#drop(new GemflowError('state_unavailable', `redis client for ${this.address} closed`, { retriable: true }));
  }

  async #ready(): Promise<void> {
    if (this.#socket) return;
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    this.#socket = await this.#connecting;
  }

  async #connect(): Promise<Socket> {
    const host = this.#url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.#url.port || 6379);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = this.#url.protocol === 'rediss:' ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(unavailable(this.address, `no connection within ${this.#opts.connectTimeoutMs} ms`));
      }, this.#opts.connectTimeoutMs);
      s.once(this.#url.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(unavailable(this.address, (e as Error).message, e));
      });
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    this.#buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#drop(unavailable(this.address, e.message, e), socket));
    socket.on('close', () => this.#drop(unavailable(this.address, 'connection closed'), socket));
    this.#socket = socket;
    this.#lastReplyAt = performance.now();
    this.#timer = setInterval(() => this.#checkTimeout(), Math.max(50, Math.min(1000, this.#opts.timeoutMs / 4)));
    this.#timer.unref();
    const auth = this.#url.password ? [decodeURIComponent(this.#url.username), decodeURIComponent(this.#url.password)].filter((s) => s !== '') : [];
    const db = this.#url.pathname.replace(/^\//, '');
    const setup: Promise<RespValue>[] = [];
    const send = (args: string[]) =>
      setup.push(new Promise<RespValue>((resolve, reject) => (this.#waiting.push({ resolve, reject }), this.#enqueue(args))));
    if (auth.length > 0) send(['AUTH', ...auth]);
    if (db !== '' && db !== '0') send(['SELECT', db]);
    try {
      await Promise.all(setup);
    } catch (e) {
      this.#drop(e, socket);
      throw e;
    }
    return socket;
  }

  #enqueue(args: ReadonlyArray<string | Buffer | number>): void {
    let head = `*${args.length}\r\n`;
    for (const a of args) {
      if (Buffer.isBuffer(a)) {
        this.#out.push(`${head}$${a.length}\r\n`, a);
        head = '\r\n';
      } else {
        const s = typeof a === 'number' ? String(a) : a;
        head += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
      }
    }
    this.#out.push(head);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    this.#out = [];
    if (out.length === 0 || !this.#socket) return;
    // One write per tick: a string when every chunk is one (encoded once by the socket), else one buffer.
    this.#socket.write(out.every((c) => typeof c === 'string') ? out.join('') : Buffer.concat(out.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))));
  }

  #checkTimeout(): void {
    if (this.#waiting.length === 0) return;
    if (performance.now() - this.#lastReplyAt > this.#opts.timeoutMs) {
      this.#drop(unavailable(this.address, `no reply within ${this.#opts.timeoutMs} ms`), this.#socket);
    }
  }

  /** Fails every waiting command and forgets the connection (the next command reconnects). */
  #drop(error: unknown, socket?: Socket): void {
    if (socket !== undefined && socket !== this.#socket && this.#socket !== undefined) return;
    const s = this.#socket ?? socket;
    this.#socket = undefined;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#out = [];
    s?.removeAllListeners('data');
    s?.destroy();
    for (const p of this.#waiting.splice(0)) p.reject(error);
  }

  #onData(chunk: Buffer): void {
    this.#lastReplyAt = performance.now();
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let pos = 0;
    for (;;) {
      let r: Parsed | undefined;
      try {
        r = parse(this.#buf, pos);
      } catch (e) {
        return this.#drop(e, this.#socket);
      }
      if (r === undefined) break;
      pos = r.end;
      const p = this.#waiting.shift();
      if (!p) continue;
      if (r.value instanceof ReplyError) {
        p.reject(new GemflowError('state_unavailable', `redis at ${this.address} replied: ${r.value.message}`, { retriable: true, detail: { reply: r.value.message } }));
      } else p.resolve(r.value);
    }
    this.#buf = pos === this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(pos);
  }
}

class ReplyError {
  constructor(readonly message: string) {}
}

type Parsed = { value: RespValue | ReplyError; end: number };

/** One reply starting at `pos`, or undefined when it is not complete yet. */
function parse(buf: Buffer, pos: number): Parsed | undefined {
  if (pos >= buf.length) return undefined;
  const nl = buf.indexOf(13, pos); // \r
  if (nl < 0 || nl + 1 >= buf.length) return undefined;
  const type = buf[pos];
  const line = buf.toString('latin1', pos + 1, nl);
  const next = nl + 2;
  switch (type) {
    case 43: // +
      return { value: buf.toString('utf8', pos + 1, nl), end: next };
    case 45: // -
      return { value: new ReplyError(buf.toString('utf8', pos + 1, nl)), end: next };
    case 58: // :
      return { value: Number(line), end: next };
    case 36: {
      // $
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (next + len + 2 > buf.length) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case 42: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (r === undefined) return undefined;
        if (r.value instanceof ReplyError) items.push(null);
        else items.push(r.value);
        p = r.end;
      }
      return { value: items, end: p };
    }
    default:
      throw new GemflowError('state_unavailable', `unexpected byte ${type} in a Redis reply`, { retriable: true });
  }
}

function unavailable(address: string, why: string, cause?: unknown): GemflowError {
  return new GemflowError('state_unavailable', `state store (Redis) at ${address} unavailable: ${why}`, { retriable: true, cause });
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
