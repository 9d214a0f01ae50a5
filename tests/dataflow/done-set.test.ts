import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PipelineConfig } from '../../src/config/schema.js';
import { runPipeline } from '../../src/dataflow/pipeline.js';
import type { Origin } from '../../src/envelope.js';
import { FileDeadLetterSink } from '../../src/sinks/dead-letter-file.js';
import { LocalShardStore } from '../../src/sinks/local-shard-store.js';
import { ParquetShardSink, partitionSlug } from '../../src/sinks/parquet-sink.js';
import { INDEX_SUFFIX, PARQUET_SUFFIX, type ShardIndex } from '../../src/sinks/shard-index.js';
import type { ListedShard } from '../../src/sinks/shard-store.js';
import { FileCheckpoint } from '../../src/sources/file-checkpoint.js';
import { FileSource } from '../../src/sources/file-source.js';
import type { Step, StepLlm } from '../../src/steps/step.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { docRows, tempDir } from '../sinks/fixtures.js';

/** A local shard store that counts the indexes read through it (and the documents they hold). */
class CountingStore extends LocalShardStore {
  reads: string[] = [];
  docsRead = 0;
  override async listShardIndexes(): Promise<ListedShard[]> {
    return (await super.listShardIndexes()).map((s) => ({
      name: s.name,
      readIndex: async () => {
        const index = await s.readIndex();
        this.reads.push(s.name);
        this.docsRead += index.docs.length;
        return index;
      },
    }));
  }
}

const fileOrigin = (file: string, offset: number): Origin => ({ kind: 'file', partition: file, offset, file, line: offset + 1 });

/**
 * Synthetic shards of `file`'s offsets [from, to), `perShard` documents each: an index named and
 * shaped as the sink writes it, beside a placeholder Parquet file (nothing here reads the Parquet).
 */
async function syntheticShards(shardsDir: string, file: string, from: number, to: number, perShard: number): Promise<string[]> {
  const names: string[] = [];
  const slug = partitionSlug(fileOrigin(file, 0));
  const pad = (n: number) => String(n).padStart(12, '0');
  for (let first = from; first < to; first += perShard) {
    const offsets = Array.from({ length: Math.min(perShard, to - first) }, (_, i) => first + i);
    const last = offsets.at(-1)!;
    const name = `${slug}-${pad(first)}-${pad(last)}-${createHash('sha256').update(offsets.join(',')).digest('hex').slice(0, 8)}`;
    const index: ShardIndex = {
      version: 1,
      name,
      partition: file,
      firstOffset: first,
      lastOffset: last,
      rows: offsets.length,
      bytes: 4,
      docs: offsets.map((offset) => ({ partition: file, offset, documentId: `d${offset}`, rows: 1 })),
    };
    await writeFile(join(shardsDir, name + INDEX_SUFFIX), JSON.stringify(index));
    await writeFile(join(shardsDir, name + PARQUET_SUFFIX), 'PAR1');
    names.push(name);
  }
  return names;
}

async function jsonl(path: string, lines: number): Promise<void> {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(JSON.stringify({ id: `d${i}`, text: `t${i}` }));
  await writeFile(path, out.join('\n') + '\n');
}

/** One row per document: the smallest pipeline that writes (no LLM). */
const toRow: Step = {
  id: 'rows',
  type: 'test-rows',
  input: 'document',
  output: 'row',
  process: (item) => docRows(item.doc.origin, 1).map((row) => ({ kind: 'row' as const, doc: item.doc, row: { ...row, documentId: item.doc.id } })),
};

describe('the done-set: bounded by what can still be replayed', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('restarting over 200,000 documents in the output reads no index of a committed shard', { timeout: 120_000 }, async () => {
    const t = await tempDir('done-set');
    cleanups.push(t.cleanup);
    const out = join(t.dir, 'out');
    const stateDir = join(out, '.gemflow');
    const shardsDir = join(out, 'shards');
    await mkdir(shardsDir, { recursive: true });
    // A: 100,000 lines, all committed (complete). C: 100,010 lines, committed below 99,995, written up
    // to 99,999: a crash came after its last shard was durable and before the commit.
    const [a, c] = [join(t.dir, 'a.jsonl'), join(t.dir, 'c.jsonl')];
    await jsonl(a, 100_000);
    await jsonl(c, 100_010);
    await syntheticShards(shardsDir, a, 0, 100_000, 100);
    const cShards = await syntheticShards(shardsDir, c, 0, 100_000, 100);
    const checkpoint = new Map();
    for (const [file, nextOffset, complete] of [[a, 100_000, true], [c, 99_995, false]] as const) {
      const st = await stat(file);
      checkpoint.set(file, { nextOffset, size: st.size, mtimeMs: st.mtimeMs, complete });
    }
    await new FileCheckpoint(stateDir).save(checkpoint);

    const config = PipelineConfig.parse({ source: { type: 'files', paths: [a, c] }, sink: { dir: out } });
    const store = new CountingStore(out);
    const sink = new ParquetShardSink(config.sink, { store });
    await sink.open();
    const source = new FileSource(config.source as Extract<PipelineConfig['source'], { type: 'files' }>, { stateDir });
    const deadLetters = new FileDeadLetterSink(join(out, 'dead-letters.jsonl'));
    const never = new AbortController();
    const result = await runPipeline(
      { config, source, sink, deadLetters, steps: [toRow], llm: () => ({}) as StepLlm, log: createLogger({ quiet: true }) },
      { drain: never.signal, abort: never.signal, commitIntervalMs: 1000 },
    );
    await sink.close();
    await source.close();
    await deadLetters.close();

    // Only the shard reaching C's committed position was read: no index of A, none of C's committed shards.
    expect(store.reads).toEqual([cShards.at(-1)]);
    expect(store.docsRead).toBe(100);
    // 99,995..99,999 were already written (skipped, not written twice); 100,000..100,009 are new.
    const d = result.funnel.documents;
    expect(d.received).toBe(15);
    expect(d.dropped).toEqual({ already_written: 5 });
    expect(d.written).toBe(10);
    expect(result.funnel.balanced).toBe(true);
    expect(sink.shards().map((s) => [s.partition, s.firstOffset, s.lastOffset])).toEqual([[c, 100_000, 100_009]]);
    // And the checkpoint moved past all of them.
    expect((await new FileCheckpoint(stateDir).load()).get(c)?.nextOffset).toBe(100_010);
  });
});
