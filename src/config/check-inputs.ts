import { expandPaths } from '../sources/expand-paths.js';
import { errorMessage } from '../errors.js';
import { isS3Url } from '../s3/s3-url.js';
import type { ConfigIssue } from './interpolate-env.js';

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
