/**
 * The MinHash signature loop (minhash.ts) as a WebAssembly SIMD kernel: per pass, 16 permutations
 * in four i32x4 vectors, min_s(a * x + b) over every shingle hash x, with the same wrapping 32-bit
 * arithmetic and signed minimum as the JavaScript loop, so the signatures are identical (tested
 * against it in tests/operators/dedupe/minhash.test.ts). About five times faster than the scalar loop.
 *
 * Memory of one instance: a (numPerm i32), b (numPerm i32), the signature (numPerm i32), then the
 * shingle hashes (maxShingles i32); the caller reads and writes them through typed-array views.
 */
import { section, sleb, uleb } from '../../src/wasm/encode.js';

/** Emits the module's bytes (hand-assembled: no wasm toolchain is needed to build the project). */
function moduleBytes(pages: number): Uint8Array<ArrayBuffer> {
  const str = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

  // Params 0..5: aPtr, bPtr, outPtr, shinglesPtr, n, numPerm. Locals: p 6, s 7, addr 8 (i32); x 9,
  // a 10-13, b 14-17, m 18-21 (v128).
  const [A, B, OUT, SH, N, NP, P, S, ADDR, X] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const a = (k: number) => 10 + k;
  const b = (k: number) => 14 + k;
  const m = (k: number) => 18 + k;
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const tee = (i: number) => [0x22, i];
  const i32 = (v: number) => [0x41, ...sleb(v)];
  const I32_ADD = 0x6a;
  const I32_SHL = 0x74;
  const I32_LT_U = 0x49;
  const v128Load = (offset: number) => [0xfd, 0x00, 0x00, ...uleb(offset)];
  const v128Store = (offset: number) => [0xfd, 0x0b, 0x00, ...uleb(offset)];
  const MAX = [0xfd, 0x0c, ...Array.from({ length: 4 }, () => [0xff, 0xff, 0xff, 0x7f]).flat()];
  const SPLAT = [0xfd, 0x11];
  const ADD = [0xfd, 0xae, 0x01];
  const MUL = [0xfd, 0xb5, 0x01];
  const MIN_S = [0xfd, 0xb6, 0x01];
  const ks = [0, 1, 2, 3];

  const body = [
    2, 3, 0x7f, 13, 0x7b, // locals: 3 i32, 13 v128
    ...i32(0), ...set(P),
    0x03, 0x40, // loop over passes of 16 permutations
    ...get(P), ...i32(2), I32_SHL, ...set(ADDR),
    ...ks.flatMap((k) => [...get(A), ...get(ADDR), I32_ADD, ...v128Load(16 * k), ...set(a(k))]),
    ...ks.flatMap((k) => [...get(B), ...get(ADDR), I32_ADD, ...v128Load(16 * k), ...set(b(k))]),
    ...ks.flatMap((k) => [...MAX, ...set(m(k))]),
    ...get(N), 0x04, 0x40, // if n > 0
    ...i32(0), ...set(S),
    0x03, 0x40, // loop over the shingles
    ...get(SH), ...get(S), ...i32(2), I32_SHL, I32_ADD, 0x28, 0x02, 0x00, ...SPLAT, ...set(X),
    ...ks.flatMap((k) => [...get(m(k)), ...get(a(k)), ...get(X), ...MUL, ...get(b(k)), ...ADD, ...MIN_S, ...set(m(k))]),
    ...get(S), ...i32(1), I32_ADD, ...tee(S), ...get(N), I32_LT_U, 0x0d, 0x00,
    0x0b, // end loop
    0x0b, // end if
    ...ks.flatMap((k) => [...get(OUT), ...get(ADDR), I32_ADD, ...get(m(k)), ...v128Store(16 * k)]),
    ...get(P), ...i32(16), I32_ADD, ...tee(P), ...get(NP), I32_LT_U, 0x0d, 0x00,
    0x0b, // end loop
    0x0b, // end function
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, ...uleb(pages)]),
    ...section(7, [2, ...str('sig'), 0x00, 0, ...str('mem'), 0x02, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

type Kernel = (a: number, b: number, out: number, shingles: number, n: number, numPerm: number) => void;

/** One kernel instance with its own memory, and views of its parts. */
export class SimdSignature {
  readonly a: Int32Array;
  readonly b: Int32Array;
  readonly shingles: Int32Array;
  readonly #out: Int32Array;
  readonly #sig: Kernel;
  readonly #numPerm: number;

  private constructor(numPerm: number, maxShingles: number) {
    const bytes = 4 * (3 * numPerm + maxShingles);
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(Math.ceil(bytes / 65536))));
    const mem = (exports.mem as WebAssembly.Memory).buffer;
    this.a = new Int32Array(mem, 0, numPerm);
    this.b = new Int32Array(mem, 4 * numPerm, numPerm);
    this.#out = new Int32Array(mem, 8 * numPerm, numPerm);
    this.shingles = new Int32Array(mem, 12 * numPerm, maxShingles);
    this.#sig = exports.sig as Kernel;
    this.#numPerm = numPerm;
  }

  /** A kernel for these sizes, or undefined where WebAssembly SIMD is missing or numPerm is not a multiple of 16. */
  static create(numPerm: number, maxShingles: number): SimdSignature | undefined {
    if (numPerm % 16 !== 0 || typeof WebAssembly !== 'object' || !WebAssembly.validate(moduleBytes(1))) return undefined;
    return new SimdSignature(numPerm, maxShingles);
  }

  /** The signature of the first n shingle hashes (a new array). */
  signature(n: number): Int32Array {
    const np = this.#numPerm;
    this.#sig(this.a.byteOffset, this.b.byteOffset, this.#out.byteOffset, this.shingles.byteOffset, n, np);
    return this.#out.slice();
  }
}
