/**
 * A Parquet footer without the column statistics export never reads, for hyparquet to parse.
 *
 * hyparquet parses the whole footer (FileMetaData, Thrift compact protocol) into objects: on the
 * sink's shards (a row group every ~105 rows, 31 columns) that is ~200 KB a file, most of it each
 * column chunk's statistics (min / max values), size statistics and encoding stats, and parsing it
 * cost ~3 us CPU a row (30 ms a 10,000-row file; half of it garbage collection of the BigInts and
 * field objects). export reads no statistics (no filter pushdown), so pruneFooter copies the footer
 * without those fields of ColumnMetaData (one pass that skips them, no objects made), and hyparquet
 * parses the rest as before: the same metadata but for those fields.
 */

// Thrift compact protocol types.
const STOP = 0;
const TRUE = 1;
const FALSE = 2;
const BYTE = 3;
const I16 = 4;
const I32 = 5;
const I64 = 6;
const DOUBLE = 7;
const BINARY = 8;
const LIST = 9;
const SET = 10;
const MAP = 11;
const STRUCT = 12;

/** ColumnMetaData fields dropped: statistics, encoding_stats, size_statistics, geospatial_statistics. */
const DROPPED = new Set([12, 13, 16, 17]);
/** ColumnMetaData's path_in_schema field. */
const PATH = 3;

/**
 * The footer bytes (FileMetaData) without DROPPED fields of every column chunk's meta_data, as a
 * footer hyparquet's parquetMetadata reads (metadata, its length, "PAR1"). With `columns`, the
 * meta_data of a chunk of any other column keeps its path_in_schema only (hyparquet's plan skips
 * those chunks by that path; nothing else reads them).
 */
export function pruneFooter(meta: Uint8Array, columns?: readonly string[]): Uint8Array {
  const p = new Pruner(meta, columns?.map((c) => Buffer.from(c, 'utf8')));
  p.struct(0); // FileMetaData
  if (p.i !== meta.length) throw new Error(`parquet footer: ${meta.length - p.i} bytes after FileMetaData`);
  const n = p.at;
  p.room(8);
  new DataView(p.out.buffer, p.out.byteOffset).setUint32(n, n, true);
  p.out.set([0x50, 0x41, 0x52, 0x31], n + 4); // PAR1
  return p.out.subarray(0, n + 8);
}

/** Where a struct is in the FileMetaData tree: what its fields hold. */
const FILE = 0; // FileMetaData: 4 row_groups (list<RowGroup>)
const GROUP = 1; // RowGroup: 1 columns (list<ColumnChunk>)
const CHUNK = 2; // ColumnChunk: 3 meta_data (ColumnMetaData)
const COLUMN = 3; // ColumnMetaData: DROPPED fields left out
const OTHER = 4; // copied as it is

class Pruner {
  i = 0;
  out: Uint8Array;
  at = 0;
  constructor(
    readonly b: Uint8Array,
    readonly columns?: Uint8Array[],
  ) {
    this.out = new Uint8Array(b.length + 16);
  }

  /** Is the path_in_schema list at b[i...] (a list of binary) of a column in `columns`? */
  #asked(i: number): boolean {
    const save = this.i;
    this.i = i;
    const h = this.#byte();
    const n = h >> 4 === 15 ? this.#varint() : h >> 4;
    let asked = false;
    if (n > 0 && (h & 0x0f) === BINARY) {
      const len = this.#varint();
      const name = this.b.subarray(this.i, this.i + len);
      asked = this.columns!.some((c) => c.length === len && c.every((x, j) => x === name[j]));
    }
    this.i = save;
    return asked;
  }
  room(n: number): void {
    if (this.at + n <= this.out.length) return;
    const next = new Uint8Array(2 * (this.at + n));
    next.set(this.out.subarray(0, this.at));
    this.out = next;
  }
  #byte(): number {
    if (this.i >= this.b.length) throw new Error('parquet footer: truncated');
    return this.b[this.i++]!;
  }
  #varint(): number {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const c = this.#byte();
      if (shift < 28) v |= (c & 0x7f) << shift;
      if (!(c & 0x80)) return v >>> 0;
    }
  }
  #zigzag(): number {
    const z = this.#varint();
    return (z >>> 1) ^ -(z & 1);
  }
  #copy(from: number): void {
    this.room(this.i - from);
    this.out.set(this.b.subarray(from, this.i), this.at);
    this.at += this.i - from;
  }

  /** A struct of kind `kind`: its kept fields re-emitted (ids as deltas from the last kept one). */
  struct(kind: number): void {
    let fid = 0;
    let last = 0;
    // A column not asked for: only its path is kept. Where the path is, is known after a first pass.
    let pathOnly = false;
    if (kind === COLUMN && this.columns) {
      const start = this.i;
      let f = 0;
      for (;;) {
        const h = this.#byte();
        const type = h & 0x0f;
        if (type === STOP) break;
        f = h >> 4 ? f + (h >> 4) : this.#zigzag();
        if (f === PATH && type === LIST) pathOnly = !this.#asked(this.i);
        this.#skip(type);
      }
      this.i = start;
    }
    for (;;) {
      const h = this.#byte();
      const type = h & 0x0f;
      if (type === STOP) {
        this.room(1);
        this.out[this.at++] = STOP;
        return;
      }
      const delta = h >> 4;
      fid = delta ? fid + delta : this.#zigzag();
      if (kind === COLUMN && (DROPPED.has(fid) || (pathOnly && fid !== PATH))) {
        this.#skip(type);
        continue;
      }
      this.room(4);
      if (fid > last && fid - last <= 15) this.out[this.at++] = ((fid - last) << 4) | type;
      else {
        this.out[this.at++] = type;
        this.#writeVarint(((fid << 1) ^ (fid >> 31)) >>> 0);
      }
      last = fid;
      const child = kind === FILE && fid === 4 ? GROUP : kind === GROUP && fid === 1 ? CHUNK : kind === CHUNK && fid === 3 ? COLUMN : OTHER;
      if (child === OTHER) {
        const from = this.i;
        this.#skip(type);
        this.#copy(from);
      } else if (type === STRUCT) this.struct(child);
      else if (type === LIST) this.#list(child);
      else throw new Error(`parquet footer: field ${fid} has type ${type}`);
    }
  }

  #writeVarint(v: number): void {
    this.room(5);
    while (v >= 0x80) {
      this.out[this.at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.out[this.at++] = v;
  }

  /** A list whose elements are structs of kind `kind`. */
  #list(kind: number): void {
    const from = this.i;
    const h = this.#byte();
    const n = h >> 4 === 15 ? this.#varint() : h >> 4;
    this.#copy(from);
    if ((h & 0x0f) !== STRUCT) throw new Error('parquet footer: a list of non-structs where structs were expected');
    for (let k = 0; k < n; k++) this.struct(kind);
  }

  /** Skips a value of `type`. */
  #skip(type: number): void {
    switch (type) {
      case TRUE:
      case FALSE:
        return;
      case BYTE:
        this.i++;
        return;
      case I16:
      case I32:
      case I64:
        while (this.#byte() & 0x80);
        return;
      case DOUBLE:
        this.i += 8;
        return;
      case BINARY: {
        const n = this.#varint(); // read before i is (`i += varint()` would add to the old i)
        this.i += n;
        return;
      }
      case LIST:
      case SET: {
        const h = this.#byte();
        const n = h >> 4 === 15 ? this.#varint() : h >> 4;
        const t = h & 0x0f;
        for (let k = 0; k < n; k++) this.#skip(t === TRUE || t === FALSE ? BYTE : t);
        return;
      }
      case MAP: {
        const n = this.#varint();
        if (n === 0) return;
        const kv = this.#byte();
        for (let k = 0; k < n; k++) {
          this.#skip(kv >> 4);
          this.#skip(kv & 0x0f);
        }
        return;
      }
      case STRUCT:
        for (;;) {
          const h = this.#byte();
          const t = h & 0x0f;
          if (t === STOP) return;
          if (!(h >> 4)) while (this.#byte() & 0x80); // a long-form field id
          this.#skip(t);
        }
      default:
        throw new Error(`parquet footer: unknown Thrift type ${type}`);
    }
  }
}
