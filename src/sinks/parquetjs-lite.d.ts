/**
 * The part of parquetjs-lite (a CommonJS package without type declarations) that the Parquet sink
 * uses: a schema, the envelope writer fed with our own write/close functions, and the row writer.
 */
declare module 'parquetjs-lite' {
  namespace parquet {
    type Compression = 'UNCOMPRESSED' | 'SNAPPY' | 'GZIP';

    interface FieldDefinition {
      type: 'UTF8' | 'INT32' | 'INT64' | 'DOUBLE' | 'BOOLEAN';
      compression?: Compression;
      /** false: skip min/max statistics for this column (they cost CPU on long strings). */
      statistics?: false;
      optional?: boolean;
    }

    class ParquetSchema {
      constructor(fields: Record<string, FieldDefinition>);
    }

    /** Unbuffered writer of file sections; `write` is called with each section in file order. */
    class ParquetEnvelopeWriter {
      constructor(
        schema: ParquetSchema,
        write: (buf: Buffer) => Promise<void>,
        close: () => Promise<void>,
        fileOffset: number,
        opts: { useDataPageV2?: boolean; pageIndex?: boolean },
      );
    }

    /** Buffers rows and hands a row group to the envelope writer every `rowGroupSize` rows. */
    class ParquetWriter {
      constructor(schema: ParquetSchema, envelopeWriter: ParquetEnvelopeWriter, opts: { rowGroupSize?: number });
      appendRow(row: Record<string, unknown>): Promise<void>;
      close(): Promise<void>;
      setMetadata(key: string, value: string): void;
    }
  }
  export = parquet;
}
