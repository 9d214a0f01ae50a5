import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Funnel } from '../../src/dataflow/funnel.js';
import { completeInterruptedRun, INTERRUPTED, type RunRecords } from '../../src/run-record.js';
import type { RunManifest } from '../../src/sinks/manifest.js';
import { FileCheckpoint } from '../../src/sources/file-checkpoint.js';

function records(initial: RunManifest[] = []): RunRecords & { all: Map<string, RunManifest>; writes: number } {
  const all = new Map(initial.map((r) => [r.runId!, r]));
  const r = {
    all,
    writes: 0,
    async putRunRecord(m: RunManifest & { runId: string }) {
      r.writes++;
      all.set(m.runId, structuredClone(m));
    },
    async getRunRecord(id: string) {
      return all.get(id);
    },
  };
  return r;
}

function books(received: number, written: number) {
  const f = new Funnel();
  for (let i = 0; i < received; i++) f.received(1);
  for (let i = 0; i < written; i++) f.written(1);
  for (let i = written; i < received; i++) f.dropped('irrelevant');
  return f.snapshot();
}

const run = (over: Partial<RunManifest>): RunManifest => ({
  version: 1,
  runId: 'r1',
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:05.000Z',
  config: {},
  funnel: books(3, 2),
  tokens: { extract: { promptTokens: 10, completionTokens: 5 } },
  shards: [],
  statsSummary: {},
  simulated: true,
  ...over,
});

describe('completeInterruptedRun', () => {
  it('rewrites a killed run\'s provisional record with the books of its last commit, once', async () => {
    const rs = records([run({ provisional: true })]);
    const note = { runId: 'r1', startedAt: '2026-01-01T00:00:00.000Z', books: books(7, 5) };
    expect(await completeInterruptedRun(note, rs)).toBe('r1');
    const r = rs.all.get('r1')!;
    expect(r.funnel).toEqual(note.books);
    expect(r.fatal?.code).toBe(INTERRUPTED);
    expect(r.provisional).toBe(true);
    expect(r.tokens).toEqual({ extract: { promptTokens: 10, completionTokens: 5 } }); // the rest of its last record stays
    expect(await completeInterruptedRun(note, rs)).toBeUndefined();
    expect(rs.writes).toBe(1);
  });

  it('writes a record for a run killed before its first one, and leaves finished runs alone', async () => {
    const none = records();
    const note = { runId: 'r2', startedAt: '2026-01-02T00:00:00.000Z', books: books(1, 1) };
    expect(await completeInterruptedRun(note, none)).toBe('r2');
    expect(none.all.get('r2')).toMatchObject({ startedAt: note.startedAt, funnel: note.books, fatal: { code: INTERRUPTED }, provisional: true });

    const finished = records([run({ runId: 'r2' })]);
    expect(await completeInterruptedRun(note, finished)).toBeUndefined();
    expect(finished.writes).toBe(0);
    expect(await completeInterruptedRun(undefined, finished)).toBeUndefined();
  });

  it('the file checkpoint keeps the note of the run that saved it last', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gemflow-note-'));
    const cp = new FileCheckpoint(dir);
    expect(await cp.lastRun()).toBeUndefined();
    const entries = new Map([['/in/a.jsonl', { nextOffset: 3, size: 10, mtimeMs: 1, complete: false }]]);
    const note = { runId: 'r3', startedAt: '2026-01-03T00:00:00.000Z', books: books(3, 1) };
    await cp.save(entries, note);
    expect(await cp.lastRun()).toEqual(note);
    expect(await cp.load()).toEqual(entries);
    await cp.save(entries);
    expect(await cp.lastRun()).toBeUndefined();
  });
});
