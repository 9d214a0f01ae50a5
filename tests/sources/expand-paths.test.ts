import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/sources/expand-paths.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemflow-expand-'));
  await mkdir(join(dir, 'in', 'sub', 'deep'), { recursive: true });
  for (const f of ['in/b.jsonl', 'in/a.parquet', 'in/c.jsonl.gz', 'in/notes.txt', 'in/.hidden.jsonl', 'in/sub/d.jsonl', 'in/sub/deep/e.jsonl', 'plain.data']) {
    await writeFile(join(dir, f), '');
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const names = (files: Array<{ absPath: string }>) => files.map((f) => f.absPath.slice(dir.length + 1));

describe('expandPaths', () => {
  it('lists a directory: input suffixes only, sorted, not recursive, no dot-files', async () => {
    const files = await expandPaths([join(dir, 'in')]);
    expect(names(files)).toEqual(['in/a.parquet', 'in/b.jsonl', 'in/c.jsonl.gz']);
    expect(files.map((f) => f.format)).toEqual(['parquet', 'jsonl', 'jsonl.gz']);
    expect(files[1]!.path).toBe(join(dir, 'in', 'b.jsonl'));
  });

  it('matches * within a segment and ** across directories', async () => {
    expect(names(await expandPaths([join(dir, 'in/*.jsonl*')]))).toEqual(['in/b.jsonl', 'in/c.jsonl.gz']);
    expect(names(await expandPaths([join(dir, 'in/**/*.jsonl')]))).toEqual(['in/b.jsonl', 'in/sub/d.jsonl', 'in/sub/deep/e.jsonl']);
    expect(names(await expandPaths([join(dir, 'i?/s*/d.jsonl')]))).toEqual(['in/sub/d.jsonl']);
    expect(names(await expandPaths([join(dir, 'in/sub/**')]))).toEqual(['in/sub/d.jsonl', 'in/sub/deep/e.jsonl']);
  });

  it('follows symbolic links to files (directory and glob), matches suffixes in any case, skips dangling links', async () => {
    const linked = join(dir, 'linked');
    await mkdir(join(linked, 'real'), { recursive: true });
    await writeFile(join(linked, 'real', 'x.jsonl'), '');
    await writeFile(join(linked, 'UPPER.JSONL'), '');
    await symlink(join(dir, 'in', 'b.jsonl'), join(linked, 'to-b.jsonl'));
    await symlink(join(dir, 'in', 'c.jsonl.gz'), join(linked, 'to-c.jsonl.gz'));
    await symlink(join(dir, 'nowhere.jsonl'), join(linked, 'dangling.jsonl'));
    await symlink(join(linked, 'real'), join(linked, 'dirlink'));
    const listed = await expandPaths([linked]);
    expect(names(listed)).toEqual(['linked/UPPER.JSONL', 'linked/to-b.jsonl', 'linked/to-c.jsonl.gz']);
    expect(listed.map((f) => f.format)).toEqual(['jsonl', 'jsonl', 'jsonl.gz']);
    expect(names(await expandPaths([join(linked, '*.jsonl*')]))).toEqual(['linked/to-b.jsonl', 'linked/to-c.jsonl.gz']);
    // A segment that names the linked directory follows it; `**` does not (no cycles through links).
    expect(names(await expandPaths([join(linked, 'dir*/*.jsonl')]))).toEqual(['linked/dirlink/x.jsonl']);
    expect(names(await expandPaths([join(linked, '**/x.jsonl')]))).toEqual(['linked/real/x.jsonl']);
  });

  it('reads an explicitly named file by its suffix and lists a file once', async () => {
    const files = await expandPaths([join(dir, 'plain.data'), join(dir, 'in/b.jsonl'), join(dir, 'in/*.jsonl')]);
    expect(names(files)).toEqual(['plain.data', 'in/b.jsonl']);
    expect(files[0]!.format).toBe('jsonl');
  });

  it('fails on a missing path and on a glob or directory without input files', async () => {
    await expect(expandPaths([join(dir, 'nope.jsonl')])).rejects.toMatchObject({ code: 'source_path_not_found' });
    await expect(expandPaths([join(dir, 'in/*.csv')])).rejects.toMatchObject({ code: 'source_no_files' });
    await expect(expandPaths([join(dir, 'in/sub/deep/..', '..', '..')])).rejects.toMatchObject({ code: 'source_no_files' });
  });
});
