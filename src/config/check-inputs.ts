import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ERRNO_REASON } from '../ensure-dir.js';
import { expandPaths } from '../sources/expand-paths.js';
import { errorMessage } from '../errors.js';
import { isS3Url } from '../s3/s3-url.js';
import type { ConfigIssue } from './interpolate-env.js';
import type { PipelineConfig } from './schema.js';
import { mapStepFiles } from './step-files.js';

/**
 * Offline check of a files source's input paths: every local path, directory or glob must match at
 * least one .jsonl / .jsonl.gz / .parquet file. `paths` are the configured values resolved against
 * the config's directory (index i reported as `source.paths[i]`; undefined entries are skipped: the
 * schema reports them). s3:// paths are not checked (that needs the network and credentials); the run
 * lists them when it starts.
 */
export async function inputPathIssues(paths: ReadonlyArray<string | undefined>): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  for (const [i, p] of paths.entries()) {
    if (p === undefined || isS3Url(p)) continue;
    try {
      await expandPaths([p]);
    } catch (e) {
      issues.push({ path: `source.paths[${i}]`, message: errorMessage(e) });
    }
  }
  return issues;
}

/**
 * Offline check of the files built-in steps read at start (step-files.ts), as resolved by the loader: a relevance
 * `model` file (not `default` / `hand`) and each decontamination benchmark `path` must exist, so that
 * `gemflow validate` reports them instead of the run failing on them.
 */
export async function stepFileIssues(cfg: PipelineConfig): Promise<ConfigIssue[]> {
  const blocks: Array<[string, string | undefined, Record<string, unknown>]> = [
    ...(cfg.steps ?? []).map((st, i): [string, string | undefined, Record<string, unknown>] => [`steps[${i}]`, st.type, st as Record<string, unknown>]),
    ...(cfg.steps ? [] : ([cfg.relevance && ['relevance', 'relevance', cfg.relevance], cfg.decontaminate && ['decontaminate', 'decontaminate', cfg.decontaminate]].filter(Boolean) as Array<[string, string, Record<string, unknown>]>)),
  ];
  const found: Array<[string, string]> = [];
  for (const [at, type, b] of blocks) mapStepFiles(b, type, (file, key) => (found.push([`${at}.${key}`, file]), file));
  const issues: ConfigIssue[] = [];
  for (const [path, file] of found) {
    if (!(await stat(file).catch(() => undefined))) issues.push({ path, message: `${file} does not exist or cannot be read (relative paths are relative to the pipeline file)` });
  }
  return issues;
}

/**
 * Offline check that the run can write its output and state: for a local sink.dir and the stateDir,
 * the nearest existing folder on the path must be a directory this process may write (a read-only
 * file system, a folder of another user or a file in the way is reported at its key).
 */
export async function outputDirIssues(cfg: PipelineConfig): Promise<ConfigIssue[]> {
  const dirs: Array<[string, string]> = [];
  if (!isS3Url(cfg.sink.dir)) dirs.push(['sink.dir', cfg.sink.dir]);
  const stateDir = cfg.stateDir ?? (isS3Url(cfg.sink.dir) ? undefined : `${cfg.sink.dir}/.gemflow`);
  if (stateDir) dirs.push(['stateDir', stateDir]);
  const issues: ConfigIssue[] = [];
  const reported: string[] = [];
  for (const [path, dir] of dirs) {
    // A stateDir inside a sink.dir already reported (the default one is) is not reported again.
    if (reported.some((r) => dir.startsWith(`${r}/`))) continue;
    const before = issues.length;
    let p = dir;
    let st = await stat(p).catch(() => undefined);
    while (!st && dirname(p) !== p) st = await stat((p = dirname(p))).catch(() => undefined);
    if (!st) continue;
    if (!st.isDirectory()) {
      issues.push({ path, message: `${dir} cannot be created: ${p} is a file, not a directory` });
      reported.push(dir);
      continue;
    }
    try {
      await access(p, constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = ERRNO_REASON[code ?? ''] ?? errorMessage(e);
      issues.push({ path, message: `${dir} cannot be written: ${why} (${code} at ${p})` });
    }
    if (issues.length > before) reported.push(dir);
  }
  return issues;
}
