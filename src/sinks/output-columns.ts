import { GemflowError } from '../errors.js';
import type { OutputRow, TrajectoryStats } from './types.js';

/** Parquet physical/logical type of an output column. */
export type OutputColumnType = 'UTF8' | 'INT32' | 'INT64' | 'DOUBLE';

export interface OutputColumn {
  /** snake_case column name in the Parquet file. */
  readonly name: string;
  readonly type: OutputColumnType;
  /** Long JSON columns: written without min/max statistics (they cost CPU and say nothing). */
  readonly json?: true;
  /** A complexity statistic (TrajectoryStats field): summarised in shard indexes and the dataset card. */
  readonly stat?: true;
  readonly get: (row: OutputRow) => unknown;
}

const str = (name: string, get: (r: OutputRow) => string, json?: true): OutputColumn => ({ name, type: 'UTF8', get, ...(json && { json }) });
const stat = (name: string, field: keyof TrajectoryStats, type: OutputColumnType): OutputColumn => ({
  name,
  type,
  stat: true,
  get: (r) => r.stats[field],
});

/**
 * The output schema, in file order: one column per OutputRow field, one per TrajectoryStats field.
 * Every column is REQUIRED (never null).
 */
export const OUTPUT_COLUMNS: readonly OutputColumn[] = [
  str('trajectory_id', (r) => r.trajectoryId),
  str('document_id', (r) => r.documentId),
  str('origin', (r) => r.origin),
  str('origin_partition', (r) => r.originPartition),
  { name: 'origin_offset', type: 'INT64', get: (r) => r.originOffset },
  str('domain', (r) => r.domain),
  str('workflow_name', (r) => r.workflowName),
  { name: 'relevance_score', type: 'DOUBLE', get: (r) => r.relevanceScore },
  str('tools', (r) => r.tools, true),
  str('messages', (r) => r.messages, true),
  str('patterns', (r) => r.patterns, true),
  str('policy', (r) => r.policy, true),
  str('user_profile', (r) => r.userProfile, true),
  str('judge', (r) => r.judge, true),
  stat('n_messages', 'messages', 'INT32'),
  stat('user_turns', 'userTurns', 'INT32'),
  stat('assistant_turns', 'assistantTurns', 'INT32'),
  stat('tool_turns', 'toolTurns', 'INT32'),
  stat('tool_calls', 'toolCalls', 'INT32'),
  stat('distinct_tools', 'distinctTools', 'INT32'),
  stat('tools_defined', 'toolsDefined', 'INT32'),
  stat('max_arg_depth', 'maxArgDepth', 'INT32'),
  stat('longest_dependency_chain', 'longestDependencyChain', 'INT32'),
  stat('clarification_turns', 'clarificationTurns', 'INT32'),
  stat('error_recovery_turns', 'errorRecoveryTurns', 'INT32'),
  stat('tokens', 'tokens', 'INT64'),
  stat('complexity_score', 'complexityScore', 'DOUBLE'),
  str('prompt_versions', (r) => r.promptVersions, true),
  str('models', (r) => r.models, true),
  { name: 'prompt_tokens', type: 'INT64', get: (r) => r.promptTokens },
  { name: 'completion_tokens', type: 'INT64', get: (r) => r.completionTokens },
];

/** The complexity-statistic columns. */
export const STAT_COLUMNS: readonly OutputColumn[] = OUTPUT_COLUMNS.filter((c) => c.stat);

/** One column's values in a shard: their exact sum and a histogram (value key -> count, see statKey). */
export interface StatHistogram {
  sum: number;
  counts: Record<string, number>;
}

/**
 * The histogram key of a statistic's value: integers below 1000 exactly, larger ones to 3 significant
 * digits (token counts), fractions to 3 decimals (complexity score); so a histogram stays small
 * whatever the number of rows, and percentiles read from it are exact or within 0.5%.
 */
export function statKey(v: number): string {
  if (!Number.isInteger(v)) return String(Math.round(v * 1000) / 1000);
  if (Math.abs(v) < 1000) return String(v);
  return String(Number(v.toPrecision(3)));
}

/** Add a row's statistics to per-column histograms (keyed by column name). */
export function addStats(hist: Record<string, StatHistogram>, row: OutputRow): void {
  for (const c of STAT_COLUMNS) {
    const v = c.get(row) as number;
    const h = (hist[c.name] ??= { sum: 0, counts: {} });
    h.sum += v;
    const k = statKey(v);
    h.counts[k] = (h.counts[k] ?? 0) + 1;
  }
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * An OutputRow as a Parquet row object keyed by column name, checked against the column types, and
 * its approximate size in bytes (string lengths + 8 per number). Throws `sink_invalid_row` (not
 * retriable) naming the first bad column, before anything is written.
 */
export function toParquetRow(row: OutputRow): { values: Record<string, unknown>; approxBytes: number } {
  const values: Record<string, unknown> = {};
  let approxBytes = 0;
  for (const col of OUTPUT_COLUMNS) {
    const v = col.get(row);
    if (col.type === 'UTF8') {
      if (typeof v !== 'string') throw invalid(row, col, 'a string', v);
      approxBytes += v.length;
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(row, col, 'a finite number', v);
      if (col.type !== 'DOUBLE' && !Number.isSafeInteger(v)) throw invalid(row, col, 'an integer', v);
      if (col.type === 'INT32' && Math.abs(v) > INT32_MAX) throw invalid(row, col, 'a 32-bit integer', v);
      approxBytes += 8;
    }
    values[col.name] = v;
  }
  return { values, approxBytes };
}

function invalid(row: OutputRow, col: OutputColumn, expected: string, got: unknown): GemflowError {
  return new GemflowError('sink_invalid_row', `column ${col.name} of trajectory ${String(row?.trajectoryId)} must be ${expected}, got ${typeof got === 'string' ? 'a string' : String(got)}`, {
    detail: { column: col.name, trajectoryId: row?.trajectoryId },
  });
}
