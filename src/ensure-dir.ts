import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GemflowError } from './errors.js';

/** What a file-system errno means for a folder to be made or written ("validate" reports them too). */
export const ERRNO_REASON: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EDQUOT: 'disk quota exceeded',
};

/**
 * Creates directory `path` (and its missing parents) one level at a time, so a failure names its real
 * cause: Node's recursive mkdir reports ENOENT on a read-only file system and loops forever where a
 * file system refuses new directories (e.g. under /proc). `what` says what the directory is for.
 */
export async function ensureDir(path: string, what: string): Promise<void> {
  const target = resolve(path);
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    const st = await stat(p).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? undefined : Promise.reject(fail(what, target, p, e))));
    if (st) {
      if (!st.isDirectory()) throw new GemflowError('directory_unusable', `cannot use ${what} ${target}: ${p} is a file, not a directory`);
      break;
    }
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      await mkdir(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw fail(what, target, p, e as NodeJS.ErrnoException);
    }
  }
}

function fail(what: string, target: string, at: string, e: NodeJS.ErrnoException): GemflowError {
  const code = e.code ?? 'unknown';
  // ENOENT for a directory whose parent exists: the file system does not let directories be made there.
  const reason = ERRNO_REASON[code] ?? (code === 'ENOENT' ? 'the file system does not allow a directory there' : e.message);
  return new GemflowError('directory_unusable', `cannot create ${what} ${target}: ${reason} (${code} at ${at})`, { cause: e });
}
