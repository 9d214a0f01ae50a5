import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// hyparquet-writer's own compressor, the oracle (not exported by the package: by path).
import { snappyCompress as reference } from '../../node_modules/hyparquet-writer/src/snappy.js';
import { snappyUncompress } from 'hyparquet';
import { snappyCompress } from '../../src/sinks/snappy.js';

/** Deterministic pseudo-random bytes. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

function inputs(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const enc = new TextEncoder();
  const next = lcg(20261202);
  // Every small size around the 15-byte margin, random and repetitive.
  for (let n = 0; n <= 40; n++) {
    out.push(Uint8Array.from({ length: n }, () => next() & 0xff));
    out.push(Uint8Array.from({ length: n }, (_, i) => i % 3));
  }
  // Text like the output's JSON columns, long runs (copies of 64+ bytes), literals over 60 / 256 / 65536 bytes, far matches (> 65535 back).
  const json = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `message ${i} about order ORD-${(i * 7919) % 1000} — crème ${'x'.repeat(i % 90)}` })));
  out.push(enc.encode(json), enc.encode(json.repeat(3)), new Uint8Array(200_000), Uint8Array.from({ length: 70_000 }, () => next() & 0xff));
  const mixed = new Uint8Array(150_000);
  for (let i = 0; i < mixed.length; i++) mixed[i] = i % 1000 < 500 ? next() & 0xff : mixed[i - 500] ?? 0;
  out.push(mixed);
  // Random lengths of low-entropy bytes.
  for (let k = 0; k < 60; k++) {
    const n = next() % 20_000;
    out.push(Uint8Array.from({ length: n }, () => (next() % 4) + 97));
  }
  // Matches that end at every distance (mod 4) from a difference and from the end of the input
  // (a match is extended four bytes at a time, then byte by byte).
  const block = enc.encode('{"role":"assistant","content":"checking order ORD-1234 now"},');
  for (let k = 0; k < 8; k++) {
    const a = new Uint8Array(block.length * 5 + k);
    for (let i = 0; i < a.length; i++) a[i] = block[i % block.length]!;
    out.push(a);
    const b = a.slice();
    b[block.length * 3 + k] ^= 1;
    out.push(b);
  }
  // A real source file.
  out.push(readFileSync(new URL('../../src/sinks/parquet-shard-writer.ts', import.meta.url)));
  return out;
}

describe('snappyCompress (the Parquet sink)', () => {
  it('writes the same bytes as hyparquet-writer\'s compressor, which hyparquet decompresses back to the input', () => {
    let compressedSmaller = 0;
    for (const input of inputs()) {
      const ours = snappyCompress(input);
      expect(Buffer.from(ours).equals(Buffer.from(reference(input)))).toBe(true);
      const back = new Uint8Array(input.length);
      snappyUncompress(ours, back);
      expect(Buffer.from(back).equals(Buffer.from(input))).toBe(true);
      if (ours.length < input.length) compressedSmaller++;
    }
    expect(compressedSmaller).toBeGreaterThan(50);
  });
});
