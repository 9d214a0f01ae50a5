/**
 * `gemflow run` (the built CLI, as a user runs it) with its replicas behind a DNS name: a DNS server
 * on a UDP socket (tests/llm/dns-stub.ts) names simulator replicas on 127.0.0.5 and 127.0.0.6 (one
 * port, two loopback addresses). Mid-run the second replica appears in DNS and then the first leaves:
 * the new one gets work, the old one drains and gets nothing more, and the run loses nothing.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { CORPUS, deadLetters, readManifest, startCli, stepBooksProblems, tempDir, writePipeline } from '../e2e/harness.js';
import { DnsStub } from './dns-stub.js';

const NAME = 'vllm-headless.gemflow-run.svc.cluster.local';

/** Polls until `check` holds; fails naming `what` after `timeoutMs` or when `stop()` says waiting is pointless. */
async function until(what: string, check: () => boolean, stop: () => string | undefined, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    const why = stop();
    if (why !== undefined) throw new Error(`gave up waiting until ${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('gemflow run with replicas discovered through DNS', () => {
  const sims: SimulatorHandle[] = [];
  let dns: DnsStub | undefined;
  afterAll(async () => {
    await Promise.all(sims.map((s) => s.close()));
    await dns?.close();
  });

  it('adds the replica that appears mid-run, drains the one that leaves, and writes every document', { timeout: 300_000 }, async () => {
    dns = await DnsStub.start();
    // Simulated time 25x faster than the wall clock: the run lasts long enough to change DNS under it.
    const simOpts = { timeScale: 0.04 };
    for (let attempt = 0; sims.length < 2; attempt++) {
      const a = await startSimulator({ ...simOpts, host: '127.0.0.5' });
      try {
        sims.push(a, await startSimulator({ ...simOpts, host: '127.0.0.6', port: a.port, replica: 1 }));
      } catch (e) {
        await a.close(); // that port is taken on 127.0.0.6: another pair
        if (attempt >= 5) throw e;
      }
    }
    const [a, b] = sims as [SimulatorHandle, SimulatorHandle];
    dns.set(NAME, ['127.0.0.5']);

    const dir = await tempDir('discovery-run');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threshold: 0.35, threads: 1 },
      llm: {
        endpoints: [{ discover: `dns://${NAME}:${a.port}`, model: 'gemflow-sim-32b', resolveIntervalMs: 200, dnsServers: [dns.server] }],
        maxDocsInFlight: 6,
      },
      sink: { dir: out },
    });
    const run = startCli(['run', cfg]);
    let stderr = '';
    run.child.stderr!.on('data', (d) => (stderr += d));
    let exited: number | null | undefined;
    void run.done.then((r) => (exited = r.code));
    const stop = () => (exited !== undefined ? `the run ended (exit ${exited}) first:\n${stderr}` : undefined);
    const total = (s: SimulatorHandle) => s.stats().requests.total;

    await until('the first replica has served 10 calls', () => total(a) >= 10, stop);
    expect(total(b)).toBe(0);
    dns.set(NAME, ['127.0.0.5', '127.0.0.6']);
    await until('the new replica has served 10 calls', () => total(b) >= 10, stop);
    dns.set(NAME, ['127.0.0.6']);
    await until('the first replica is draining', () => stderr.includes(`${a.url} left ${NAME}: draining`), stop);
    await until('the first replica has nothing running or waiting', () => a.stats().running === 0 && a.stats().waiting === 0, stop);
    const drainedAt = total(a);
    const bAtDrain = total(b);

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(total(a)).toBe(drainedAt); // no new work once drained
    expect(total(b)).toBeGreaterThan(bAtDrain); // the rest of the run went to the new replica
    expect(a.stats().requests.byStatus).toEqual({ 200: total(a) }); // the drained replica answered all it got
    expect(result.stderr).toContain(`replica discovery: added ${a.url}`);
    expect(result.stderr).toContain(`replica discovery: added ${b.url}`);

    const m = await readManifest(out);
    const d = m.funnel.documents;
    expect(m.funnel.balanced).toBe(true);
    expect(stepBooksProblems(m)).toEqual([]);
    expect(d.written).toBeGreaterThan(10);
    expect(d.deadLettered).toEqual({});
    expect(await deadLetters(out)).toEqual([]);
  });
});
