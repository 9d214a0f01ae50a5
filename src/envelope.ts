/**
 * The unit that flows through the pipeline: one source record, decoded, with where it came from.
 * `origin.partition` + `origin.offset` is the acknowledgement position: for files the partition is
 * the file path and the offset the 0-based line (or row) number; for Kafka it is topic/partition and
 * the Kafka offset.
 */
export type Origin =
  | { kind: 'file'; partition: string; offset: number; file: string; line: number }
  | { kind: 'kafka'; partition: string; offset: number; topic: string; kafkaPartition: number };

export interface Envelope {
  /** Document id: from the record's id field, or derived from the origin when absent. */
  id: string;
  text: string;
  origin: Origin;
  /** Extra record fields kept for the output (url, title, ...). */
  meta: Record<string, unknown>;
  /** Size of the raw record in bytes, for throughput accounting. */
  bytes: number;
}

/** A record the source could not turn into an envelope. It still has an origin and is accounted for. */
export interface BadRecord {
  origin: Origin;
  code: string;
  message: string;
  /** The raw record for the dead letter: whole, or its first bytes when `rawBytes` says it was longer. */
  raw: string;
  /** UTF-8 size of the whole record when `raw` holds only its start (pass it on as DeadLetter.rawBytes). */
  rawBytes?: number;
}

export type SourceItem = { kind: 'doc'; doc: Envelope } | { kind: 'bad'; bad: BadRecord };

export function originKey(o: Origin): string {
  return `${o.partition}@${o.offset}`;
}
