import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PipelineConfig } from '../../src/config/schema.js';
import { runPipeline } from '../../src/dataflow/pipeline.js';
import type { Origin, SourceItem } from '../../src/envelope.js';
import { FileDeadLetterSink } from '../../src/sinks/dead-letter-file.js';
import { ParquetShardSink } from '../../src/sinks/parquet-sink.js';
import type { Source, SourceHooks } from '../../src/sources/types.js';
import type { Step, StepLlm } from '../../src/steps/step.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { docRows, tempDir } from '../sinks/fixtures.js';

const P = 't/0';
const origin = (offset: number): Origin => ({ kind: 'kafka', partition: P, offset, topic: 't', kafkaPartition: 0 });
const item = (offset: number): SourceItem => ({ kind: 'doc', doc: { id: `d${offset}`, text: `text ${offset}`, meta: {}, bytes: 10, origin: origin(offset) } });

/**
 * A source scripted like a Kafka consumer that restarts (a broker outage outlived its retries): it
 * yields offsets 0-2, loses the partition while the runtime still waits for a document slot for
 * offset 2 (yielded, not yet begun), regains it, and replays 0-2 from the committed offset.
 */
class RestartingSource implements Source {
  readonly kind = 'kafka' as const;
  committed = new Map<string, number>();
  constructor(private readonly revokeWhileWaiting: () => Promise<void>) {}
  async *read(_signal: AbortSignal, hooks: SourceHooks): AsyncIterable<SourceItem> {
    await hooks.onPartitionStart?.(P, 0);
    yield item(0);
    yield item(1);
    // The runtime holds offset 2 while it waits for a slot; the partition is lost and regained meanwhile.
    setTimeout(() => void this.revokeWhileWaiting().then(() => hooks.onPartitionsRevoked?.([P])).then(() => this.regained()), 50);
    yield item(2);
    await this.regainedAt;
    await hooks.onPartitionStart?.(P, 0);
    for (let o = 0; o < 3; o++) yield item(o);
  }
  #regained!: () => void;
  regainedAt = new Promise<void>((r) => (this.#regained = r));
  regained(): void {
    this.#regained();
  }
  async commit(positions: Map<string, number>): Promise<void> {
    for (const [k, v] of positions) this.committed.set(k, v);
  }
  async close(): Promise<void> {}
}

describe('a record read before its partition was lost', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('is abandoned even when it is begun after the revocation: written once, books balanced', { timeout: 30_000 }, async () => {
    const t = await tempDir('stale-record');
    cleanups.push(t.cleanup);
    const out = join(t.dir, 'out');
    // One document slot for the LLM part and one of read-ahead: offsets 0 and 1 hold both while the
    // step waits, so offset 2 waits for a slot across the revocation.
    const config = PipelineConfig.parse({ source: { type: 'files', paths: ['unused'] }, sink: { dir: out, maxRows: 100 }, queueCapacity: 1, llm: { maxDocsInFlight: 1 } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source = new RestartingSource(async () => {});
    void source.regainedAt.then(() => setTimeout(release, 50));
    const rowsStep: Step = {
      id: 'rows',
      type: 'test-rows',
      input: 'document',
      output: 'row',
      process: async (it) => {
        await gate;
        return docRows(it.doc.origin, 1).map((row) => ({ kind: 'row' as const, doc: it.doc, row: { ...row, documentId: it.doc.id } }));
      },
    };
    const sink = new ParquetShardSink(config.sink);
    await sink.open();
    const deadLetters = new FileDeadLetterSink(join(out, '_gemflow', 'dead-letters.jsonl'));
    const never = new AbortController();
    const result = await runPipeline(
      { config, source, sink, deadLetters, steps: [rowsStep], llm: () => ({}) as StepLlm, log: createLogger({ quiet: true }) },
      { drain: never.signal, abort: never.signal, commitIntervalMs: 100 },
    );
    await sink.close();
    await deadLetters.close();

    const d = result.funnel.documents;
    expect(d.received).toBe(6);
    expect(d.written).toBe(3); // the replayed copies
    expect(d.abandoned).toBe(3); // the three read before the partition was lost, offset 2 among them
    expect(result.funnel.balanced).toBe(true);
    const written = sink.shards().flatMap((s) => Array.from({ length: s.lastOffset - s.firstOffset + 1 }, (_, i) => s.firstOffset + i));
    expect(sink.shards().reduce((n, s) => n + s.rows, 0)).toBe(3);
    expect(written.sort()).toEqual([0, 1, 2]);
    expect(source.committed.get(P)).toBe(3);
  });
});
