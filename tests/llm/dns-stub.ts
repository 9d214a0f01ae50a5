import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A tiny authoritative DNS server over UDP on 127.0.0.1 for tests (a real server on a real socket,
 * queried by node:dns's c-ares resolver): A and AAAA answers from a record table the test changes at
 * run time, NXDOMAIN for unknown names, NOERROR without answers for a known name without records of
 * the asked type. `mode` makes it fail: `servfail` answers SERVFAIL, `silent` does not answer (the
 * resolver times out). TTL 0, so no resolver caches an answer.
 */
export class DnsStub {
  readonly #socket: Socket;
  readonly #records = new Map<string, string[]>();
  mode: 'ok' | 'servfail' | 'silent' = 'ok';
  /** Queries received, by "TYPE name". */
  readonly queries: string[] = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg, rinfo) => {
      const reply = this.#answer(msg);
      if (reply) socket.send(reply, rinfo.port, rinfo.address);
    });
  }

  static async start(): Promise<DnsStub> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return new DnsStub(socket);
  }

  /** `host:port`, for Resolver.setServers / the `dnsServers` config key. */
  get server(): string {
    const a = this.#socket.address();
    return `${a.address}:${a.port}`;
  }

  /** Replaces the addresses of `name` (IPv4 and IPv6 mixed); an empty list keeps the name with no records. */
  set(name: string, addresses: string[]): void {
    this.#records.set(norm(name), [...addresses]);
  }

  /** Forgets `name`: NXDOMAIN. */
  delete(name: string): void {
    this.#records.delete(norm(name));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #answer(msg: Buffer): Buffer | undefined {
    if (msg.length < 12 || this.mode === 'silent') return undefined;
    // Question: labels up to the zero byte, then QTYPE and QCLASS.
    let i = 12;
    const labels: string[] = [];
    while (i < msg.length && msg[i] !== 0) {
      const len = msg[i]!;
      labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
      i += 1 + len;
    }
    const questionEnd = i + 5;
    if (questionEnd > msg.length) return undefined;
    const qtype = msg.readUInt16BE(i + 1);
    const name = norm(labels.join('.'));
    this.queries.push(`${qtype === 1 ? 'A' : qtype === 28 ? 'AAAA' : qtype} ${name}`);
    const known = this.#records.get(name);
    const rcode = this.mode === 'servfail' ? 2 : known === undefined ? 3 : 0;
    const wanted = rcode !== 0 ? [] : known!.filter((a) => (qtype === 1 ? isIPv4(a) : qtype === 28 ? isIPv6(a) : false));
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8000 | 0x0400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2); // QR, AA, RD copied, RA, rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(wanted.length, 6);
    const answers = wanted.map((a) => {
      const rdata = qtype === 1 ? Buffer.from(a.split('.').map(Number)) : ipv6Bytes(a);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0: never cached
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    return Buffer.concat([header, msg.subarray(12, questionEnd), ...answers]);
  }
}

function norm(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, k) => b.writeUInt16BE(parseInt(g, 16), k * 2));
  return b;
}
