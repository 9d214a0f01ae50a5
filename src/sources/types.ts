import type { FunnelSnapshot } from '../dataflow/funnel.js';
import type { SourceItem } from '../envelope.js';

/**
 * What a run stores with a commit where it can (a file source's checkpoint): the run and the books of
 * every document it has committed, written in the same atomic replace as the positions, so the next
 * run can complete the record of a run that was killed (see src/sinks/run-record.ts).
 */
export interface CommitNote {
  runId: string;
  startedAt: string;
  books: FunnelSnapshot;
}

export interface SourceHooks {
  /** Kafka: partitions newly assigned to this process. */
  onPartitionsAssigned?(partitions: string[]): Promise<void>;
  /**
   * The source is about to yield records of `partition` from `fromOffset` on (its committed position:
   * file checkpoint, Kafka committed offset): called before the first of them, once per file or per
   * ownership of a Kafka partition. The runtime loads the partition's done-set from there.
   */
  onPartitionStart?(partition: string, fromOffset: number): Promise<void>;
  /**
   * Kafka: partitions taken away, called as soon as the source learns of it (not in order with the
   * records); their in-flight work is abandoned (it will be replayed elsewhere).
   */
  onPartitionsRevoked?(partitions: string[]): Promise<void>;
}

/**
 * A source yields items in offset order within each partition. For files the partition is the file
 * path and the offset the 0-based line (JSONL) or row (Parquet) number.
 */
export interface Source {
  readonly kind: 'files' | 'kafka';
  /** Ends at end of input for files; on abort (or fatal error) for Kafka. */
  read(signal: AbortSignal, hooks: SourceHooks): AsyncIterable<SourceItem>;
  /**
   * Every record of each partition below the given offset is resolved and durable. The runtime
   * calls this throttled and once at shutdown; the source persists it (checkpoint file / Kafka commit),
   * with `note` where it can store one atomically with the positions (files; Kafka ignores it).
   */
  commit(positions: Map<string, number>, note?: CommitNote): Promise<void>;
  /**
   * Kafka: resolves when the consumer group is settled (no rebalance in progress, start-up window
   * over); the runtime starts no LLM work before. Absent: always settled.
   */
  whenSettled?(): Promise<void>;
  /**
   * Kafka: resolves true when this process may make a shard visible (it still certainly owns its
   * partitions; no rebalance in progress), false when it never will (the source failed or closed).
   * The runtime awaits it before every publish. Absent: always.
   */
  whenMayPublish?(): Promise<boolean>;
  /** Bytes or records done / total, when known (files), for the ETA. */
  progress?(): { done: number; total: number; unit: 'bytes' | 'records' } | undefined;
  close(): Promise<void>;
}
