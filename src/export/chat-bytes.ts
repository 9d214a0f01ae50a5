import { hermesSystemPrompt, parseArgs } from './formats.js';
import { JsonSimd, escapeEnd } from './json-simd.js';

/**
 * The fast path of `gemflow export` sharegpt and hermes: a row's messages and tools JSON text,
 * as UTF-8 bytes, is scanned (never decoded into JS strings, never parsed into objects) and the
 * format's JSON line is assembled from slices of it, written straight into the output buffer.
 *
 * Exactness: the line is byte for byte what the slow path (chatMessagesOf / chatToolsOf, toShareGpt /
 * toHermes, JSON.stringify) writes for the row. The scan accepts only text that
 * JSON.stringify of src/chat-format.ts's shapes gives (the sink's): keys in that order, no whitespace,
 * every string literal canonical (the escapes JSON.stringify writes and no others), tools' parameters
 * canonical JSON (numbers as JSON.stringify writes them, no duplicate keys, no key that could be an
 * array index). For such text, decoding and re-encoding is the identity, so slices are exact. A row
 * the scan does not accept (older internal JSON, hand-written text, broken JSON) returns false and
 * the caller takes the slow path for that row alone. Tool-call arguments and tool replies, which
 * sharegpt and hermes parse and re-serialise, are copied when they are canonical JSON, written as a
 * string when they cannot be JSON, and otherwise converted by parseArgs + JSON.stringify (that field
 * only).
 */

/**
 * A byte pattern compared four bytes at a time (little-endian 32-bit words, the last one masked):
 * fewer loop turns and branches than a byte loop, which dominated the walk.
 */
class Pat {
  readonly w: Int32Array;
  readonly mask: number;
  readonly length: number;
  constructor(readonly b: Uint8Array) {
    this.length = b.length;
    const n = (b.length + 3) >> 2;
    this.w = new Int32Array(n);
    for (let j = 0; j < b.length; j++) this.w[j >> 2]! |= b[j]! << (8 * (j & 3));
    this.mask = b.length & 3 ? (1 << (8 * (b.length & 3))) - 1 : -1;
  }
}

const Q = 0x22; // "
const BS = 0x5c; // \
const enc = (s: string) => Buffer.from(s, 'latin1');
/** A string as it appears inside a JSON string literal (JSON.stringify without the quotes). */
const escd = (s: string) => Buffer.from(JSON.stringify(s).slice(1, -1), 'utf8');
/** Byte constants (Pat): each text of `texts` through `f`. */
const patsOf = <T extends Record<string, string>>(f: (s: string) => Buffer, texts: T) => Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, new Pat(f(v))])) as { [k in keyof T]: Pat };

const SYSTEM = 0;
const USER = 1;
const ASSISTANT = 2;
const TOOL = 3;

const pat = (s: string) => new Pat(enc(s));
/** A role's literal and the content key after it, by role (SYSTEM...TOOL). */
const ROLE_CONTENT = ['"system","content":', '"user","content":', '"assistant","content":', '"tool","content":'].map(pat);

const K = patsOf(enc, {
  msgOpen: '{"role":',
  toolCalls: ',"tool_calls":[',
  toolCallId: ',"tool_call_id":',
  name: ',"name":',
  callOpen: '{"id":',
  callMid: ',"type":"function","function":{"name":',
  args: ',"arguments":',
  toolOpen: '{"type":"function","function":',
  fnOpen: '{"name":',
  description: ',"description":',
  parameters: ',"parameters":',
  true: 'true',
  false: 'false',
  null: 'null',
});

/**
 * The structure of one row's messages and tools: spans [start, end) of byte offsets into the row's
 * buffers; a literal's span includes its quotes. Arrays are reused from row to row.
 */
export class ChatScan {
  m = { n: 0, role: [] as number[], c0: [] as number[], c1: [] as number[], call0: [] as number[], call1: [] as number[], id0: [] as number[], id1: [] as number[], name0: [] as number[], name1: [] as number[] };
  /** Calls: each call's name literal and arguments literal. */
  c = { n: 0, name0: [] as number[], name1: [] as number[], a0: [] as number[], a1: [] as number[] };
  /** Tools: each tool's function object. */
  t = { n: 0, f0: [] as number[], f1: [] as number[] };
  mb: Uint8Array = new Uint8Array(0);
  /** A DataView of mb. */
  mdv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  tb: Uint8Array = new Uint8Array(0);
  #keys: number[] = [];
  #keyTop = 0;
  /** The positions of the unescaped quotes of the buffer being parsed (#quotes): #pos[#cur] the next one to take, #pos[#np] the first sentinel. */
  #pos: Int32Array = new Int32Array(2);
  /** The scans of messages and of tools (each keeps its quote and escape lists until the next row). */
  readonly #qm = new JsonSimd();
  readonly #qt = new JsonSimd();
  /** A quote's length: 1, or 2 (`\"`) while canonicalBody walks a literal's body. */
  #ql = 1;
  /** canonicalBody's own quote list (#pos points at it or at a JsonSimd's). */
  #bodyPos: Int32Array = new Int32Array(1024);
  #np = 0;
  #cur = 0;
  /** A DataView of the buffer being walked (#has reads it four bytes at a time). */
  #dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  #has(b: Uint8Array, i: number, p: Pat): boolean {
    return has(b, this.#dv, i, p);
  }

  /** Writes tb[s, e) escaped (Out.esc), long runs from the tools scan's memory (no copy in). */
  escTools(o: Out, s: number, e: number): void {
    if (e - s < 128) return o.esc(this.tb, s, e);
    o.ensure(2 * (e - s));
    o.at = this.#qt.escapeScanned(s, e, o.buf, o.at);
  }

  /** Scans a row; false when its text is not exactly the sink's chat format (take the slow path). */
  scan(messages: Uint8Array, tools: Uint8Array): boolean {
    this.mb = messages;
    this.tb = tools;
    if (!this.#quotes(messages, this.#qm)) return false;
    this.mdv = this.#dv;
    return this.#messages(messages) && this.#quotes(tools, this.#qt) && this.#tools(tools);
  }

  /**
   * Notes where b's unescaped quotes are (JsonSimd: WebAssembly SIMD); false when it holds a raw
   * control character or an escape JSON.stringify does not write. So every string literal in b is
   * canonical, and the parse takes a literal's end from the list (#lit) instead of reading it again.
   */
  #quotes(b: Uint8Array, qs: JsonSimd): boolean {
    const k = qs.scan(b);
    if (k < 0) return false;
    this.#dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.#pos = qs.quotes;
    this.#cur = qs.quotesAt;
    this.#np = this.#cur + k;
    return true;
  }

  /** The end of the string literal opening at i (a quote #quotes found), or -1. */
  #lit(b: Uint8Array, i: number, _end: number): number {
    const pos = this.#pos;
    let k = this.#cur;
    while (pos[k]! < i) k++;
    if (pos[k] !== i || k + 1 >= this.#np) return -1;
    this.#cur = k + 2;
    return pos[k + 1]! + this.#ql;
  }

  #messages(b: Uint8Array): boolean {
    const m = this.m;
    m.n = 0;
    this.c.n = 0;
    const end = b.length;
    if (b[0] !== 0x5b) return false;
    let i = 1;
    if (b[i] === 0x5d) return i + 1 === end;
    for (;;) {
      i = this.#message(b, i, end);
      if (i < 0) return false;
      if (b[i] === 0x2c) i++;
      else return b[i] === 0x5d && i + 1 === end;
    }
  }

  #message(b: Uint8Array, i: number, end: number): number {
    if (!this.#has(b, i, K.msgOpen)) return -1;
    i += K.msgOpen.length;
    // The role by its literal's length ("user" and "tool" by their first letter), then checked whole.
    const r1 = this.#lit(b, i, end);
    const len = r1 - i;
    const role = len === 8 ? SYSTEM : len === 11 ? ASSISTANT : len === 6 ? (b[i + 1] === 0x75 ? USER : TOOL) : -1;
    if (role < 0 || !this.#has(b, i, ROLE_CONTENT[role]!)) return -1;
    i += ROLE_CONTENT[role]!.length;
    const m = this.m;
    const k = m.n;
    const c0 = i;
    const c1 = this.#lit(b, c0, end);
    if (c1 < 0) return -1;
    i = c1;
    m.role[k] = role;
    m.c0[k] = c0;
    m.c1[k] = c1;
    m.call0[k] = m.call1[k] = this.c.n;
    m.id0[k] = m.id1[k] = m.name0[k] = m.name1[k] = -1;
    if (this.#has(b, i, K.toolCalls)) {
      i += K.toolCalls.length;
      if (b[i] === 0x5d) i++;
      else {
        for (;;) {
          i = this.#call(b, i, end);
          if (i < 0) return -1;
          if (b[i] === 0x2c) i++;
          else if (b[i] === 0x5d) {
            i++;
            break;
          } else return -1;
        }
      }
      m.call1[k] = this.c.n;
    }
    if (this.#has(b, i, K.toolCallId)) {
      m.id0[k] = i + K.toolCallId.length;
      i = m.id1[k] = this.#lit(b, m.id0[k]!, end);
      if (i < 0) return -1;
    }
    if (this.#has(b, i, K.name)) {
      m.name0[k] = i + K.name.length;
      i = m.name1[k] = this.#lit(b, m.name0[k]!, end);
      if (i < 0) return -1;
    }
    if (b[i] !== 0x7d) return -1;
    m.n++;
    return i + 1;
  }

  #call(b: Uint8Array, i: number, end: number): number {
    const c = this.c;
    const k = c.n;
    if (!this.#has(b, i, K.callOpen)) return -1;
    i = this.#lit(b, i + K.callOpen.length, end);
    if (i < 0 || !this.#has(b, i, K.callMid)) return -1;
    c.name0[k] = i + K.callMid.length;
    i = c.name1[k] = this.#lit(b, c.name0[k]!, end);
    if (i < 0 || !this.#has(b, i, K.args)) return -1;
    c.a0[k] = i + K.args.length;
    i = c.a1[k] = this.#lit(b, c.a0[k]!, end);
    if (i < 0 || b[i] !== 0x7d || b[i + 1] !== 0x7d) return -1;
    c.n++;
    return i + 2;
  }

  #tools(b: Uint8Array): boolean {
    const t = this.t;
    t.n = 0;
    const end = b.length;
    if (b[0] !== 0x5b) return false;
    let i = 1;
    if (b[i] === 0x5d) return i + 1 === end;
    for (;;) {
      if (!this.#has(b, i, K.toolOpen)) return false;
      i += K.toolOpen.length;
      const f0 = i;
      if (!this.#has(b, i, K.fnOpen)) return false;
      i = this.#lit(b, i + K.fnOpen.length, end);
      if (i < 0 || !this.#has(b, i, K.description)) return false;
      i = this.#lit(b, i + K.description.length, end);
      if (i < 0 || !this.#has(b, i, K.parameters)) return false;
      i += K.parameters.length;
      if (b[i] !== 0x7b) return false; // an object (null or a string would not come back as it is)
      this.#keyTop = 0;
      i = this.#value(b, i, end, 0);
      if (i < 0 || b[i] !== 0x7d || b[i + 1] !== 0x7d) return false;
      t.f0[t.n] = f0;
      t.f1[t.n] = i + 1;
      t.n++;
      i += 2;
      if (b[i] === 0x2c) i++;
      else return b[i] === 0x5d && i + 1 === end;
    }
  }

  /**
   * True when the string literal body mb[s, e) (canonical: the scan checked it) holds, decoded, one
   * JSON value exactly as JSON.stringify(JSON.parse(it)) writes it. Not decoded: the messages scan's
   * escape list says where the decoded text's quotes are (an escaped quote `\"` not escaped again
   * inside a decoded string) and its escapes are checked there (the body's own escapes may only be
   * \" and \\: any other decodes to a control character, which canonical JSON text holds nowhere);
   * then #value walks the body itself, a quote being two bytes (`\"`) long.
   */
  canonicalBody(s: number, e: number): boolean {
    const b = this.mb;
    const q = this.#qm;
    const ix = q.quotes;
    let lo = q.escapesAt;
    let hi = q.escapesEnd;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ix[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    if (this.#bodyPos.length < (e - s) / 2 + 2) this.#bodyPos = new Int32Array(Math.max(e - s + 2, 2 * this.#bodyPos.length));
    const pos = this.#bodyPos;
    let k = 0;
    let escaping = false; // the last decoded character was a backslash starting an escape
    for (let x = lo; x < q.escapesEnd; x++) {
      const p = ix[x]!;
      if (p >= e) break;
      const c = b[p + 1];
      if (c === Q) {
        if (escaping) escaping = false;
        else pos[k++] = p; // a quote of the decoded text
        continue;
      }
      if (c !== BS) return false;
      if (escaping) {
        escaping = false; // an escaped backslash
        continue;
      }
      // A backslash of the decoded text: its escape must be one JSON.stringify writes.
      const d = b[p + 2];
      if (d === BS) escaping = true; // \\" or \\\\: the next escape, at p + 2, says which
      else if (d === 0x75 ? escapeEnd(b, p + 1) < 0 : !(d === 0x62 || d === 0x66 || d === 0x6e || d === 0x72 || d === 0x74)) return false;
    }
    if (escaping) return false;
    pos[k] = pos[k + 1] = e; // sentinels
    this.#pos = pos;
    this.#np = k;
    this.#cur = 0;
    this.#keyTop = 0;
    this.#dv = this.mdv;
    this.#ql = 2;
    const end = this.#value(b, s, e, 0);
    this.#ql = 1;
    return end === e;
  }

  /** The end of the canonical JSON value at i, or -1. */
  #value(b: Uint8Array, i: number, end: number, depth: number): number {
    const c = b[i];
    if (c === Q || c === BS) return this.#lit(b, i, end); // a string (BS: a quote, in a body; #lit checks)
    if (c === 0x7b) {
      if (depth > 64) return -1;
      i++;
      if (b[i] === 0x7d) return i + 1;
      const base = this.#keyTop;
      const keys = this.#keys;
      for (;;) {
        const d = b[i + this.#ql]!;
        if (d >= 0x30 && d <= 0x39) return -1; // a key like "1" is reordered by JSON.parse
        const ke = this.#lit(b, i, end);
        if (ke < 0) return -1;
        for (let k = base; k < this.#keyTop; k += 2) if (same(b, keys[k]!, keys[k + 1]!, i, ke)) return -1; // duplicate key
        keys[this.#keyTop++] = i;
        keys[this.#keyTop++] = ke;
        if (b[ke] !== 0x3a) return -1;
        i = this.#value(b, ke + 1, end, depth + 1);
        if (i < 0) return -1;
        if (b[i] === 0x2c) i++;
        else if (b[i] === 0x7d) {
          this.#keyTop = base;
          return i + 1;
        } else return -1;
      }
    }
    if (c === 0x5b) {
      if (depth > 64) return -1;
      i++;
      if (b[i] === 0x5d) return i + 1;
      for (;;) {
        i = this.#value(b, i, end, depth + 1);
        if (i < 0) return -1;
        if (b[i] === 0x2c) i++;
        else return b[i] === 0x5d ? i + 1 : -1;
      }
    }
    if (c === 0x74) return this.#has(b, i, K.true) ? i + 4 : -1;
    if (c === 0x66) return this.#has(b, i, K.false) ? i + 5 : -1;
    if (c === 0x6e) return this.#has(b, i, K.null) ? i + 4 : -1;
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return num(b, i);
    return -1;
  }
}

/** b[i...] starts with k (dv: a DataView of b). */
function has(b: Uint8Array, dv: DataView, i: number, k: Pat): boolean {
  const w = k.w;
  const last = w.length - 1;
  if (i + 4 * w.length > b.length) return hasBytes(b, i, k.b);
  for (let j = 0; j < last; j++) if (dv.getInt32(i + 4 * j, true) !== w[j]) return false;
  return (dv.getInt32(i + 4 * last, true) & k.mask) === w[last];
}

function hasBytes(b: Uint8Array, i: number, k: Uint8Array): boolean {
  if (i + k.length > b.length) return false;
  for (let j = 0; j < k.length; j++) if (b[i + j] !== k[j]) return false;
  return true;
}

function same(b: Uint8Array, s0: number, e0: number, s1: number, e1: number): boolean {
  if (e0 - s0 !== e1 - s1) return false;
  for (let j = 0; j < e0 - s0; j++) if (b[s0 + j] !== b[s1 + j]) return false;
  return true;
}

const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** The end of the JSON number at i when JSON.stringify would write it so, else -1. */
function num(b: Uint8Array, i: number): number {
  const s = i;
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  let simple = true;
  if (b[i] === 0x2e) {
    simple = false;
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    simple = false;
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (simple && i - s <= 15 && !(b[s] === 0x2d && b[s + 1] === 0x30)) return i;
  const t = String.fromCharCode(...b.subarray(s, i));
  return String(Number(t)) === t ? i : -1;
}

/** Escapes long runs (Out.esc) in WebAssembly, 16 bytes at a time where it can: ~4x the JS loop. */
const ESCAPER = new JsonSimd();

/** Up to this many bytes, raw copies go four bytes at a time in JS; longer ones through `set` (a view made per copy). */
const SHORT_COPY = 96;

/** A growing output buffer the fast path writes lines into. */
export class Out {
  buf: Buffer;
  at = 0;
  #dv: DataView;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.#dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }
  ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
    this.#dv = new DataView(next.buffer, next.byteOffset, next.length);
  }
  /** Bytes b[s, e) as they are (dv: a DataView of b). */
  raw(b: Uint8Array, dv: DataView, s: number, e: number): void {
    this.ensure(e - s + 4);
    let a = this.at;
    this.at += e - s;
    if (e - s > SHORT_COPY) return this.buf.set(b.subarray(s, e), a);
    const od = this.#dv;
    let j = s;
    for (; j + 4 <= e; j += 4, a += 4) od.setInt32(a, dv.getInt32(j, true), true);
    for (; j < e; j++, a++) this.buf[a] = b[j]!;
  }
  /** A constant (its last word may write up to 3 bytes past it: room that ensure keeps). */
  k(p: Pat): void {
    const w = p.w;
    if (w.length > 16) {
      this.ensure(p.length);
      this.buf.set(p.b, this.at);
      this.at += p.length;
      return;
    }
    this.ensure(4 * w.length);
    const od = this.#dv;
    for (let j = 0, a = this.at; j < w.length; j++, a += 4) od.setInt32(a, w[j]!, true);
    this.at += p.length;
  }
  /** Bytes b[s, e) escaped as inside a JSON string literal (they hold no control character); long runs in WebAssembly. */
  esc(b: Uint8Array, s: number, e: number): void {
    this.ensure(2 * (e - s));
    if (e - s >= 128) {
      this.at = ESCAPER.escapeInto(b, s, e, this.buf, this.at);
      return;
    }
    const o = this.buf;
    let a = this.at;
    for (let j = s; j < e; j++) {
      const c = b[j]!;
      if (c === Q || c === BS) o[a++] = BS;
      o[a++] = c;
    }
    this.at = a;
  }
  /** A JS string as UTF-8. */
  str(s: string): void {
    this.ensure(3 * s.length);
    this.at += this.buf.write(s, this.at, 'utf8');
  }
  byte(c: number): void {
    this.ensure(1);
    this.buf[this.at++] = c;
  }
}

const decoder = new TextDecoder();
/** The string a (canonical) literal b[s, e) holds. */
const litValue = (b: Uint8Array, s: number, e: number) => JSON.parse(decoder.decode(b.subarray(s, e))) as string;

/** Could the literal body b[s, e) (decoded) be JSON? False only when JSON.parse would surely throw. */
function maybeJson(b: Uint8Array, s: number, e: number): boolean {
  if (s === e) return false;
  const c = b[s]!;
  return c === 0x7b || c === 0x5b || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e || c === 0x20 || c === BS;
}

/**
 * Writes one line's records for rows the scan accepted. Each method writes the format's JSON record
 * (no newline) and returns undefined, or returns the skip reason the slow path would give (nothing written).
 */
export class FastLines {
  readonly scan = new ChatScan();

  /** JSON.stringify(parseArgs(<the string literal b[s, e) holds>)), escaped as inside a string literal. */
  #jsonOfText(o: Out, b: Uint8Array, s: number, e: number): void {
    const body0 = s + 1;
    const body1 = e - 1;
    if (!maybeJson(b, body0, body1)) {
      // Not JSON: parseArgs keeps the string, JSON.stringify quotes it: the literal, escaped.
      o.esc(b, s, e);
      return;
    }
    if (this.scan.canonicalBody(body0, body1)) {
      o.raw(b, this.scan.mdv, body0, body1); // the JSON text escaped is the literal's body
      return;
    }
    o.str(JSON.stringify(JSON.stringify(parseArgs(litValue(b, s, e)))).slice(1, -1));
  }

  /** {"name":<call's name>,"arguments":<parsed arguments>} escaped as inside a string literal. */
  #callInner(o: Out, k: number): void {
    const c = this.scan.c;
    const b = this.scan.mb;
    o.k(E.callName);
    o.esc(b, c.name0[k]! + 1, c.name1[k]! - 1);
    o.k(E.callArgs);
    this.#jsonOfText(o, b, c.a0[k]!, c.a1[k]!);
    o.byte(0x7d);
  }

  sharegpt(o: Out): string | undefined {
    const { m, mb: b, mdv, tb, t } = this.scan;
    // Turns as toShareGpt builds them: from (SG_*), and segments: a content (message index) or a run of
    // tool replies (several: their JSON list) or, in a function_call turn, calls (call index).
    const tFrom = this.#tFrom;
    const tSeg = this.#tSeg;
    const sKind = this.#sKind;
    const sA = this.#sA;
    const sB = this.#sB;
    let nt = 0;
    let ns = 0;
    const inSide = (f: number) => f === SG_HUMAN || f === SG_OBS;
    // push(from, segment): the segment kinds: 0 text (message a), 1 replies (messages a..b-1), 2 calls (calls a..b-1)
    const push = (from: number, kind: number, a: number, bb: number) => {
      const last = nt > 0 ? tFrom[nt - 1]! : -1;
      if (last < 0 || inSide(last) !== inSide(from)) {
        tFrom[nt] = from;
        tSeg[nt++] = ns;
      } else if (last === from && from !== SG_CALL) {
        // joined with "\n\n": a further segment
      } else if (from === SG_CALL && last === SG_GPT) {
        tFrom[nt - 1] = from; // text beside calls: dropped
        ns = tSeg[nt - 1]!;
      } else if (from === SG_CALL && last === SG_CALL) {
        // calls merged into one list: a further segment of calls
      } else if (from === SG_GPT && last === SG_CALL) {
        return;
      } // else: human and observation: joined with "\n\n", the turn keeps its from
      sKind[ns] = kind;
      sA[ns] = a;
      sB[ns++] = bb;
    };
    const sys0 = this.#sys;
    let nsys = 0;
    for (let i = 0; i < m.n; i++) {
      const role = m.role[i]!;
      if (role === SYSTEM) sys0[nsys++] = i;
      else if (role === USER) push(SG_HUMAN, 0, i, i + 1);
      else if (role === ASSISTANT) {
        if (m.call1[i]! === m.call0[i]!) push(SG_GPT, 0, i, i + 1);
        else push(SG_CALL, 2, m.call0[i]!, m.call1[i]!);
      } else {
        const first = i;
        while (i < m.n && m.role[i] === TOOL) i++;
        i--;
        if (i === first) push(SG_OBS, 0, i, i + 1);
        else push(SG_OBS, 1, first, i + 1);
      }
    }
    while (nt > 0 && inSide(tFrom[nt - 1]!)) ns = tSeg[--nt]!;
    if (nt === 0 || tFrom[0] !== SG_HUMAN) return 'sharegpt_no_user_turn';
    o.k(E.sgOpen);
    for (let k = 0; k < nt; k++) {
      if (k > 0) o.byte(0x2c);
      o.k(E.sgFrom[tFrom[k]!]!);
      const s1 = k + 1 < nt ? tSeg[k + 1]! : ns;
      if (tFrom[k] === SG_CALL) {
        let calls = 0;
        for (let s = tSeg[k]!; s < s1; s++) calls += sB[s]! - sA[s]!;
        if (calls > 1) o.byte(0x5b);
        let first = true;
        for (let s = tSeg[k]!; s < s1; s++) {
          for (let c = sA[s]!; c < sB[s]!; c++) {
            if (!first) o.byte(0x2c);
            first = false;
            this.#callInner(o, c);
          }
        }
        if (calls > 1) o.byte(0x5d);
      } else {
        for (let s = tSeg[k]!; s < s1; s++) {
          if (s > tSeg[k]!) o.k(E.nn);
          if (sKind[s] === 0) o.raw(b, mdv, m.c0[sA[s]!]! + 1, m.c1[sA[s]!]! - 1);
          else {
            o.byte(0x5b);
            for (let j = sA[s]!; j < sB[s]!; j++) {
              if (j > sA[s]!) o.byte(0x2c);
              o.esc(b, m.c0[j]!, m.c1[j]!);
            }
            o.byte(0x5d);
          }
        }
      }
      o.k(E.quoteClose);
    }
    o.k(E.sgSystem);
    for (let k = 0; k < nsys; k++) {
      if (k > 0) o.k(E.nn);
      o.raw(b, mdv, m.c0[sys0[k]!]! + 1, m.c1[sys0[k]!]! - 1);
    }
    o.k(E.sgTools);
    for (let k = 0; k < t.n; k++) {
      if (k > 0) o.byte(0x2c);
      this.scan.escTools(o, t.f0[k]!, t.f1[k]!);
    }
    o.k(E.sgEnd);
    return undefined;
  }
  #tFrom: number[] = [];
  #tSeg: number[] = [];
  #sKind: number[] = [];
  #sA: number[] = [];
  #sB: number[] = [];
  #sys: number[] = [];

  hermes(o: Out, trajectoryId: string): undefined {
    const { m, mb: b, mdv, tb } = this.scan;
    o.k(E.hmId);
    o.str(JSON.stringify(trajectoryId));
    o.k(E.hmSystem);
    // The system prompt: the system messages joined, then "\n\n" when there are any, then the preamble.
    let nsys = 0;
    let sysEmpty = true;
    for (let i = 0; i < m.n; i++) {
      if (m.role[i] !== SYSTEM) continue;
      if (nsys++ > 0) {
        o.k(E.nn);
        sysEmpty = false;
      }
      if (m.c1[i]! - m.c0[i]! > 2) sysEmpty = false;
      o.raw(b, mdv, m.c0[i]! + 1, m.c1[i]! - 1);
    }
    if (!sysEmpty) o.k(E.nn);
    o.k(E.hmPre);
    const t0 = o.at;
    this.scan.escTools(o, 0, tb.length);
    const t1 = o.at;
    o.k(E.hmPost);
    o.k(E.quoteClose);
    for (let i = 0; i < m.n; i++) {
      const role = m.role[i]!;
      if (role === SYSTEM) continue;
      if (role === USER) {
        o.k(E.hmHuman);
        o.raw(b, mdv, m.c0[i]!, m.c1[i]!);
        o.byte(0x7d);
      } else if (role === ASSISTANT) {
        o.k(E.hmGpt);
        let any = m.c1[i]! - m.c0[i]! > 2;
        if (any) o.raw(b, mdv, m.c0[i]! + 1, m.c1[i]! - 1);
        for (let c = m.call0[i]!; c < m.call1[i]!; c++) {
          if (any) o.k(E.n);
          any = true;
          o.k(E.hmCallOpen);
          this.#callInner(o, c);
          o.k(E.hmCallClose);
        }
        o.k(E.quoteClose);
      } else {
        o.k(E.hmTool);
        for (let first = i; i < m.n && m.role[i] === TOOL; i++) {
          if (i > first) o.k(E.n);
          o.k(E.hmRespOpen);
          if (m.name0[i]! >= 0) o.esc(b, m.name0[i]! + 1, m.name1[i]! - 1);
          o.k(E.hmRespContent);
          this.#jsonOfText(o, b, m.c0[i]!, m.c1[i]!);
          o.k(E.hmRespClose);
        }
        i--;
        o.k(E.quoteClose);
      }
    }
    o.k(E.hmTools);
    o.ensure(t1 - t0);
    o.buf.copyWithin(o.at, t0, t1); // the tools escaped once, above
    o.at += t1 - t0;
    o.k(E.quoteClose);
    return undefined;
  }
}

const SG_HUMAN = 0;
const SG_GPT = 1;
const SG_CALL = 2;
const SG_OBS = 3;

/** Output constants. */
const E = {
  ...patsOf(enc, {
    quoteClose: '"}',
    sgOpen: '{"conversations":[',
    sgSystem: '],"system":"',
    sgTools: '","tools":"[',
    sgEnd: ']"}',
    hmId: '{"id":',
    hmSystem: ',"conversations":[{"from":"system","value":"',
    hmHuman: ',{"from":"human","value":',
    hmGpt: ',{"from":"gpt","value":"',
    hmTool: ',{"from":"tool","value":"',
    hmTools: '],"tools":"',
  }),
  // inside a JSON string literal
  ...patsOf(escd, {
    n: '\n',
    nn: '\n\n',
    callName: '{"name":"',
    callArgs: '","arguments":',
    hmCallOpen: '<tool_call>\n',
    hmCallClose: '\n</tool_call>',
    hmRespOpen: '<tool_response>\n{"name":"',
    hmRespContent: '","content":',
    hmRespClose: '}\n</tool_response>',
  }),
  sgFrom: ['human', 'gpt', 'function_call', 'observation'].map((f) => pat(`{"from":"${f}","value":"`)),
  ...hermesPreamble(),
};

/** hermesSystemPrompt's text before and after the tools JSON, escaped. */
function hermesPreamble(): { hmPre: Pat; hmPost: Pat } {
  const p = hermesSystemPrompt('', []);
  const at = p.indexOf('<tools> [] </tools>') + '<tools> '.length;
  return { hmPre: new Pat(escd(p.slice(0, at))), hmPost: new Pat(escd(p.slice(at + 2))) };
}
