import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSimulatorArgs, runSimulatorCli } from '../../src/simulator/main.js';

describe('simulator command line', () => {
  it('prints its URLs as one JSON line, serves until aborted, then exits 0', async () => {
    const out = new PassThrough();
    const stop = new AbortController();
    const exit = runSimulatorCli(['--port', '0', '--replicas', '2', '--time-scale', '0.01', '--fault-rate', '0'], { out, signal: stop.signal });
    const [chunk] = (await once(out, 'data')) as [Buffer];
    const line = JSON.parse(chunk.toString()) as { simulator: boolean; model: string; urls: string[] };
    expect(line.simulator).toBe(true);
    expect(line.model).toBe('gemflow-sim-32b');
    expect(line.urls).toHaveLength(2);
    for (const url of line.urls) expect((await fetch(`${url}/health`)).status).toBe(200);
    stop.abort();
    expect(await exit).toBe(0);
    await expect(fetch(`${line.urls[0]}/health`)).rejects.toThrow(TypeError);
  });

  it('maps flags to options', () => {
    const p = parseSimulatorArgs(['--replicas', '3', '--max-running-seqs', '16', '--fault-rate', '0.2', '--fault-kinds', 'rate_limit,reset', '--retry-after-sec', '0', '--model', 'm']);
    expect(p).toEqual({
      replicas: 3,
      options: { port: 8000, maxRunningSeqs: 16, faultRate: 0.2, model: 'm', faults: { kinds: ['rate_limit', 'reset'], retryAfterSec: 0 } },
    });
  });

  it('numbers its replicas from --first-replica (one replica per process, as the benchmark runs them)', async () => {
    expect(parseSimulatorArgs(['--first-replica', '3']).options.replica).toBe(3);
    expect(() => parseSimulatorArgs(['--first-replica', '1.5'])).toThrow(/--first-replica needs a whole number >= 0/);
    const out = new PassThrough();
    const stop = new AbortController();
    const exit = runSimulatorCli(['--port', '0', '--replicas', '2', '--first-replica', '2', '--time-scale', '0.01'], { out, signal: stop.signal });
    const [chunk] = (await once(out, 'data')) as [Buffer];
    const { urls } = JSON.parse(chunk.toString()) as { urls: string[] };
    const replicas = await Promise.all(urls.map(async (u) => ((await (await fetch(`${u}/sim/stats`)).json()) as { replica: number }).replica));
    expect(replicas).toEqual([2, 3]);
    stop.abort();
    expect(await exit).toBe(0);
  });

  it('exits 2 with the usage on a bad flag', async () => {
    const err = new PassThrough();
    expect(await runSimulatorCli(['--fault-kinds', 'meteor'], { err })).toBe(2);
    expect(String(err.read())).toContain('unknown meteor');
    expect(await runSimulatorCli(['--replicas', 'two'], { err: new PassThrough() })).toBe(2);
  });
});
