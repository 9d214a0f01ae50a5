import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { errorMessage } from '../errors.js';
import { listRunFiles, loadRuns, localManifestReader, readManifest, type RunManifest, type Tally } from './manifest.js';
import { localShardInfos } from './local-shard-store.js';
import { DEAD_LETTERS_PATH, LEGACY_DEAD_LETTERS_PATH, readShardIndex, scanOutputDir } from './shard-index.js';

/** One complete shard on disk, described by its index (bytes: the file's actual size). */
export interface ShardSummary {
  name: string;
  path: string;
  partition: string;
  firstOffset: number;
  lastOffset: number;
  docs: number;
  rows: number;
  bytes: number;
}

export interface OutputSummary {
  dir: string;
  manifest: RunManifest | null;
  shards: ShardSummary[];
  totals: { shards: number; docs: number; rows: number; bytes: number };
  /**
   * Dead letters; null when there is no dead-letter file. `current` (and byCode / byStage) counts those
   * still unresolved; `resolved` those whose record a later run wrote: its origin (partition + offset)
   * or its document id is in a shard's index; `repeated` lines that dead-letter a record again (replayed
   * after an interrupted run), each record counted once in `current`. `total` = current + resolved + repeated.
   */
  deadLetters: { path: string; total: number; current: number; resolved: number; repeated: number; byCode: Tally; byStage: Tally; malformedLines: number } | null;
  problems: {
    /** Shards the manifest lists that are not on disk. */
    missingShards: string[];
    orphanIndexes: string[];
    unindexedData: string[];
    tmpFiles: string[];
    unreadableIndexes: { path: string; message: string }[];
    unreadableRuns: { runId: string; message: string }[];
  };
}

/** What an output directory holds, for `gemflow stats <dir>`: manifest, shards, dead letters. */
export async function readOutputSummary(dir: string): Promise<OutputSummary> {
  const listing = await scanOutputDir(dir);
  const shards: ShardSummary[] = [];
  const unreadableIndexes: { path: string; message: string }[] = [];
  const writtenOrigins = new Set<string>();
  const writtenIds = new Set<string>();
  for (const s of listing.shards) {
    try {
      const index = await readShardIndex(s.indexPath);
      const { size } = await stat(s.dataPath);
      const { partition, firstOffset, lastOffset, rows } = index;
      shards.push({ name: s.name, path: s.dataPath, partition, firstOffset, lastOffset, docs: index.docs.length, rows, bytes: size });
      for (const d of index.docs) {
        writtenOrigins.add(`${d.partition}@${d.offset}`);
        writtenIds.add(d.documentId);
      }
    } catch (e) {
      unreadableIndexes.push({ path: s.indexPath, message: errorMessage(e) });
    }
  }
  // The merged view of every run (see manifest.ts), over the shards on disk.
  const shardInfos = () => localShardInfos(dir);
  const manifest = await readManifest(dir, shardInfos);
  const unreadableRuns = (await listRunFiles(dir)).length > 0 ? (await loadRuns(localManifestReader(dir, shardInfos))).unreadable : [];
  const runShards = manifest?.runs ? [] : (manifest?.shards ?? []);
  const onDisk = new Set(shards.map((s) => basename(s.path)));
  return {
    dir,
    manifest,
    shards,
    totals: {
      shards: shards.length,
      docs: shards.reduce((n, s) => n + s.docs, 0),
      rows: shards.reduce((n, s) => n + s.rows, 0),
      bytes: shards.reduce((n, s) => n + s.bytes, 0),
    },
    deadLetters: await countDeadLetters(await firstExisting(dir, [DEAD_LETTERS_PATH, LEGACY_DEAD_LETTERS_PATH]), (origin, documentId) => writtenOrigins.has(origin) || (documentId !== undefined && writtenIds.has(documentId))),
    problems: {
      // A merged view lists the shards on disk; only a legacy manifest can list missing ones.
      missingShards: runShards.map((s) => s.path).filter((p) => !onDisk.has(basename(p))),
      orphanIndexes: listing.orphanIndexes,
      unindexedData: listing.unindexedData,
      tmpFiles: listing.tmpFiles,
      unreadableIndexes,
      unreadableRuns,
    },
  };
}

/** The first of `rels` (relative to `dir`) that exists, else the first. */
async function firstExisting(dir: string, rels: string[]): Promise<string> {
  for (const rel of rels) if (await stat(join(dir, rel)).then(() => true, () => false)) return join(dir, rel);
  return join(dir, rels[0]!);
}

/**
 * Count the dead-letter file. A dead letter is resolved, not current, when `written(originKey,
 * documentId)` says a later run wrote its record (the file is append-only history; this is its
 * current state).
 */
async function countDeadLetters(path: string, written: (originKey: string, documentId?: string) => boolean): Promise<OutputSummary['deadLetters']> {
  try {
    await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const out = { path, total: 0, current: 0, resolved: 0, repeated: 0, byCode: {} as Tally, byStage: {} as Tally, malformedLines: 0 };
  // A record replayed after an interrupted run (its dead letter written, its offset not yet committed) is
  // dead-lettered again: counted once, with its latest code and stage.
  const latest = new Map<string, { code: string; stage: string }>();
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let dl: { code?: unknown; stage?: unknown; origin?: { partition?: unknown; offset?: unknown }; documentId?: unknown };
    try {
      dl = JSON.parse(line) as typeof dl;
    } catch {
      out.malformedLines++; // e.g. a line cut short by a crash
      continue;
    }
    out.total++;
    const originKey = dl.origin && typeof dl.origin.partition === 'string' && typeof dl.origin.offset === 'number' ? `${dl.origin.partition}@${dl.origin.offset}` : '';
    if (written(originKey, typeof dl.documentId === 'string' ? dl.documentId : undefined)) {
      out.resolved++;
      continue;
    }
    const code = typeof dl.code === 'string' ? dl.code : 'unknown';
    const stage = typeof dl.stage === 'string' ? dl.stage : 'unknown';
    if (originKey === '') {
      out.current++;
      out.byCode[code] = (out.byCode[code] ?? 0) + 1;
      out.byStage[stage] = (out.byStage[stage] ?? 0) + 1;
      continue;
    }
    if (latest.has(originKey)) out.repeated++;
    latest.set(originKey, { code, stage });
  }
  for (const { code, stage } of latest.values()) {
    out.current++;
    out.byCode[code] = (out.byCode[code] ?? 0) + 1;
    out.byStage[stage] = (out.byStage[stage] ?? 0) + 1;
  }
  return out;
}

/** The summary as readable text: run, funnel, tokens, shards per partition, dead letters, problems. */
export function formatOutputSummary(s: OutputSummary): string {
  const out: string[] = [`output ${s.dir}`];
  const m = s.manifest;
  if (m) {
    const runs = m.runs ?? [];
    if (runs.length > 0) {
      out.push(`runs ${runs.length}, ${m.startedAt} -> ${m.finishedAt}${m.simulated ? ' (simulated LLM outputs)' : ''}; funnel totals over every run:`);
    } else out.push(`run ${m.startedAt} -> ${m.finishedAt}${m.simulated ? ' (simulated LLM outputs)' : ''}${m.fatal ? `, stopped: ${m.fatal.code}: ${m.fatal.message}` : ''}`);
    const d = m.funnel.documents;
    const t = m.funnel.trajectories;
    out.push(
      '',
      `documents    received ${d.received}, written ${d.written}, dropped ${tally(d.dropped)}, rejected ${tally(d.rejected)}, dead-lettered ${tally(d.deadLettered)}`,
      `trajectories generated ${t.generated}, written ${t.written}, rejected ${tally(t.rejected)}, dropped ${tally(t.dropped)}`,
    );
    if (runs.length > 0) {
      const rows = runs.map((r) => [r.runId, r.startedAt, r.finishedAt, r.funnel.documents.received, r.funnel.documents.written, r.shardsWritten, r.fatal ? `stopped: ${r.fatal.code}` : r.provisional ? 'unfinished' : 'ok']);
      out.push('', table(['run', 'started', 'finished', 'received', 'written', 'shards', 'end'], rows));
      if (runs.some((r) => r.provisional)) {
        out.push(
          'A run marked unfinished or stopped: interrupted has no final record: it is still running, or it stopped without finishing (killed); its "finished" is the time of its record, which counts only the documents it had committed then. Whatever it had not committed is read again and counted by the next run (documents it had already written: as dropped already_written).',
        );
      }
    }
    const stages = Object.entries(m.tokens);
    if (stages.length > 0) {
      out.push('', table(['stage', 'prompt tokens', 'completion tokens'], stages.map(([k, u]) => [k, u.promptTokens, u.completionTokens])));
    }
  } else out.push('no manifest (run unfinished or not a gemflow output)');

  const { totals } = s;
  out.push('', `shards ${totals.shards}, documents ${totals.docs}, rows ${totals.rows}, ${mb(totals.bytes)}`);
  const parts = new Map<string, { shards: number; docs: number; rows: number; bytes: number; first: number; last: number }>();
  for (const sh of s.shards) {
    const p = parts.get(sh.partition) ?? { shards: 0, docs: 0, rows: 0, bytes: 0, first: sh.firstOffset, last: sh.lastOffset };
    parts.set(sh.partition, {
      shards: p.shards + 1,
      docs: p.docs + sh.docs,
      rows: p.rows + sh.rows,
      bytes: p.bytes + sh.bytes,
      first: Math.min(p.first, sh.firstOffset),
      last: Math.max(p.last, sh.lastOffset),
    });
  }
  if (parts.size > 0) {
    const rows = [...parts].sort(([a], [b]) => a.localeCompare(b)).map(([k, p]) => [k, p.shards, p.docs, p.rows, mb(p.bytes), `${p.first}..${p.last}`]);
    out.push(table(['partition', 'shards', 'docs', 'rows', 'size', 'offsets'], rows));
    const listed = s.shards.slice(0, MAX_LISTED_SHARDS).map((sh) => [basename(sh.path), sh.docs, sh.rows, mb(sh.bytes)]);
    out.push('', table(['shard', 'docs', 'rows', 'size'], listed));
    if (s.shards.length > MAX_LISTED_SHARDS) out.push(`... and ${s.shards.length - MAX_LISTED_SHARDS} more shards`);
  }

  const dl = s.deadLetters;
  out.push(
    '',
    dl
      ? `dead letters ${dl.current}${dl.current ? `; by code: ${breakdown(dl.byCode)}; by stage: ${breakdown(dl.byStage)}` : ''}` +
          `${dl.resolved ? `; ${dl.resolved} more resolved (their documents were written by a later run)` : ''}` +
          `${dl.repeated ? `; ${dl.repeated} more lines repeat a record dead-lettered again by a later run (replayed after an interrupted run; counted once)` : ''}` +
          `${dl.malformedLines ? ` (${dl.malformedLines} malformed lines)` : ''}`
      : 'dead letters: none (no dead-letter file)',
  );

  const pr = s.problems;
  const problems = [
    ...pr.missingShards.map((p) => `listed in the manifest but missing: ${p}`),
    ...pr.orphanIndexes.map((p) => `index without its shard (crash leftover): ${p}`),
    ...pr.unindexedData.map((p) => `shard without an index: ${p}`),
    ...pr.tmpFiles.map((p) => `unfinished write: ${p}`),
    ...pr.unreadableIndexes.map((u) => `unreadable index ${u.path}: ${u.message}`),
    ...pr.unreadableRuns.map((u) => `unreadable run record ${u.runId}: ${u.message}`),
  ];
  if (problems.length > 0) out.push('', 'problems:', ...problems.map((p) => `  ${p}`));
  return out.join('\n');
}

/** Shards listed one by one by formatOutputSummary (all of them are in the totals and partition table). */
const MAX_LISTED_SHARDS = 1000;

/** "4 (bad_json: 2, llm_exhausted: 1, record_too_large: 1)", or "0". */
function tally(t: Tally): string {
  const total = Object.values(t).reduce((n, v) => n + v, 0);
  return total === 0 ? '0' : `${total} (${breakdown(t)})`;
}

/** Largest first: "bad_json: 2, llm_exhausted: 1". */
function breakdown(t: Tally): string {
  const e = Object.entries(t).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return e.map(([k, v]) => `${k}: ${v}`).join(', ');
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

/** Left-aligned first column, right-aligned numbers, two spaces between columns. */
function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}
