/**
 * Encoders for hand-assembled WebAssembly modules (operators/dedupe/minhash-simd.ts,
 * src/export/json-simd.ts): the project builds its small SIMD kernels from their instructions at
 * load, so no wasm toolchain or shipped binary is needed.
 */

/** Unsigned LEB128 (sizes, indices, offsets). */
export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A module section: its id, then its content's length and the content. */
export function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}
