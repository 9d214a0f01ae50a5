import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockStateDir } from '../../src/store/state-lock.js';

const LOCK_MODULE = fileURLToPath(new URL('../../dist/src/store/state-lock.js', import.meta.url));

let dir: string;
let child: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemflow-lock-'));
});
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** Another process that takes the lock and holds it until killed. */
async function holder(stateDir: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['--input-type=module', '-e', `import { lockStateDir } from ${JSON.stringify(LOCK_MODULE)}; lockStateDir(process.argv[1]); console.log('locked'); setInterval(() => {}, 1000);`, stateDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(c.stdout!, 'data')) as [Buffer];
  expect(line.toString().trim()).toBe('locked');
  return c;
}

describe('lockStateDir', () => {
  it('stops a second holder at once, naming the first; free again once released', () => {
    const first = lockStateDir(dir);
    expect(() => lockStateDir(dir)).toThrow(expect.objectContaining({ code: 'state_locked', message: expect.stringContaining(`pid ${process.pid}`) }));
    first.release();
    lockStateDir(dir).release();
  });

  it('holds across processes, and a holder killed with SIGKILL leaves no stale lock', async () => {
    child = await holder(dir);
    expect(() => lockStateDir(dir)).toThrow(expect.objectContaining({ code: 'state_locked', message: expect.stringContaining(`pid ${child.pid}`) }));
    child.kill('SIGKILL');
    await once(child, 'exit');
    const again = lockStateDir(dir);
    again.release();
  });
});
