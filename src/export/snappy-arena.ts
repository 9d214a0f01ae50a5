import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { snappyUncompressor } from 'hysnappy';

/**
 * SNAPPY pages for hyparquet without a fresh buffer per page: a row group's pages are decompressed, one
 * after the other, into one WebAssembly memory (hysnappy's decoder, instantiated here so its memory is
 * ours), and handed out as views of it. hysnappy's own wrapper copies every page out of its memory into
 * a new Uint8Array: ~1 MiB of garbage a row group of the sink's shards, which V8 counts as external
 * memory and scavenges for ("external memory pressure").
 *
 * A view lives until the next `reserve`: the reader calls it before decoding each row group, once the
 * consumer has taken every row of the previous one (readParquetWith; rows asked for as bytes are views
 * of these pages, every other value is copied out). `reserve` sizes the memory for the whole group from
 * its column chunks' sizes, so the memory never grows while views of it are alive (growing a
 * WebAssembly memory detaches its old buffer). A page that does not fit what was reserved (a footer
 * whose sizes are wrong) is decompressed by a separate hysnappy instance into a buffer of its own.
 */
interface SnappyExports {
  memory: WebAssembly.Memory;
  uncompress: (input: number, length: number, output: number) => number;
}

export class SnappyArena {
  readonly #exports: SnappyExports;
  #u8: Uint8Array;
  /** Where compressed input goes: past the decoder's stack and data (hysnappy uses 68,000 too). */
  static readonly BASE = 68_000;
  #inputEnd = SnappyArena.BASE;
  #at = SnappyArena.BASE;
  #end = SnappyArena.BASE;
  /** Pages that did not fit (tests read it). */
  overflows = 0;
  static #fallback: ReturnType<typeof snappyUncompressor> | undefined;

  constructor(module: WebAssembly.Module) {
    this.#exports = new WebAssembly.Instance(module).exports as unknown as SnappyExports;
    this.#u8 = new Uint8Array(this.#exports.memory.buffer);
  }

  /**
   * Room for one row group: compressed pages of up to `maxInput` bytes, `output` bytes of pages in all.
   * Every view handed out before is overwritten from here on.
   */
  reserve(maxInput: number, output: number): void {
    this.#inputEnd = SnappyArena.BASE + maxInput;
    this.#at = this.#inputEnd;
    this.#end = this.#inputEnd + output;
    const mem = this.#exports.memory;
    if (mem.buffer.byteLength < this.#end) {
      try {
        mem.grow(Math.ceil((this.#end - mem.buffer.byteLength) / 65_536));
      } catch {
        // No room for the group (the process cannot map that much): its pages take the copying decoder.
        this.#inputEnd = this.#at = this.#end = SnappyArena.BASE;
      }
      this.#u8 = new Uint8Array(mem.buffer);
    }
  }

  /** hyparquet's decompressor signature: the page as a view of the arena. */
  readonly uncompress = (input: Uint8Array, outputLength: number): Uint8Array => {
    if (input.byteLength > this.#inputEnd - SnappyArena.BASE || this.#at + outputLength > this.#end) {
      this.overflows++;
      return (SnappyArena.#fallback ??= snappyUncompressor())(input, outputLength);
    }
    this.#u8.set(input, SnappyArena.BASE);
    const r = this.#exports.uncompress(SnappyArena.BASE, input.byteLength, this.#at);
    if (r === -1) throw new Error('invalid snappy length header');
    if (r === -2) throw new Error('missing eof marker');
    if (r === -3) throw new Error('premature end of input');
    if (r) throw new Error(`failed to uncompress data ${r}`);
    const page = this.#u8.subarray(this.#at, this.#at + outputLength);
    this.#at += outputLength;
    return page;
  };
}

/**
 * hysnappy's WebAssembly module (the decoder its `snappyUncompressor` runs), compiled once, or undefined
 * when the installed hysnappy does not ship it the way 1.1.x does (then pages are copied as before).
 */
export const SNAPPY_MODULE: WebAssembly.Module | undefined = (() => {
  try {
    const src = readFileSync(createRequire(import.meta.url).resolve('hysnappy/js/uncompress.js'), 'utf8');
    const b64 = /const wasm64 = '([A-Za-z0-9+/=]+)'/.exec(src)?.[1];
    if (!b64) return undefined;
    const mod = new WebAssembly.Module(Buffer.from(b64, 'base64'));
    const names = WebAssembly.Module.exports(mod).map((e) => e.name);
    return names.includes('memory') && names.includes('uncompress') ? mod : undefined;
  } catch {
    return undefined;
  }
})();
