import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GemflowError } from '../errors.js';

export type InputFormat = 'jsonl' | 'jsonl.gz' | 'parquet';

export interface InputFile {
  /** The path as the configuration gave it (joined with the file name for directories and globs). */
  path: string;
  /** Absolute path: the partition key of the file's records. */
  absPath: string;
  format: InputFormat;
}

const INPUT_SUFFIXES: Array<[string, InputFormat]> = [
  ['.jsonl', 'jsonl'],
  ['.jsonl.gz', 'jsonl.gz'],
  ['.parquet', 'parquet'],
];

/**
 * Expands the configured input paths into files, in a deterministic order: the paths in the order
 * given; a directory gives its *.jsonl, *.jsonl.gz and *.parquet files (not recursive) sorted by
 * name; a glob gives its matches with those suffixes, sorted (suffixes in any case; symbolic links to
 * files followed, and to directories where a pattern segment names them, not through `**`). Globs support `*` and `?` within a path
 * segment and `**` as a whole segment (any depth); like a shell, wildcards skip dot-files. A file
 * named explicitly is read by its suffix: .parquet, .gz (gzipped JSONL), anything else JSONL.
 * A file listed twice is read once. A path that does not exist or matches nothing is an error.
 */
export async function expandPaths(paths: readonly string[]): Promise<InputFile[]> {
  const out: InputFile[] = [];
  const seen = new Set<string>();
  for (const given of paths) {
    const found = hasWildcard(given) ? await expandGlob(given) : await expandPath(given);
    if (found.length === 0) {
      throw new GemflowError('source_no_files', `input path ${given} matches no .jsonl, .jsonl.gz or .parquet file`, { detail: { path: given } });
    }
    for (const f of found) {
      if (seen.has(f.absPath)) continue;
      seen.add(f.absPath);
      out.push(f);
    }
  }
  return out;
}

/** The format of a file found by a directory listing or a glob (suffix in any case), or undefined when not an input. */
function listedFormat(name: string): InputFormat | undefined {
  if (name.startsWith('.')) return undefined;
  const lower = name.toLowerCase();
  return INPUT_SUFFIXES.find(([suffix]) => lower.endsWith(suffix))?.[1];
}

function namedFormat(name: string): InputFormat {
  const lower = name.toLowerCase();
  if (lower.endsWith('.parquet')) return 'parquet';
  if (lower.endsWith('.gz')) return 'jsonl.gz';
  return 'jsonl';
}

/**
 * What a directory entry is, a symbolic link followed (a corpus folder of links to files elsewhere is
 * common: a symlink's Dirent is neither a file nor a directory, and such inputs were skipped without a
 * word). A dangling link is neither.
 */
async function kindOf(dir: string, e: import('node:fs').Dirent): Promise<'file' | 'dir' | undefined> {
  if (e.isFile()) return 'file';
  if (e.isDirectory()) return 'dir';
  if (!e.isSymbolicLink()) return undefined;
  const st = await stat(join(dir, e.name)).catch(() => undefined);
  return st?.isFile() ? 'file' : st?.isDirectory() ? 'dir' : undefined;
}

function hasWildcard(p: string): boolean {
  return /[*?]/.test(p);
}

async function expandPath(given: string): Promise<InputFile[]> {
  let st;
  try {
    st = await stat(given);
  } catch (e) {
    throw new GemflowError('source_path_not_found', `input path ${given} does not exist or cannot be read`, { cause: e, detail: { path: given } });
  }
  if (st.isFile()) return [{ path: given, absPath: resolve(given), format: namedFormat(given) }];
  const names: string[] = [];
  for (const d of await readdir(given, { withFileTypes: true })) if ((await kindOf(given, d)) === 'file') names.push(d.name);
  names.sort();
  const out: InputFile[] = [];
  for (const name of names) {
    const format = listedFormat(name);
    if (format) out.push({ path: join(given, name), absPath: resolve(given, name), format });
  }
  return out;
}

async function expandGlob(pattern: string): Promise<InputFile[]> {
  const segments = pattern.split('/');
  const firstWild = segments.findIndex(hasWildcard);
  const literal = segments.slice(0, firstWild);
  // "/data/*.jsonl" splits into ["", "data", ...]: an empty first segment is the root.
  const base = literal.length === 0 ? '.' : literal.join('/') || '/';
  const matches: string[] = [];
  await walk(base, segments.slice(firstWild), matches);
  const out: InputFile[] = [];
  for (const p of [...new Set(matches)].sort()) {
    const format = listedFormat(p.slice(p.lastIndexOf('/') + 1));
    if (format) out.push({ path: literal.length === 0 ? p.replace(/^\.\//, '') : p, absPath: resolve(p), format });
  }
  return out;
}

/** Collects the files under `dir` matching the remaining pattern segments. */
async function walk(dir: string, rest: string[], out: string[]): Promise<void> {
  const [seg, ...tail] = rest;
  if (seg === undefined) return;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // a directory that vanished or cannot be listed simply matches nothing
  }
  if (seg === '**' && tail.length === 0) return walk(dir, ['**', '*'], out); // "dir/**": every file below
  if (seg === '**') {
    await walk(dir, tail, out); // zero directories
    for (const e of entries) {
      // Real directories only: a link to a directory could lead back up the tree (as `find` without -L).
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name), rest, out);
    }
    return;
  }
  const re = segmentRegExp(seg);
  for (const e of entries) {
    if (!re.test(e.name)) continue;
    const p = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
    const kind = await kindOf(dir, e);
    if (tail.length === 0) {
      if (kind === 'file') out.push(p);
    } else if (kind === 'dir') {
      await walk(p, tail, out);
    }
  }
}

function segmentRegExp(seg: string): RegExp {
  const body = seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  // Wildcards do not match a leading dot; a segment that itself starts with "." still can.
  return new RegExp(seg.startsWith('.') ? `^${body}$` : `^(?!\\.)${body}$`);
}
