/**
 * The two byte loops of src/export/chat-bytes.ts that touch every byte, in WebAssembly SIMD: the
 * quote scan (JsonSimd.scan) and JSON string escaping (escapeInto, a backslash before each quote
 * and backslash; 16 bytes stored at once where none is one).
 *
 * The quote scan (ChatScan #quotes) 16 bytes at a
 * time, the positions of a JSON text's unescaped quotes and of its backslashes, or -1 at a raw control
 * character. In JS the scan of a row's 8.3 KB of messages and tools took ~14 us (a table look-up a
 * byte; ~9.5 us four bytes at a time with SWAR bit tricks: the text export reads holds a quote or
 * backslash every ~7 bytes); this one ~4 us, copying the bytes in included (bench/results/export.md).
 * Memory: the module's grows to ~9x the largest text scanned and stays (two per ChatScan: messages
 * and tools, whose lists the line assembly reads after the scan; one for escaping).
 *
 * The module is assembled here from its instructions (below, one line each with its text form), not
 * shipped as a binary: 16 bytes of input are compared with '"', '\' and < 0x20 at once
 * (i8x16.eq / i8x16.lt_u, i8x16.bitmask), and each set bit is looked at in order: a quote is stored
 * unless a backslash just before escaped it, a backslash is stored and escapes the next byte, a
 * control character ends the scan with -1. The escapes themselves (which JSON.stringify writes) are
 * checked by the caller from the backslash list.
 *
 * Memory: [0, n) the input, [n, n + 16) spaces (the last block reads past n), then the quote
 * positions and the backslash positions (ended by -1), as 32-bit integers.
 */

import { section, sleb, uleb } from '../wasm/encode.js';

// Opcodes (WebAssembly core 2.0 and fixed-width SIMD).
const get = 0x20;
const set = 0x21;
const i32 = (v: number) => [0x41, ...sleb(v)];
const simd = (op: number) => [0xfd, ...uleb(op)];
const V128_LOAD = simd(0);
const SPLAT = simd(15); // i8x16.splat
const EQ = simd(35); // i8x16.eq
const LT_U = simd(38); // i8x16.lt_u
const OR = simd(80); // v128.or
const BITMASK = simd(100); // i8x16.bitmask
const [BLOCK, LOOP, END, BR, BR_IF, RETURN] = [[0x02, 0x40], [0x03, 0x40], 0x0b, 0x0c, 0x0d, 0x0f];
const [EQZ, EQ32, NE, LT, GT, GE, ADD, SUB, AND, OR32, SHR, CTZ, SELECT] = [0x45, 0x46, 0x47, 0x49, 0x4b, 0x4f, 0x6a, 0x6b, 0x71, 0x72, 0x76, 0x68, 0x1b];
const LOAD8 = [0x2d, 0x00, 0x00]; // i32.load8_u
const STORE = [0x36, 0x02, 0x00]; // i32.store
const STORE8 = [0x3a, 0x00, 0x00]; // i32.store8
const V128_STORE = [...simd(11), 0x00, 0x00];

// scan(n, quotes, escapes) -> number of quotes, or -1. Params 0-2, then locals.
const [N, Q, E, I, M, P, SKIP, Q0, VEC] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const BODY = [
  ...[0x02, 0x05, 0x7f, 0x01, 0x7b], // locals: 5 i32 (i m p skip q0), 1 v128 (vec)
  ...[get, Q, set, Q0],
  ...BLOCK, ...LOOP, // per 16 bytes
  ...[get, I, get, N, GE, BR_IF, 1], // i >= n: done
  ...[get, I, ...V128_LOAD, 0x00, 0x00, set, VEC],
  ...[get, VEC, ...i32(0x22), ...SPLAT, ...EQ],
  ...[get, VEC, ...i32(0x5c), ...SPLAT, ...EQ, ...OR],
  ...[get, VEC, ...i32(0x20), ...SPLAT, ...LT_U, ...OR],
  ...[...BITMASK, set, M], // m: the special bytes of the 16
  ...BLOCK, ...LOOP, // per set bit
  ...[get, M, EQZ, BR_IF, 1], // m == 0: next 16
  ...[get, I, get, M, CTZ, ADD, set, P], // p = i + ctz(m)
  ...[get, M, get, M, ...i32(1), SUB, AND, set, M], // m &= m - 1
  ...[get, P, get, SKIP, LT, BR_IF, 0], // p < skip: escaped, next bit
  ...BLOCK,
  ...[get, P, ...LOAD8, ...i32(0x22), NE, BR_IF, 0], // not a quote
  ...[get, Q, get, P, ...STORE, get, Q, ...i32(4), ADD, set, Q], // *q++ = p
  ...[BR, 1], // next bit
  END,
  ...BLOCK,
  ...[get, P, ...LOAD8, ...i32(0x5c), NE, BR_IF, 0], // not a backslash
  ...[get, E, get, P, ...STORE, get, E, ...i32(4), ADD, set, E], // *e++ = p
  ...[get, P, ...i32(2), ADD, set, SKIP], // the next byte is escaped
  ...[BR, 1], // next bit
  END,
  ...[...i32(-1), RETURN], // a control character
  ...[END, END],
  ...[get, I, ...i32(16), ADD, set, I, BR, 0],
  ...[END, END],
  ...[get, E, ...i32(-1), ...STORE], // *e = -1
  ...[get, Q, get, Q0, SUB, ...i32(2), SHR], // (q - q0) / 4
  END,
];

// escape(src, n, dst) -> end of dst: the n bytes at src with a backslash before each quote and backslash
// (JSON string escaping of text without control characters), 16 bytes at a time where none is one.
const [SRC, LEN, DST, J, END16, C, BLK] = [0, 1, 2, 3, 4, 5, 6];
const ESCAPE = [
  ...[0x02, 0x03, 0x7f, 0x01, 0x7b], // locals: 3 i32 (j end16 c), 1 v128 (blk)
  ...BLOCK, ...LOOP,
  ...[get, J, get, LEN, GE, BR_IF, 1], // j >= n: done
  ...BLOCK, // 16 bytes at once when none needs a backslash
  ...[get, J, ...i32(16), ADD, get, LEN, GT, BR_IF, 0], // fewer than 16 left
  ...[get, SRC, get, J, ADD, ...V128_LOAD, 0x00, 0x00, set, BLK],
  ...[get, BLK, ...i32(0x22), ...SPLAT, ...EQ, get, BLK, ...i32(0x5c), ...SPLAT, ...EQ, ...OR, ...BITMASK, BR_IF, 0],
  ...[get, DST, get, BLK, ...V128_STORE],
  ...[get, DST, ...i32(16), ADD, set, DST, get, J, ...i32(16), ADD, set, J, BR, 1],
  END,
  ...[get, LEN, get, J, ...i32(16), ADD, get, J, ...i32(16), ADD, get, LEN, GT, SELECT, set, END16], // min(j + 16, n)
  ...LOOP, // byte by byte up to end16
  ...[get, SRC, get, J, ADD, ...LOAD8, set, C],
  ...[get, DST, ...i32(0x5c), ...STORE8], // a backslash, kept only before a quote or backslash
  ...[get, DST, get, C, ...i32(0x22), EQ32, get, C, ...i32(0x5c), EQ32, OR32, ADD, set, DST],
  ...[get, DST, get, C, ...STORE8, get, DST, ...i32(1), ADD, set, DST],
  ...[get, J, ...i32(1), ADD, set, J, get, J, get, END16, LT, BR_IF, 0],
  END,
  ...[BR, 0],
  ...[END, END],
  ...[get, DST],
  END,
];

const body = (code: number[]) => [...uleb(code.length), ...code];
const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f]), // type: (i32 i32 i32) -> i32
  ...section(3, [0x02, 0x00, 0x00]), // two functions of that type
  ...section(5, [0x01, 0x00, 0x01]), // memory: 1 page to start
  ...section(7, [0x03, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x73, 0x00, 0x00, 0x01, 0x65, 0x00, 0x01]), // exports "m" memory, "s" scan, "e" escape
  ...section(10, [0x02, ...body(BODY), ...body(ESCAPE)]),
]);

/** The positions of a JSON text's unescaped quotes, its escapes checked. */
export class JsonSimd {
  readonly #memory: WebAssembly.Memory;
  readonly #scan: (n: number, quotes: number, escapes: number) => number;
  readonly #escape: (src: number, n: number, dst: number) => number;
  #u8: Uint8Array;
  #i32: Int32Array;
  /**
   * After a scan: the quote positions from quotes[quotesAt] on, then two sentinels (the text's length).
   * Valid until the next scan (a view of the module's memory: no array made per scan).
   */
  quotes: Int32Array;
  quotesAt = 0;
  /** Where the last scan's lists end in memory (escapeScanned writes after them). */
  #scanEnd = 0;
  /** After a scan: the positions of its escapes (backslashes) in quotes[escapesAt, escapesEnd), ascending. */
  escapesAt = 0;
  escapesEnd = 0;

  constructor() {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    this.#memory = inst.exports.m as WebAssembly.Memory;
    this.#scan = inst.exports.s as (n: number, quotes: number, escapes: number) => number;
    this.#escape = inst.exports.e as (src: number, n: number, dst: number) => number;
    this.#u8 = new Uint8Array(this.#memory.buffer);
    this.#i32 = this.quotes = new Int32Array(this.#memory.buffer);
  }

  /**
   * Scans b: the number of its unescaped quotes (their positions in `quotes`), or -1 when b holds a
   * raw control character or an escape JSON.stringify does not write (only \" \\ \b \f \n \r \t and
   * \u00xx for the other control characters, lower-case hex).
   */
  scan(b: Uint8Array): number {
    const n = b.length;
    const q0 = (n + 31) & ~15;
    const e0 = q0 + 4 * (n + 4);
    this.#room(e0 + 4 * (n + 4));
    this.#u8.set(b, 0);
    this.#u8.fill(0x20, n, n + 16);
    const k = this.#scan(n, q0, e0);
    if (k < 0) return -1;
    const i32 = this.#i32;
    let x = e0 >> 2;
    for (; i32[x]! >= 0; x++) if (escapeEnd(b, i32[x]!) < 0) return -1;
    this.escapesAt = e0 >> 2;
    this.escapesEnd = x;
    this.#scanEnd = (4 * x + 4 + 15) & ~15;
    this.quotesAt = q0 >> 2;
    i32[this.quotesAt + k] = i32[this.quotesAt + k + 1] = n;
    return k;
  }

  /**
   * b[s, e) (text without control characters) as inside a JSON string literal, a backslash before
   * each quote and backslash, written into out at `at`; returns the end. out must have room for
   * 2 * (e - s) bytes at `at`.
   */
  escapeInto(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
    this.#room((e - s + 15) & ~15);
    this.#u8.set(b.subarray(s, e), 0);
    return this.#escapeFrom(0, e - s, (e - s + 15) & ~15, out, at);
  }

  /** escapeInto of [s, e) of the text this scanned last (still in its memory: no copy in). */
  escapeScanned(s: number, e: number, out: Uint8Array, at: number): number {
    return this.#escapeFrom(s, e - s, this.#scanEnd, out, at);
  }

  #escapeFrom(src: number, n: number, d0: number, out: Uint8Array, at: number): number {
    this.#room(d0 + 2 * n + 16);
    const d1 = this.#escape(src, n, d0);
    out.set(this.#u8.subarray(d0, d1), at);
    return at + d1 - d0;
  }

  #room(bytes: number): void {
    if (this.#u8.length >= bytes) return;
    this.#memory.grow(Math.ceil((bytes - this.#u8.length) / 65536));
    this.#u8 = new Uint8Array(this.#memory.buffer);
    this.#i32 = this.quotes = new Int32Array(this.#memory.buffer);
  }
}

/** The end of the escape at b[i] (a backslash) when JSON.stringify writes it, else -1. */
export function escapeEnd(b: Uint8Array, i: number): number {
  const e = b[i + 1];
  if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) return i + 2;
  if (e !== 0x75 || b[i + 2] !== 0x30 || b[i + 3] !== 0x30 || (b[i + 4] !== 0x30 && b[i + 4] !== 0x31)) return -1;
  const h = hex(b[i + 5]);
  const v = (b[i + 4]! - 0x30) * 16 + h;
  if (h < 0 || v === 8 || v === 9 || v === 10 || v === 12 || v === 13) return -1;
  return i + 6;
}

export function hex(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
