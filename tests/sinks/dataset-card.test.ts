import { describe, expect, it } from 'vitest';
import { datasetCardFiles } from '../../src/sinks/dataset-card.js';
import type { RunManifest } from '../../src/sinks/manifest.js';
import type { ShardIndex } from '../../src/sinks/shard-index.js';

const run = (received: number, written: number, abandoned = 0) => ({
  documents: { received, written, dropped: {}, rejected: {}, deadLettered: {}, abandoned },
  trajectories: { generated: written, written, rejected: {}, dropped: {} },
  balanced: true,
});

function manifest(runs: number, funnel: ReturnType<typeof run>): RunManifest {
  return {
    version: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:10:00.000Z',
    config: {},
    funnel,
    tokens: {},
    shards: [],
    simulated: false,
    runs: Array.from({ length: runs }, () => ({ startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:10:00.000Z', funnel, simulated: false })),
  } as unknown as RunManifest;
}

const index = (name: string, rows: number): ShardIndex => ({ version: 1, name, partition: '/in/a.jsonl', firstOffset: 0, lastOffset: rows - 1, rows, bytes: 100, format: 'parquet', docs: [] }) as unknown as ShardIndex;
const card = (m: RunManifest, indexes: ShardIndex[]) => datasetCardFiles({ name: 'out', format: 'parquet', manifest: m, indexes })['_gemflow/card/README.md']!;

describe('dataset card funnel', () => {
  it('one run whose books match its shards: no notes', () => {
    const text = card(manifest(1, run(10, 4)), [index('a', 4)]);
    expect(text).toContain('| documents received | 10 |');
    expect(text).not.toContain('Summed over');
    expect(text).not.toContain('documents abandoned');
    expect(text).not.toContain('never wrote its record');
  });

  it('says the funnel is summed over runs, shows abandoned documents, and names rows no finished run accounts for', () => {
    const text = card(manifest(2, run(20, 4, 6)), [index('a', 4), index('b', 5)]);
    expect(text).toContain('Summed over the 2 runs that wrote this output');
    expect(text).toContain('| documents abandoned (unfinished when a run stopped; read again by the next run) | 6 |');
    expect(text).toContain('The shards hold 9 rows and the funnel counts 4 trajectories written');
  });
});
