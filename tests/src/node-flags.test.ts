/**
 * gemflow's Node flags (src/node-flags.ts) are where its processes start: the image's ENTRYPOINT, the
 * `#!` line of bin/gemflow.js (which `npm run demo` executes) and every process the benchmark starts.
 * A flag in one place and not another would make the benchmark measure a process nobody deploys.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../src/node-flags.js';
import { nodeArgs } from '../../bench/sim-process.js';

const root = resolve(import.meta.dirname, '../..');

describe('gemflow Node flags', () => {
  it('are the flags between node and the launcher in the Dockerfile ENTRYPOINT', async () => {
    const line = (await readFile(join(root, 'Dockerfile'), 'utf8')).split('\n').find((l) => l.startsWith('ENTRYPOINT '));
    const argv = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
    const node = argv.indexOf('node');
    expect(argv.slice(node + 1, -1)).toEqual(NODE_FLAGS);
    expect(argv.at(-1)).toBe('/app/bin/gemflow.js');
  });

  it("are on bin/gemflow.js's #! line, which npm run demo executes", async () => {
    const first = (await readFile(join(root, 'bin/gemflow.js'), 'utf8')).split('\n')[0];
    expect(first).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.demo).toContain('./bin/gemflow.js run ');
  });

  it('reach the process when bin/gemflow.js is executed', async () => {
    // A long-lived command (the simulator on a free port): its command line is read while it runs.
    const child = spawn(join(root, 'bin/gemflow.js'), ['simulate', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout! });
      const [first] = (await once(lines, 'line')) as [string];
      expect(JSON.parse(first)).toMatchObject({ simulator: true });
      const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
      expect(cmdline.slice(1, 1 + NODE_FLAGS.length)).toEqual(NODE_FLAGS);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    }
  });

  it("start every benchmark process's argument list", () => {
    expect(nodeArgs('worker').slice(0, NODE_FLAGS.length)).toEqual(NODE_FLAGS);
  });
});
