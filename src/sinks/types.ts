import type { Origin } from '../envelope.js';

/** Per-trajectory complexity statistics (operators/stats computes them; each is its own column). */
export interface TrajectoryStats {
  messages: number;
  userTurns: number;
  assistantTurns: number;
  toolTurns: number;
  toolCalls: number;
  distinctTools: number;
  toolsDefined: number;
  /** Deepest nesting of objects/arrays in any tool-call arguments (flat scalar args = 1). */
  maxArgDepth: number;
  /** Longest chain of calls where a call's argument value appeared in an earlier tool reply. */
  longestDependencyChain: number;
  clarificationTurns: number;
  errorRecoveryTurns: number;
  /** Approximate tokens of the whole trajectory (chars / 4). */
  tokens: number;
  /** One number summarising the above, see operators/stats. */
  complexityScore: number;
}

/** One output row: one validated trajectory. Column names in Parquet are the snake_case of these. */
export interface OutputRow {
  trajectoryId: string;
  documentId: string;
  /** "file:<path>:<line>" or "kafka:<topic>/<partition>@<offset>" */
  origin: string;
  originPartition: string;
  originOffset: number;
  domain: string;
  workflowName: string;
  relevanceScore: number;
  /** JSON text of ChatTool[] (src/chat-format.ts: OpenAI / Hugging Face chat format). */
  tools: string;
  /** JSON text of ChatMessage[] (src/chat-format.ts). */
  messages: string;
  /** JSON strings */
  patterns: string;
  policy: string;
  userProfile: string;
  judge: string;
  stats: TrajectoryStats;
  /** JSON: stage id -> prompt version */
  promptVersions: string;
  /** JSON: stage id -> model */
  models: string;
  promptTokens: number;
  completionTokens: number;
}

export interface ShardInfo {
  /** Final path (or key) of the shard. */
  path: string;
  rows: number;
  bytes: number;
  /** Source partition and first/last document offset it holds. */
  partition: string;
  firstOffset: number;
  lastOffset: number;
}

/**
 * Shard sink. Rows of one document are written together and never span shards. A shard becomes
 * durable with tmp -> fsync -> rename, and only then are its documents reported through onDurable,
 * which is what lets the source commit past them.
 */
export interface ShardSink {
  open(): Promise<void>;
  /**
   * For each partition of `from`, the offsets at or above `from.get(partition)` (its committed position)
   * of documents already durable in the output, read from the output itself. Lets a replay skip
   * documents already written instead of writing them twice; reads nothing below the positions.
   */
  writtenDocs(from: ReadonlyMap<string, number>): Promise<Map<string, Set<number>>>;
  writeDoc(origin: Origin, rows: OutputRow[]): Promise<void>;
  /** Close shards older than maxAgeMs. Call periodically. */
  tick(): Promise<void>;
  /** Close every open shard (durable on return). */
  flush(): Promise<void>;
  /**
   * Drop the open (not yet durable) shards of partitions this process lost in a rebalance: their new
   * owner replays those records, so finishing the shards here would write them twice.
   */
  discard(partitions: string[]): Promise<void>;
  close(): Promise<void>;
  shards(): ShardInfo[];
  /** Set by the runtime: called after a shard is durable, with the origins of the documents in it. */
  onDurable: (origins: Origin[]) => void;
  /**
   * Set by the runtime: awaited right before a finished shard is made visible. False: the shard is
   * deleted unpublished (its documents were never reported durable; they are replayed). A discard()
   * of the shard's partition ends the wait (the shard is deleted).
   */
  publishPermit?: () => Promise<boolean>;
}

export interface DeadLetter {
  origin: Origin;
  documentId?: string;
  /** Operator id where it failed: "source", "decode", "extract", ... */
  stage: string;
  code: string;
  message: string;
  /**
   * The original record, whole: the dead-letter sink cuts it to its bound and records rawBytes and
   * rawTruncated itself. When the caller only holds the start of the record (a source keeps a bounded
   * prefix of an oversized line), `raw` is that prefix and `rawBytes` the whole record's size.
   */
  raw: string;
  /** UTF-8 size of the whole original record, when `raw` holds only its start. */
  rawBytes?: number;
}

export interface DeadLetterSink {
  write(dl: DeadLetter): Promise<void>;
  /** Make everything written so far durable (fsync / producer ack). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
