import { Field, Float64, Int32, Int64, RecordBatch, RecordBatchFileWriter, Schema, Utf8, makeData, vectorFromArray, Struct, type DataType } from 'apache-arrow';
import { OUTPUT_COLUMNS, type OutputColumnType } from './output-columns.js';

const ARROW_TYPE: Record<OutputColumnType, () => DataType> = {
  UTF8: () => new Utf8(),
  INT32: () => new Int32(),
  INT64: () => new Int64(),
  DOUBLE: () => new Float64(),
};

/** The output schema (output-columns.ts) as an Arrow schema: same names, same order, every column non-null. */
export const ARROW_SCHEMA = new Schema(OUTPUT_COLUMNS.map((c) => new Field(c.name, ARROW_TYPE[c.type](), false)));

/**
 * Writes output rows as an Arrow IPC file (the random-access "Feather v2" format pyarrow, DuckDB and
 * `datasets` read), one record batch per `batchRows` rows (sooner once the values reach `batchBytes`), streamed to `write` as it goes: memory is
 * one batch. `write` receives the file's bytes in order; `close()` writes the footer and awaits them.
 */
export class ArrowShardWriter {
  readonly #writer = new RecordBatchFileWriter();
  readonly #batchRows: number;
  readonly #batchBytes: number;
  readonly #pump: Promise<void>;
  #rows: Record<string, unknown>[] = [];
  #bytesIn = 0;

  constructor(write: (buf: Buffer) => Promise<unknown>, batchRows: number, batchBytes = Number.POSITIVE_INFINITY) {
    this.#batchRows = batchRows;
    this.#batchBytes = batchBytes;
    this.#writer.reset(undefined, ARROW_SCHEMA);
    this.#pump = (async () => {
      for await (const chunk of this.#writer) await write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    })();
    // A failure of `write` surfaces in close(); keep it from being unhandled meanwhile.
    this.#pump.catch(() => {});
  }

  async appendRow(values: Record<string, unknown>, approxBytes = 0): Promise<void> {
    this.#rows.push(values);
    this.#bytesIn += approxBytes;
    if (this.#rows.length >= this.#batchRows || this.#bytesIn >= this.#batchBytes) this.#flushBatch();
  }

  async close(): Promise<void> {
    this.#flushBatch();
    this.#writer.finish();
    await this.#pump;
  }

  #flushBatch(): void {
    const rows = this.#rows;
    if (rows.length === 0) return;
    this.#rows = [];
    this.#bytesIn = 0;
    const children = ARROW_SCHEMA.fields.map((f) => {
      const values = rows.map((r) => r[f.name]);
      return vectorFromArray(f.type instanceof Int64 ? values.map((v) => BigInt(v as number)) : values, f.type).data[0]!;
    });
    const data = makeData({ type: new Struct(ARROW_SCHEMA.fields), length: rows.length, nullCount: 0, children });
    this.#writer.write(new RecordBatch(ARROW_SCHEMA, data));
  }
}
