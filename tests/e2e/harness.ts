import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { duck, sqlString } from '../sinks/fixtures.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CORPUS = join(ROOT, 'examples/corpus.jsonl');
const BIN = join(ROOT, 'bin/gemflow.js');

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `gemflow-${prefix}-`));
}

/** Writes a pipeline file into `dir` and returns its path. */
export async function writePipeline(dir: string, config: Record<string, unknown>, name = 'pipeline.yaml'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, stringify(config));
  return path;
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `gemflow <args>` as a child process (the built CLI, as a user runs it). */
export function startCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliRun>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done };
}

export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return startCli(args, env).done;
}

export interface Manifest {
  funnel: {
    documents: { received: number; written: number; dropped: Record<string, number>; rejected: Record<string, number>; deadLettered: Record<string, number>; abandoned: number };
    trajectories: { generated: number; written: number };
    balanced: boolean;
  };
  tokens: Record<string, { calls: number; cachedCalls: number; errors: Record<string, number> }>;
  shards: Array<{ path: string; rows: number }>;
  simulated: boolean;
  /** Per-step books, counted by the runtime. */
  stages: Record<string, { received: number; sent: number; dropped: Record<string, number>; rejected: Record<string, number>; errors: Record<string, number>; balanced: boolean }>;
}

/** Every step's books balance: received = sent + dropped + rejected + errors. */
export function stepBooksProblems(m: Manifest): string[] {
  return Object.entries(m.stages ?? {})
    .filter(([, s]) => s.received !== s.sent + sum(s.dropped) + sum(s.rejected) + sum(s.errors) || !s.balanced)
    .map(([id, s]) => `${id}: ${JSON.stringify(s)}`);
}

export async function readManifest(outDir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(outDir, '_gemflow', 'manifest.json'), 'utf8')) as Manifest;
}

export async function shardFiles(outDir: string): Promise<string[]> {
  const dir = join(outDir, 'data');
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.parquet')).map((n) => join(dir, n)).sort();
}

export async function deadLetters(outDir: string): Promise<Array<{ code: string; stage: string; origin: { partition: string; offset: number } }>> {
  const text = await readFile(join(outDir, '_gemflow', 'dead-letters.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Every row of every shard, read by DuckDB (the independent reader). */
export async function readRows(outDir: string): Promise<{ rows: Record<string, unknown>[]; perShard: Map<string, number>; columns: Map<string, string> }> {
  const files = await shardFiles(outDir);
  const db = await duck();
  try {
    const perShard = new Map<string, number>();
    const rows: Record<string, unknown>[] = [];
    const columns = new Map<string, string>();
    for (const f of files) {
      const r = await db.all(`SELECT * FROM read_parquet(${sqlString(f)})`);
      perShard.set(f, r.length);
      rows.push(...r);
      if (columns.size === 0) {
        for (const c of await db.all(`DESCRIBE SELECT * FROM read_parquet(${sqlString(f)})`)) columns.set(String(c.column_name), String(c.column_type));
      }
    }
    return { rows, perShard, columns };
  } finally {
    db.close();
  }
}

/** What `datasets.load_dataset(dir)`, `pyarrow.dataset.dataset(dir)` and DuckDB see in an output directory (scripts/python/read-output.py). */
export interface PythonReaderView {
  rows: number;
  /** Trajectory ids seen, sorted (a row read twice appears twice). */
  ids: string[];
  columns: Record<string, string>;
  /** trajectory id -> digest of the row's values. */
  digest: Record<string, string>;
  builder?: string;
}

export async function readWithPython(outDir: string, format: 'parquet' | 'arrow' = 'parquet'): Promise<Record<'datasets' | 'pyarrow' | 'duckdb', PythonReaderView>> {
  const python = join(ROOT, '.cache/python/venv/bin/python');
  const { stdout } = await promisify(execFile)(python, [join(ROOT, 'scripts/python/read-output.py'), outDir, format], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as Record<'datasets' | 'pyarrow' | 'duckdb', PythonReaderView>;
}

export function sum(t: Record<string, number>): number {
  return Object.values(t).reduce((a, b) => a + b, 0);
}
