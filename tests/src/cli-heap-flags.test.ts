import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const CLI = pathToFileURL(join(import.meta.dirname, '../../dist/src/cli.js')).href;

/**
 * `gemflow run`'s V8 settings (src/cli.ts limitHeapGrowth), in a fresh node: after them, a worker thread is
 * started (Node puts V8's semi-space growth factor back to its default then) and the main thread allocates
 * short-lived objects with some survivors, which makes V8 grow the young generation; prints the committed
 * new space in MB.
 */
async function newSpaceAfterChurn(env: Record<string, string>): Promise<number> {
  const script = `
    import v8 from 'node:v8';
    import { Worker } from 'node:worker_threads';
    const { limitHeapGrowth } = await import(${JSON.stringify(CLI)});
    limitHeapGrowth();
    const w = new Worker('setTimeout(() => {}, 50)', { eval: true });
    await new Promise((r) => w.on('exit', r));
    const keep = [];
    for (let i = 0; i < 3e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 50 === 0) keep.push(o); if (keep.length > 20000) keep.length = 0; }
    console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576);
  `;
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: '', ...env } });
  return Number(stdout.trim());
}

describe('gemflow run V8 heap settings', () => {
  it('keeps the young generation at its starting size, also after a worker thread starts', async () => {
    expect(await newSpaceAfterChurn({})).toBeLessThanOrEqual(4);
  }, 60_000);

  it('leaves the young generation to V8 with GEMFLOW_SEMI_SPACE_GROWTH=0', async () => {
    expect(await newSpaceAfterChurn({ GEMFLOW_SEMI_SPACE_GROWTH: '0' })).toBeGreaterThan(4);
  }, 60_000);
});
