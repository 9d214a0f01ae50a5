import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GemflowError, errorMessage } from '../errors.js';
import { writeFileDurable } from './durable-file.js';
import { LEGACY_MANIFEST_PATH, MANIFEST_PATH } from './shard-index.js';
import type { ShardInfo } from './types.js';
import { writerTag } from './writer-tag.js';

/**
 * The manifest of an output is a history of runs, safe with several workers sharing the output:
 *
 * - every run (every worker's run) writes its own `_runs/<runId>.json` at its end (and, provisional,
 *   after its commits while it runs: see RunManifest.provisional), under a name
 *   no other run uses (start time + host + pid + a per-process token), durably (a unique temp name,
 *   fsync, rename): runs never write the same file, so none can tear or lose another's;
 * - `manifest.json` is the merged view for readers: every run's funnel and tokens summed, the runs
 *   listed (`runs`), and `shards` = every shard present in the output. Each run rewrites it after its
 *   run file (atomically, under a unique temp name), then lists `_runs/` again and rewrites it while a
 *   run it did not include has appeared; so the last writer's view includes every run file written
 *   before it, and a concurrent one at worst briefly shows a view one run behind.
 * - readers that want the exact state (`gemflow stats`, readManifest) merge `_runs/` themselves and
 *   list the shards on disk, and fall back to `manifest.json` alone for outputs written before runs
 *   were kept (such a manifest is imported as one run, `legacy-<time>`, by the next run).
 *
 * The merged view is `_gemflow/manifest.json` (MANIFEST_PATH); outputs of the legacy layout have it as
 * `manifest.json` at the top, which is read when the new one is absent.
 */
export const RUNS_DIR = '_runs';

export type Tally = Record<string, number>;

/** The run's funnel: how every document and trajectory left (same shape as the runtime's snapshot). */
export interface ManifestFunnel {
  documents: {
    received: number;
    written: number;
    dropped: Tally;
    rejected: Tally;
    deadLettered: Tally;
    abandoned?: number;
    inFlight?: number;
    bytes?: number;
    /** Whole-document retries after infrastructure failures, by code. */
    retried?: Tally;
  };
  trajectories: {
    generated: number;
    written: number;
    rejected: Tally;
    dropped: Tally;
    failed?: Tally;
  };
  balanced?: boolean;
}

/** LLM usage of one stage. */
export interface StageTokens {
  promptTokens: number;
  completionTokens: number;
  calls?: number;
  cachedCalls?: number;
  errors?: Tally;
}

/** `<dir>/manifest.json`: what a run did, written last, after every shard is durable. */
export interface RunManifest {
  version: 1;
  /** ISO 8601 */
  startedAt: string;
  finishedAt: string;
  /** The pipeline config; secret values are redacted again by writeManifest. */
  config: Record<string, unknown>;
  funnel: ManifestFunnel;
  /** stage id -> usage */
  tokens: Record<string, StageTokens>;
  shards: ShardInfo[];
  /** Per-field summary of the trajectory statistics (operators/stats decides the shape). */
  statsSummary: Record<string, unknown>;
  /** Per-stage metrics (received / sent / dropped / errors / timings). */
  stages?: Record<string, unknown>;
  cache?: { hits: number; misses: number };
  /** Why the run stopped early, when it did. */
  fatal?: { code: string; message: string };
  /** True when the bundled vLLM simulator produced the outputs. */
  simulated: boolean;
  /** The run's id (its file under `_runs/`); absent in the merged view. */
  runId?: string;
  /**
   * A record of a run that has not finished: refreshed after its commits while it runs (finishedAt:
   * the refresh), counting only what it had committed (src/dataflow/committed-books.ts). A run killed
   * (kill -9, out of memory) leaves it so; the next run over the same state completes it from the
   * checkpoint and adds fatal `interrupted`. The finished run's record replaces it.
   */
  provisional?: boolean;
  /** Host, pid and token of the process that ran it. */
  worker?: string;
  /** Merged view only: the runs it sums, oldest first. */
  runs?: RunRecord[];
}

/** One run in the merged view's history. */
export interface RunRecord {
  runId: string;
  worker?: string;
  startedAt: string;
  finishedAt: string;
  funnel: ManifestFunnel;
  /** Shards this run wrote (a replay may rewrite the same names). */
  shardsWritten: number;
  fatal?: { code: string; message: string };
  simulated: boolean;
  provisional?: boolean;
}

/** A unique id for a run that started at `startedAt`: sortable by time, unique per process and run. */
export function newRunId(startedAt: string): string {
  return `${startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${writerTag()}-${++runSeq}`;
}
let runSeq = 0;

/**
 * Where a manifest lives (a local directory or object storage): each call atomic, a run file or the
 * merged manifest seen whole or not at all.
 */
export interface ManifestStore {
  putRun(runId: string, text: string): Promise<void>;
  listRunIds(): Promise<string[]>;
  /** The run's text; null when it vanished. */
  getRun(runId: string): Promise<string | null>;
  /** Write `manifest.json`; returns its path or URL. */
  putMerged(text: string): Promise<string>;
  /** `manifest.json`'s text, null when there is none. */
  getMerged(): Promise<string | null>;
  /** Every complete shard present in the output. */
  listShards(): Promise<ShardInfo[]>;
}

/** Write (or replace) one run's own record, `_runs/<runId>.json`, alone: no merged view, no card. */
export async function putRunRecord(store: ManifestStore, manifest: RunManifest & { runId: string }): Promise<void> {
  const run: RunManifest = { ...manifest, config: redactSecrets(manifest.config) as Record<string, unknown>, worker: manifest.worker ?? writerTag() };
  delete run.runs;
  await store.putRun(manifest.runId, JSON.stringify(run, null, 2) + '\n');
}

/** One run's record; undefined when there is none. */
export async function getRunRecord(store: ManifestStore, runId: string): Promise<RunManifest | undefined> {
  const text = await store.getRun(runId);
  return text === null ? undefined : { ...parseManifest(text, `${RUNS_DIR}/${runId}.json`), runId };
}

/**
 * Record a finished run (see the top of this file): its run file, then the merged `manifest.json`.
 * Returns the merged view and its path.
 */
export async function publishRun(store: ManifestStore, manifest: RunManifest): Promise<{ path: string; merged: RunManifest }> {
  const runId = manifest.runId ?? newRunId(manifest.startedAt);
  await putRunRecord(store, { ...manifest, runId });
  await importLegacy(store);
  let path = '';
  let merged: RunManifest | undefined;
  // Each run's version in a view: a provisional record (a peer still running) is replaced by its final one.
  const versions = (runs: RunManifest[]) => runs.map((r) => `${r.runId}\0${r.finishedAt}\0${r.provisional ? 'p' : 'f'}`).sort().join('\n');
  for (let attempt = 0; attempt < 5; attempt++) {
    const { runs } = await loadRuns(store);
    merged = mergeRuns(runs, await store.listShards());
    path = await store.putMerged(JSON.stringify(merged, null, 2) + '\n');
    // A peer that finished meanwhile rewrites the view itself, after its own run file; but this write
    // may land after the peer's and hold an older version of it (its provisional record): redo while
    // the run files differ from what this view merged, so the last writer's view is current.
    if (versions((await loadRuns(store)).runs) === versions(runs)) break;
  }
  return { path, merged: merged! };
}

/** A `manifest.json` from before run files (no `runs`) becomes run `legacy-<its start>` (the same id for every importer). */
async function importLegacy(store: ManifestStore): Promise<void> {
  const text = await store.getMerged();
  if (text === null) return;
  let m: RunManifest;
  try {
    m = parseManifest(text, 'manifest.json');
  } catch {
    return; // unreadable: replaced by the merged view below
  }
  if (m.runs !== undefined) return;
  const runId = `legacy-${String(m.startedAt).replace(/[^0-9TZ]/g, '')}`;
  if ((await store.listRunIds()).includes(runId)) return;
  await store.putRun(runId, JSON.stringify({ ...m, runId }, null, 2) + '\n');
}

/** Every readable run file, oldest first; unreadable ones are reported, not fatal. */
export async function loadRuns(store: ManifestStore): Promise<{ runs: RunManifest[]; unreadable: { runId: string; message: string }[] }> {
  const runs: RunManifest[] = [];
  const unreadable: { runId: string; message: string }[] = [];
  for (const runId of await store.listRunIds()) {
    try {
      const text = await store.getRun(runId);
      if (text !== null) runs.push({ ...parseManifest(text, `${RUNS_DIR}/${runId}.json`), runId });
    } catch (e) {
      unreadable.push({ runId, message: errorMessage(e) });
    }
  }
  runs.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.runId!.localeCompare(b.runId!));
  return { runs, unreadable };
}

/**
 * The merged view of an output: funnel, tokens and cache summed over `runs` (every run's funnel
 * balances, so the sum does); the latest run's config, stage metrics, statistics summary (the latest
 * that wrote trajectories) and fatal error; `shards` = the shards present (the output's state, which
 * a replay may have rewritten); simulated when any run was.
 */
export function mergeRuns(runs: RunManifest[], shards: ShardInfo[]): RunManifest {
  const last = runs.at(-1);
  const withStats = [...runs].reverse().find((r) => r.funnel.trajectories.written > 0) ?? last;
  const empty: ManifestFunnel = { documents: { received: 0, written: 0, dropped: {}, rejected: {}, deadLettered: {} }, trajectories: { generated: 0, written: 0, rejected: {}, dropped: {} } };
  return {
    version: 1,
    startedAt: runs.map((r) => r.startedAt).sort()[0] ?? '',
    finishedAt: last?.finishedAt ?? '',
    config: last?.config ?? {},
    funnel: runs.reduce((a, r) => sumDeep(a, r.funnel) as ManifestFunnel, empty),
    tokens: runs.reduce((a, r) => sumDeep(a, r.tokens) as Record<string, StageTokens>, {} as Record<string, StageTokens>),
    shards,
    statsSummary: withStats?.statsSummary ?? {},
    ...(last?.stages && { stages: last.stages }),
    ...(runs.some((r) => r.cache) && { cache: runs.reduce((a, r) => sumDeep(a, r.cache ?? {}) as { hits: number; misses: number }, { hits: 0, misses: 0 }) }),
    ...(last?.fatal && { fatal: last.fatal }),
    simulated: runs.some((r) => r.simulated),
    runs: runs.map((r) => ({
      runId: r.runId!,
      ...(r.worker && { worker: r.worker }),
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      funnel: r.funnel,
      shardsWritten: r.shards.length,
      ...(r.fatal && { fatal: r.fatal }),
      simulated: r.simulated,
      ...(r.provisional && { provisional: true }),
    })),
  };
}

/** Numbers added, objects merged key by key, booleans and-ed; anything else: the later value. */
function sumDeep(a: unknown, b: unknown): unknown {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a && b;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b)) out[k] = sumDeep(out[k], v);
    return out;
  }
  return b;
}

const SECRET_KEY = /(password|passphrase|api[-_]?key|secret|token|credentials?)$|^key$/i;

/**
 * A deep copy of a config with secrets replaced by "[redacted]": string values under keys such as
 * apiKey, password, secret, token (and ssl's private `key`), and the password of URLs with userinfo.
 */
export function redactSecrets(v: unknown, key = ''): unknown {
  if (typeof v === 'string') return SECRET_KEY.test(key) ? '[redacted]' : v.replace(/(\/\/[^/@:\s]*):[^/@\s]*@/g, '$1:[redacted]@');
  if (Array.isArray(v)) return v.map((x) => redactSecrets(x, key));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactSecrets(x, k)]));
  return v;
}

/** Write `<dir>/_gemflow/manifest.json` atomically (unique tmp + fsync + rename + fsync dir); returns its path. A low-level write: runs go through publishRun. */
export async function writeManifest(dir: string, manifest: RunManifest): Promise<string> {
  const path = join(dir, MANIFEST_PATH);
  await mkdir(dirname(path), { recursive: true });
  const safe: RunManifest = { ...manifest, config: redactSecrets(manifest.config) as Record<string, unknown> };
  await writeFileDurable(path, JSON.stringify(safe, null, 2) + '\n');
  return path;
}

/**
 * Read the merged manifest as written (`_gemflow/manifest.json`, or the legacy layout's `manifest.json`);
 * null when there is none, `manifest_invalid` when it is not a manifest.
 */
export async function readManifestFile(dir: string): Promise<RunManifest | null> {
  for (const rel of [MANIFEST_PATH, LEGACY_MANIFEST_PATH]) {
    const text = await readIfExists(join(dir, rel));
    if (text !== null) return parseManifest(text, join(dir, rel));
  }
  return null;
}

async function readIfExists(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(e)));
}

/**
 * The state of a local output's manifest: the runs under `<dir>/_runs/` merged with the shards on
 * disk (mergeRuns), or `manifest.json` alone for an output without run files; null when neither
 * exists. `manifest_invalid` when manifest.json is needed and is not a manifest.
 */
export async function readManifest(dir: string, shards: () => Promise<ShardInfo[]> = async () => []): Promise<RunManifest | null> {
  const ids = await listRunFiles(dir);
  if (ids.length === 0) return readManifestFile(dir);
  const store = localManifestReader(dir, shards);
  const { runs } = await loadRuns(store);
  const legacy = await readManifestFile(dir).catch(() => null);
  // A pre-runs manifest not imported yet still counts as a run.
  if (legacy && legacy.runs === undefined && !ids.some((id) => id.startsWith('legacy-'))) runs.unshift({ ...legacy, runId: 'legacy' });
  return mergeRuns(runs, await shards());
}

/** Run ids under `<dir>/_runs/` (files `<id>.json`), sorted. */
export async function listRunFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(join(dir, RUNS_DIR))).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** The reading half of a local ManifestStore (see LocalShardStore for the whole). */
export function localManifestReader(dir: string, shards: () => Promise<ShardInfo[]>): ManifestStore {
  const notHere = () => Promise.reject(new Error('read-only'));
  return {
    putRun: notHere,
    putMerged: notHere,
    listRunIds: () => listRunFiles(dir),
    getRun: (runId) => readFile(join(dir, RUNS_DIR, `${runId}.json`), 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(e))),
    getMerged: async () => (await readIfExists(join(dir, MANIFEST_PATH))) ?? readIfExists(join(dir, LEGACY_MANIFEST_PATH)),
    listShards: shards,
  };
}

/** Parse and check a manifest (run file or merged view); `manifest_invalid` when it is not one. */
export function parseManifest(text: string, path: string): RunManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new GemflowError('manifest_invalid', `${path} is not JSON: ${errorMessage(e)}`, { cause: e });
  }
  const o = m as Partial<RunManifest> | null;
  if (o?.version !== 1 || typeof o.funnel !== 'object' || !Array.isArray(o.shards)) {
    throw new GemflowError('manifest_invalid', `${path} is not a version 1 run manifest`);
  }
  return o as RunManifest;
}
