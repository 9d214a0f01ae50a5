import { snappyUncompressor } from 'hysnappy';
import { describe, expect, it } from 'vitest';
import { SNAPPY_MODULE, SnappyArena } from '../../src/export/snappy-arena.js';
import { snappyCompress } from '../../src/sinks/snappy.js';

const text = (seed: number, n: number) => {
  const words = ['tool', 'call', '"arguments"', 'é✓', 'order_id', '{"ok":true}', '\\n', 'x'.repeat(seed % 40)];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7 + seed) % words.length] + (i % 11 === 0 ? String(i) : ' ');
  return Buffer.from(s.slice(0, n));
};

describe('SnappyArena (SNAPPY pages decompressed into one reused WebAssembly memory)', () => {
  it('runs the installed hysnappy decoder without copies and gives its bytes', () => {
    expect(SNAPPY_MODULE, 'hysnappy ships its decoder as 1.1.x does').toBeDefined();
    const arena = new SnappyArena(SNAPPY_MODULE!);
    const reference = snappyUncompressor();
    const pages = [1, 100, 4_096, 70_000, 300_000].map((n, i) => text(i, n));
    const packed = pages.map((p) => snappyCompress(p));
    arena.reserve(Math.max(...packed.map((p) => p.length)), pages.reduce((a, p) => a + p.length, 0));
    const got = packed.map((p, i) => arena.uncompress(p, pages[i]!.length));
    got.forEach((g, i) => {
      expect(Buffer.from(g).equals(pages[i]!)).toBe(true);
      expect(Buffer.from(g).equals(Buffer.from(reference(packed[i]!, pages[i]!.length)))).toBe(true);
    });
    // One memory for the group: the pages are views of it, side by side, all still intact.
    expect(new Set(got.map((g) => g.buffer)).size).toBe(1);
    expect(got.every((g, i) => Buffer.from(g).equals(pages[i]!))).toBe(true);
    expect(arena.overflows).toBe(0);
  });

  it('reuses the memory for the next group (views of the previous one are overwritten, as documented) and grows it only in reserve', () => {
    const arena = new SnappyArena(SNAPPY_MODULE!);
    const a = text(1, 50_000);
    const b = text(2, 50_000);
    arena.reserve(snappyCompress(a).length, a.length);
    const first = arena.uncompress(snappyCompress(a), a.length);
    arena.reserve(snappyCompress(b).length, b.length);
    const second = arena.uncompress(snappyCompress(b), b.length);
    expect(Buffer.from(second).equals(b)).toBe(true);
    expect(first.buffer).toBe(second.buffer); // same memory, not a fresh buffer a page
    expect(Buffer.from(first).equals(a)).toBe(false);
    // A bigger group: the memory grows before any page of it is decompressed.
    const c = text(3, 3_000_000);
    arena.reserve(snappyCompress(c).length, c.length);
    const third = arena.uncompress(snappyCompress(c), c.length);
    expect(Buffer.from(third).equals(c)).toBe(true);
  });

  it('decompresses a page that does not fit what was reserved into a buffer of its own (a footer with wrong sizes)', () => {
    const arena = new SnappyArena(SNAPPY_MODULE!);
    const a = text(4, 20_000);
    const b = text(5, 20_000);
    arena.reserve(snappyCompress(a).length, a.length); // room for a only
    const first = arena.uncompress(snappyCompress(a), a.length);
    const second = arena.uncompress(snappyCompress(b), b.length);
    expect(arena.overflows).toBe(1);
    expect(Buffer.from(first).equals(a)).toBe(true); // not overwritten, not detached
    expect(Buffer.from(second).equals(b)).toBe(true);
    expect(second.buffer).not.toBe(first.buffer);
    // Bad input is an error, as in hysnappy.
    arena.reserve(100, 100);
    expect(() => arena.uncompress(new Uint8Array([0x05, 0x00]), 5)).toThrow();
  });
});
