import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { uniqueTmpPart } from './writer-tag.js';

/** fsync a directory, so renames and new entries in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replace `path` atomically: write `<path>.<writer tag>-<n>.tmp` (a name no other writer, process or
 * call uses, so concurrent writers of one path never share or steal a temp file), fsync it, rename it
 * over `path`, and fsync the directory unless `syncDir` is false (when the caller fsyncs it later
 * itself). A reader sees the old content or one whole new one, never a torn file.
 */
export async function writeFileDurable(path: string, data: string | Uint8Array, opts: { syncDir?: boolean } = {}): Promise<void> {
  const tmp = `${path}.${uniqueTmpPart()}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  if (opts.syncDir !== false) await fsyncDir(dirname(path));
}
