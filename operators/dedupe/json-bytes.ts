import { sortKeys } from '../validate/canonical-json.js';

/**
 * canonicalJson's output (operators/validate/canonical-json.ts: JSON.stringify with object keys
 * sorted by UTF-16 code units) written straight into a reused byte buffer as UTF-8, for hashing: no
 * string is built. Building the trajectory's canonical JSON as a string made a rope of small strings
 * (each string value copied once by JSON.stringify and again when the rope was flattened for the
 * hash), the largest source of garbage per trajectory. Tested byte for byte against canonicalJson in
 * tests/operators/dedupe/json-bytes.test.ts.
 */
export class JsonBytes {
  #buf = new Uint8Array(16384);
  #len = 0;

  /** Starts over (the buffer is kept, unless an unusually large value grew it past 1 MiB). */
  reset(): this {
    if (this.#buf.length > 1 << 20) this.#buf = new Uint8Array(16384);
    this.#len = 0;
    return this;
  }

  /** The bytes written so far: a view of the reused buffer, valid until the next write or reset. */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** Raw ASCII text (punctuation, numbers): the caller makes sure it is ASCII. */
  ascii(s: string): this {
    this.#room(s.length);
    const b = this.#buf;
    let p = this.#len;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.#len = p;
    return this;
  }

  /** A string as JSON.stringify writes it (well-formed: a lone surrogate as \udxxx), in UTF-8. */
  string(s: string): this {
    // At most 6 bytes per UTF-16 unit (\u00xx or a lone surrogate's escape), plus the quotes.
    this.#room(s.length * 6 + 2);
    const b = this.#buf;
    let p = this.#len;
    b[p++] = 0x22;
    const n = s.length;
    if (n >= NATIVE_MIN_LENGTH && !NEEDS_ESCAPE.test(s)) {
      // Nothing to escape and no surrogate to check: the native UTF-8 encoder writes it.
      p += encoder.encodeInto(s, b.subarray(p)).written;
      b[p++] = 0x22;
      this.#len = p;
      return this;
    }
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
          b[p++] = c;
          continue;
        }
        b[p++] = 0x5c;
        const short = SHORT_ESCAPE[c];
        if (short !== undefined) b[p++] = short;
        else p = hex4(b, p, c);
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          b[p++] = 0xf0 | (cp >> 18);
          b[p++] = 0x80 | ((cp >> 12) & 0x3f);
          b[p++] = 0x80 | ((cp >> 6) & 0x3f);
          b[p++] = 0x80 | (cp & 0x3f);
          i++;
        } else {
          b[p++] = 0x5c;
          p = hex4(b, p, c);
        }
      } else {
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      }
    }
    b[p++] = 0x22;
    this.#len = p;
    return this;
  }

  /**
   * An ASCII text normalised as the exact dedupe hash wants it (trimmed, lower-cased, every run of
   * white space one space: `s.trim().toLowerCase().replace(/\s+/g, ' ')`), as a JSON string, made
   * while copying. False, with nothing written, when `s` is not ASCII (Unicode case mapping and white
   * space are then left to the string methods).
   */
  normalizedAscii(s: string): boolean {
    const n = s.length;
    this.#room(n * 6 + 2);
    const b = this.#buf;
    const start = this.#len;
    let p = start;
    b[p++] = 0x22;
    let i = 0;
    while (i < n && isAsciiSpace(s.charCodeAt(i))) i++;
    let end = n;
    while (end > i && isAsciiSpace(s.charCodeAt(end - 1))) end--;
    let space = false;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.#len = start;
        return false;
      }
      if (isAsciiSpace(c)) {
        space = true;
        continue;
      }
      if (space) {
        b[p++] = 0x20;
        space = false;
      }
      if (c >= 0x41 && c <= 0x5a) b[p++] = c | 0x20;
      else if (c >= 0x20 && c !== 0x22 && c !== 0x5c) b[p++] = c;
      else {
        b[p++] = 0x5c;
        const short = SHORT_ESCAPE[c];
        if (short !== undefined) b[p++] = short;
        else p = hex4(b, p, c);
      }
    }
    b[p++] = 0x22;
    this.#len = p;
    return true;
  }

  /** Any value, as canonicalJson serialises it. */
  value(v: unknown): this {
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
        return this.ascii(Number.isFinite(v) ? String(v) : 'null');
      case 'boolean':
        return this.ascii(v ? 'true' : 'false');
      case 'object':
        if (v === null) return this.ascii('null');
        return Array.isArray(v) ? this.#array(v) : this.#object(v as Record<string, unknown>);
      default:
        // undefined, functions, symbols, bigints: canonicalJson writes null.
        return this.ascii('null');
    }
  }

  #array(arr: readonly unknown[]): this {
    this.#byte(0x5b);
    for (let i = 0; i < arr.length; i++) {
      if (i > 0) this.#byte(0x2c);
      this.value(arr[i]);
    }
    return this.#byte(0x5d);
  }

  #object(obj: Record<string, unknown>): this {
    const keys = Object.keys(obj);
    sortKeys(keys);
    this.#byte(0x7b);
    let first = true;
    for (const key of keys) {
      const v = obj[key];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      if (!first) this.#byte(0x2c);
      first = false;
      this.string(key).#byte(0x3a).value(v);
    }
    return this.#byte(0x7d);
  }

  #byte(c: number): this {
    this.#room(1);
    this.#buf[this.#len++] = c;
    return this;
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
}

const encoder = new TextEncoder();

/** The ASCII characters JavaScript's \s and trim() treat as white space: tab, line feed, vertical tab, form feed, carriage return, space. */
const isAsciiSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** What the native encoder cannot be given: characters JSON escapes, and surrogates (a lone one is escaped, not replaced). */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Shorter strings are cheaper to copy in the loop than to hand to the encoder. */
const NATIVE_MIN_LENGTH = 48;

/** The two-character escapes JSON.stringify uses (\b \t \n \f \r \" \\); other control characters are \u00xx. */
const SHORT_ESCAPE: Array<number | undefined> = [];
SHORT_ESCAPE[0x08] = 0x62;
SHORT_ESCAPE[0x09] = 0x74;
SHORT_ESCAPE[0x0a] = 0x6e;
SHORT_ESCAPE[0x0c] = 0x66;
SHORT_ESCAPE[0x0d] = 0x72;
SHORT_ESCAPE[0x22] = 0x22;
SHORT_ESCAPE[0x5c] = 0x5c;

const HEX = [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66];

/** `u` and four lower-case hex digits of c (after a backslash the caller wrote). */
function hex4(b: Uint8Array, p: number, c: number): number {
  b[p++] = 0x75;
  b[p++] = HEX[(c >> 12) & 15]!;
  b[p++] = HEX[(c >> 8) & 15]!;
  b[p++] = HEX[(c >> 4) & 15]!;
  b[p++] = HEX[c & 15]!;
  return p;
}

