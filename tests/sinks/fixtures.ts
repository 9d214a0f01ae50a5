import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { SinkConfig } from '../../src/config/schema.js';
import type { Origin } from '../../src/envelope.js';
import type { OutputRow, ShardSink } from '../../src/sinks/types.js';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `gemflow-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function sinkConfig(dir: string, over: Partial<SinkConfig> = {}): SinkConfig {
  return SinkConfig.parse({ dir, ...over });
}

export const fileOrigin = (file: string, line: number): Origin => ({ kind: 'file', partition: file, offset: line, file, line });
export const kafkaOrigin = (topic: string, p: number, offset: number): Origin => ({
  kind: 'kafka',
  partition: `${topic}/${p}`,
  offset,
  topic,
  kafkaPartition: p,
});

/** Deterministic pseudo-random words (xorshift), so text is not trivially compressible. */
export function words(seed: number, chars: number): string {
  let x = seed * 2654435761 + 1;
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const w = (x >>> 0).toString(36);
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(' ').slice(0, chars);
}

/** `n` rows of one document; `messageChars` sets the size of the messages column. */
export function docRows(origin: Origin, n: number, messageChars = 200): OutputRow[] {
  const documentId = `doc-${origin.partition}-${origin.offset}`;
  return Array.from({ length: n }, (_, i) => ({
    trajectoryId: `${documentId}#${i}`,
    documentId,
    origin: origin.kind === 'file' ? `file:${origin.file}:${origin.line}` : `kafka:${origin.topic}/${origin.kafkaPartition}@${origin.offset}`,
    originPartition: origin.partition,
    originOffset: origin.offset,
    domain: 'logistics',
    workflowName: `workflow ${i}`,
    relevanceScore: 0.5 + i / 100,
    tools: JSON.stringify([{ type: 'function', function: { name: 'lookup_order', description: 'find an order', parameters: { type: 'object', properties: { id: { type: 'string' } } } } }]),
    messages: JSON.stringify([
      { role: 'user', content: words(origin.offset * 31 + i, messageChars) },
      { role: 'assistant', content: '', tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: 'lookup_order', arguments: '{"id":"A1"}' } }] },
      { role: 'tool', content: '{"status":"shipped"}', tool_call_id: `call_${i}`, name: 'lookup_order' },
      { role: 'assistant', content: 'It has shipped.' },
    ]),
    patterns: '["clarification"]',
    policy: 'null',
    userProfile: '{"tone":"terse"}',
    judge: 'null',
    stats: {
      messages: 5 + i,
      userTurns: 2,
      assistantTurns: 2,
      toolTurns: 1,
      toolCalls: 1,
      distinctTools: 1,
      toolsDefined: 1,
      maxArgDepth: 1,
      longestDependencyChain: 1,
      clarificationTurns: 0,
      errorRecoveryTurns: i % 2,
      tokens: 3_000_000_000 + i,
      complexityScore: 1.25,
    },
    promptVersions: '{"extract":"extract.v1"}',
    models: '{"extract":"sim"}',
    promptTokens: 1000 + i,
    completionTokens: 500 + i,
  }));
}

/** An in-process DuckDB with one connection, as the independent Parquet reader. */
export async function duck(): Promise<{ all: (sql: string) => Promise<Record<string, unknown>[]>; close: () => void; con: DuckDBConnection }> {
  const instance = await DuckDBInstance.create();
  const con = await instance.connect();
  return {
    con,
    all: async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[],
    close: () => {
      con.closeSync();
      instance.closeSync();
    },
  };
}

export const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Origin keys of the documents `sink.writtenDocs` reports for `partitions`, each from offset `from` (default 0). */
export async function writtenKeys(sink: ShardSink, partitions: Iterable<string>, from = 0): Promise<Set<string>> {
  const got = await sink.writtenDocs(new Map([...new Set(partitions)].map((p) => [p, from])));
  return new Set([...got].flatMap(([p, offsets]) => [...offsets].map((offset) => `${p}@${offset}`)));
}
