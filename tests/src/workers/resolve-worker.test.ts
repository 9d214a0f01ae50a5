import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveWorker } from '../../../src/workers/resolve-worker.js';

describe('resolveWorker', () => {
  let repo: string;
  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'gemflow-resolve-'));
    await writeFile(join(repo, 'package.json'), '{}');
    await mkdir(join(repo, 'operators', 'x'), { recursive: true });
    await mkdir(join(repo, 'dist', 'operators', 'x'), { recursive: true });
    await writeFile(join(repo, 'dist', 'operators', 'x', 'y.worker.js'), '');
  });
  afterAll(() => rm(repo, { recursive: true, force: true }));

  it('maps a .ts caller to the compiled worker under <repo>/dist', () => {
    const caller = pathToFileURL(join(repo, 'operators', 'x', 'pool.ts')).href;
    const expected = pathToFileURL(join(repo, 'dist', 'operators', 'x', 'y.worker.js')).href;
    expect(resolveWorker(caller, './y.worker.js').href).toBe(expected);
    expect(resolveWorker(caller, './y.worker.ts').href).toBe(expected);
  });

  it('resolves next to a compiled .js caller', () => {
    const caller = pathToFileURL(join(repo, 'dist', 'operators', 'x', 'pool.js')).href;
    expect(resolveWorker(caller, './y.worker.js').href).toBe(pathToFileURL(join(repo, 'dist', 'operators', 'x', 'y.worker.js')).href);
  });

  it('throws worker_not_found when the build is missing', () => {
    const caller = pathToFileURL(join(repo, 'operators', 'x', 'pool.ts')).href;
    expect(() => resolveWorker(caller, './missing.worker.js')).toThrow(expect.objectContaining({ code: 'worker_not_found' }));
  });
});
