import { describe, expect, it } from 'vitest';
import { isBlank, splitLines, type Line } from '../../src/sources/split-lines.js';

async function* chunks(...parts: Array<string | Buffer>): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}
async function collect(it: AsyncIterable<Line>): Promise<Line[]> {
  const out: Line[] = [];
  for await (const l of it) out.push(l);
  return out;
}

describe('splitLines', () => {
  it('splits across chunk boundaries, strips \\r, keeps a last line without \\n', async () => {
    const lines = await collect(splitLines(chunks('ab', 'c\nde\r', '\n\n', 'f\ng'), 100, 10));
    expect(lines.map((l) => l.bytes.toString())).toEqual(['abc', 'de', '', 'f', 'g']);
    expect(lines.map((l) => l.length)).toEqual([3, 2, 0, 1, 1]);
  });

  it('yields no empty line after a final newline', async () => {
    const lines = await collect(splitLines(chunks('a\n', 'b\n'), 100, 10));
    expect(lines.map((l) => l.bytes.toString())).toEqual(['a', 'b']);
  });

  it('keeps raw bytes (no UTF-8 decoding)', async () => {
    const [line] = await collect(splitLines(chunks(Buffer.from([0x61, 0xff, 0x0a])), 100, 10));
    expect([...line!.bytes]).toEqual([0x61, 0xff]);
  });

  it('keeps only a prefix of a line above the limit and counts its full length', async () => {
    // 20 MB without a newline, in 64 KB chunks, then a normal line.
    const big = Buffer.alloc(64 * 1024, 'x');
    async function* stream() {
      for (let i = 0; i < 320; i++) yield big;
      yield Buffer.from('\n{"ok":1}\n');
    }
    const lines = await collect(splitLines(stream(), 1024 * 1024, 1000));
    expect(lines[0]).toMatchObject({ length: 320 * 64 * 1024, truncated: true });
    expect(lines[0]!.bytes.length).toBe(1000);
    expect(lines[1]).toMatchObject({ length: 8, truncated: false });
  });

  it('fills the prefix from later chunks when the limit is below the prefix size', async () => {
    const [line] = await collect(splitLines(chunks('aaaa', 'bbbb', 'cccc\n'), 3, 6));
    expect(line).toMatchObject({ length: 12, truncated: true });
    expect(line!.bytes.toString()).toBe('aaaabb');
  });
});

describe('isBlank', () => {
  it('is true only for whitespace', () => {
    expect(isBlank(Buffer.from(' \t\r'))).toBe(true);
    expect(isBlank(Buffer.from(''))).toBe(true);
    expect(isBlank(Buffer.from(' x '))).toBe(false);
  });
});
