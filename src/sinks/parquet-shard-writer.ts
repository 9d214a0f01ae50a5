import { gzipSync } from 'node:zlib';
import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import type { SinkConfig } from '../config/schema.js';
import { OUTPUT_COLUMNS, type OutputColumnType } from './output-columns.js';
import { snappyCompress } from './snappy.js';

const PHYSICAL: Record<OutputColumnType, SchemaElement['type']> = { UTF8: 'BYTE_ARRAY', INT32: 'INT32', INT64: 'INT64', DOUBLE: 'DOUBLE' };
const CODEC = { snappy: 'SNAPPY', gzip: 'GZIP', none: 'UNCOMPRESSED' } as const;

/**
 * The output schema (output-columns.ts) as a Parquet schema: same names and order, every column
 * REQUIRED, strings BYTE_ARRAY annotated UTF8, INT32 / INT64 / DOUBLE as they are.
 */
export const PARQUET_SCHEMA: SchemaElement[] = [
  { name: 'root', num_children: OUTPUT_COLUMNS.length },
  ...OUTPUT_COLUMNS.map(
    (c): SchemaElement => ({ name: c.name, type: PHYSICAL[c.type], repetition_type: 'REQUIRED', ...(c.type === 'UTF8' && { converted_type: 'UTF8' as const }) }),
  ),
];

/**
 * UTF-8 bytes of one column's strings in a row group, written one after another into a few large
 * buffers: each value is a view of one (hyparquet-writer writes a Uint8Array value as it is), so a
 * value needs no array of its own, and the string can be collected as soon as its row is added. The
 * bytes are exactly TextEncoder's (a lone surrogate becomes U+FFFD), which is what hyparquet-writer
 * would have made of the string. reset() lets the buffers go once the group is encoded; the next
 * group's first buffer is sized by this one's bytes, so a group of this size takes one buffer.
 */
export class Utf8Column {
  #buf: Buffer | undefined;
  #used = 0;
  #groupBytes = 0;
  #nextSize = 16 * 1024;

  /** The UTF-8 bytes of `s`, as a view valid until reset(). */
  add(s: string): Uint8Array {
    // At most 3 bytes per UTF-16 code unit; counted exactly only when that much room is not left.
    const most = s.length * 3;
    const room = this.#buf === undefined ? -1 : this.#buf.length - this.#used;
    if (room < most && (room < s.length || Buffer.byteLength(s, 'utf8') > room)) {
      // Views already handed out keep their buffer; a new one takes the values from here on.
      this.#buf = Buffer.allocUnsafe(Math.max(most, this.#buf === undefined ? this.#nextSize : 2 * this.#buf.length));
      this.#used = 0;
    }
    const at = this.#used;
    const n = this.#buf!.write(s, at, 'utf8');
    this.#used += n;
    this.#groupBytes += n;
    return new Uint8Array(this.#buf!.buffer, this.#buf!.byteOffset + at, n);
  }

  /** The views handed out are no longer read (the group is encoded): their buffers are let go. */
  reset(): void {
    if (this.#groupBytes > 0) this.#nextSize = Math.max(16 * 1024, Math.ceil(this.#groupBytes * 1.125) + 1024);
    this.#buf = undefined;
    this.#used = 0;
    this.#groupBytes = 0;
  }
}

/**
 * Writes output rows as one Parquet file with hyparquet-writer, from columns: values go straight
 * into one array per column (a long JSON column's as UTF-8 bytes, see Utf8Column), and every
 * `rowGroupRows` rows, or sooner once the values reach `rowGroupBytes`, they are encoded (PLAIN, data
 * page v2, `compression`) as a row group and handed to `write` in file order; `close()` writes the
 * footer. Memory is one row group (its values and its encoded bytes). Long JSON columns get no
 * min/max statistics (they cost CPU and say nothing). appendRow and close are called one at a time
 * (each awaited), as the sink does.
 */
export class ParquetShardWriter {
  readonly #write: (buf: Buffer) => Promise<unknown>;
  readonly #rowGroupRows: number;
  readonly #rowGroupBytes: number;
  readonly #bytes = new ByteWriter();
  readonly #writer: ParquetWriter;
  #columns: unknown[][] = OUTPUT_COLUMNS.map(() => []);
  /** By column index: the byte buffer of each long JSON column (its values are views of it). */
  readonly #utf8: Array<Utf8Column | undefined> = OUTPUT_COLUMNS.map((c) => (c.json ? new Utf8Column() : undefined));
  #rows = 0;
  #bytesIn = 0;

  constructor(write: (buf: Buffer) => Promise<unknown>, rowGroupRows: number, compression: SinkConfig['compression'], rowGroupBytes = Number.POSITIVE_INFINITY) {
    this.#write = write;
    this.#rowGroupRows = rowGroupRows;
    this.#rowGroupBytes = rowGroupBytes;
    // Each row group's bytes leave the buffer as soon as it is written; `offset` keeps counting.
    Object.assign(this.#bytes, { flush: () => this.#drain() });
    this.#writer = new ParquetWriter({
      writer: this.#bytes,
      schema: PARQUET_SCHEMA,
      codec: CODEC[compression],
      // SNAPPY: hyparquet-writer's compressor without its per-byte writer (same bytes, see snappy.ts).
      compressors: { GZIP: (b: Uint8Array) => gzipSync(b), SNAPPY: snappyCompress },
      createdBy: 'gemflow (hyparquet-writer)',
    });
  }

  /**
   * Adds a row (values by column name, already checked against the column types by toParquetRow;
   * `approxBytes`, its size from toParquetRow, counts toward `rowGroupBytes`).
   */
  async appendRow(values: Record<string, unknown>, approxBytes = 0): Promise<void> {
    for (let i = 0; i < OUTPUT_COLUMNS.length; i++) {
      const v = values[OUTPUT_COLUMNS[i]!.name];
      const utf8 = this.#utf8[i];
      this.#columns[i]!.push(utf8 !== undefined && typeof v === 'string' ? utf8.add(v) : v);
    }
    this.#bytesIn += approxBytes;
    if (++this.#rows >= this.#rowGroupRows || this.#bytesIn >= this.#rowGroupBytes) await this.#flushGroup();
  }

  async close(): Promise<void> {
    await this.#flushGroup();
    this.#writer.finish();
    await this.#drain();
  }

  async #flushGroup(): Promise<void> {
    if (this.#rows === 0) return;
    const columns = this.#columns;
    const rows = this.#rows;
    this.#columns = OUTPUT_COLUMNS.map(() => []);
    this.#rows = 0;
    this.#bytesIn = 0;
    const columnData: ColumnSource[] = OUTPUT_COLUMNS.map((c, i) => ({
      name: c.name,
      data: c.type === 'INT64' ? BigInt64Array.from(columns[i] as number[], BigInt) : (columns[i] as ColumnSource['data']),
      encoding: 'PLAIN',
      statistics: !c.json,
    }));
    try {
      await this.#writer.write({ columnData, rowGroupSize: rows });
    } finally {
      // The group's values are encoded into the file's bytes by now.
      for (const u of this.#utf8) u?.reset();
    }
  }

  /** Hands the bytes encoded so far to `write` (a copy: the buffer is reused). */
  #drain(): Promise<unknown> {
    const w = this.#bytes;
    if (w.index === 0) return Promise.resolve();
    const buf = Buffer.from(w.buffer.slice(0, w.index));
    w.index = 0;
    return this.#write(buf);
  }
}
