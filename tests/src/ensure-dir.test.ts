import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureDir } from '../../src/ensure-dir.js';

describe('ensureDir', () => {
  it('makes the missing levels, and is a no-op when the directory exists', async () => {
    const base = await mkdtemp(join(tmpdir(), 'gemflow-dir-'));
    await ensureDir(join(base, 'a/b/c'), 'the output');
    expect((await stat(join(base, 'a/b/c'))).isDirectory()).toBe(true);
    await ensureDir(join(base, 'a/b/c'), 'the output');
  });

  it('names a file in the way', async () => {
    const base = await mkdtemp(join(tmpdir(), 'gemflow-dir-'));
    await writeFile(join(base, 'f'), '');
    await expect(ensureDir(join(base, 'f/out'), 'the output directory (sink.dir)')).rejects.toMatchObject({
      code: 'directory_unusable',
      message: `cannot use the output directory (sink.dir) ${join(base, 'f/out')}: ${join(base, 'f')} is a file, not a directory`,
    });
  });

  it('says so where the file system allows no directory (/proc), instead of looping as recursive mkdir does', async () => {
    await expect(ensureDir('/proc/gemflow-out/x', 'the output directory (sink.dir)')).rejects.toMatchObject({
      code: 'directory_unusable',
      message: expect.stringContaining('the file system does not allow a directory there (ENOENT at /proc/gemflow-out)'),
    });
  });
});
