/**
 * Replica discovery through DNS (src/llm/discovery.ts) against a real DNS server on a UDP socket
 * (tests/llm/dns-stub.ts) and real simulator replicas. A DNS name gives addresses, not ports, so every
 * replica listens on the same port at its own loopback address (127.0.0.2, 127.0.0.3, ::1: Linux
 * routes all of 127/8 to lo). Records are added, removed and broken while calls run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DiscoveredEndpointsConfig, LlmConfig } from '../../src/config/schema.js';
import { HttpInferenceClient } from '../../src/llm/client.js';
import { dnsLookup } from '../../src/llm/discovery.js';
import type { SimulatorHandle } from '../../src/simulator/index.js';
import { createWorkerRegistry } from '../../src/telemetry/prometheus.js';
import { eventually, Harness } from './adaptive/harness.js';
import { DnsStub } from './dns-stub.js';

const NAME = 'vllm-headless.gemflow-test.svc.cluster.local';
const MODEL = 'gemflow-sim-32b';

type Notice = { level: string; message: string };

describe('DNS replica discovery', () => {
  const h = new Harness();
  let dns: DnsStub | undefined;
  afterEach(async () => {
    await h.cleanup();
    await dns?.close();
    dns = undefined;
  });

  /** Simulators on `hosts`, all on one port (the first's free port; tried again if another host has it taken). */
  async function simsOnOnePort(hosts: string[], opts: Parameters<Harness['sim']>[0] = {}): Promise<SimulatorHandle[]> {
    for (let attempt = 0; ; attempt++) {
      const first = await h.sim({ ...opts, host: hosts[0]! });
      try {
        return [first, ...(await Promise.all(hosts.slice(1).map((host) => h.sim({ ...opts, host, port: first.port }))))];
      } catch (e) {
        if (attempt >= 5 || (e as { code?: string }).code !== 'EADDRINUSE') throw e;
      }
    }
  }

  it('looks up every A and AAAA record; no records is an empty answer, SERVFAIL a failure', async () => {
    dns = await DnsStub.start();
    dns.set(NAME, ['10.1.0.7', '10.1.0.8', 'fd00::5']);
    const lookup = dnsLookup([dns.server], 300);
    expect((await lookup(NAME)).sort()).toEqual(['10.1.0.7', '10.1.0.8', 'fd00::5']);
    dns.set(NAME, []);
    expect(await lookup(NAME)).toEqual([]); // the headless Service exists, no pod is ready
    expect(await lookup('nothing-here.gemflow-test.svc.cluster.local')).toEqual([]); // NXDOMAIN
    dns.mode = 'servfail';
    await expect(lookup(NAME)).rejects.toMatchObject({ code: 'ESERVFAIL' });
  });

  it('validates discover entries: a fully qualified name with a port, and the model', () => {
    const issues = (e: unknown) => {
      const r = LlmConfig.safeParse({ endpoints: [e] });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ discover: `dns://${NAME}:8000`, model: MODEL })).toEqual([]);
    expect(issues({ discover: 'dns://vllm-headless:8000', model: MODEL })).toEqual([expect.stringContaining('not fully qualified')]);
    expect(issues({ discover: `dns://${NAME}`, model: MODEL })).toEqual([expect.stringContaining('the port is required')]);
    expect(issues({ discover: 'dns://10.0.0.1:8000', model: MODEL })).toEqual([expect.stringContaining('not a DNS name')]);
    expect(issues({ discover: `http://${NAME}:8000`, model: MODEL })).toEqual([expect.stringContaining('scheme http is not dns')]);
    expect(issues({ discover: `dns://${NAME}:8000` })).toEqual(['endpoints.0.model: required with discover: replicas come and go, and a worker must know the served model before the first one is up']);
    expect(issues({ url: 'http://a:8000', discover: `dns://${NAME}:8000`, model: MODEL })).toEqual([expect.stringContaining('either url (one replica) or discover')]);
    expect(issues({ url: 'http://a:8000', resolveIntervalMs: 100 })).toEqual([expect.stringContaining('resolveIntervalMs')]);
    // Static and discovered endpoints mix.
    expect(LlmConfig.parse({ endpoints: [{ url: 'http://a:8000' }, { discover: `dns://${NAME}:8000`, model: MODEL }] }).endpoints).toHaveLength(2);
  });

  it('adds replicas that appear, drains replicas that vanish, and keeps the set through failed resolutions', { timeout: 90_000 }, async () => {
    dns = await DnsStub.start();
    // ~24-token answers at 20 tokens/s per sequence: each call is in flight for about a second.
    const [a, b, c] = await simsOnOnePort(['127.0.0.2', '127.0.0.3', '::1'], { maxDecodeTokensPerSecPerSeq: 20 });
    const port = a!.port;
    dns.set(NAME, ['127.0.0.2']);
    const notices: Notice[] = [];
    const client = new HttpInferenceClient({
      endpoints: [],
      discover: [DiscoveredEndpointsConfig.parse({ discover: `dns://${NAME}:${port}`, model: MODEL, resolveIntervalMs: 100, dnsServers: [dns.server], initialConcurrency: 8 })],
      timeoutMs: 30_000,
      maxRetries: 4,
      retryBaseMs: 50,
      onNotice: (level, message) => notices.push({ level, message }),
    });
    const registry = createWorkerRegistry({ llm: client, processMetrics: false });
    await client.start(); // the first resolution's replicas are live before start() resolves
    expect(client.endpoints().map((e) => e.url)).toEqual([a!.url]);
    const load = h.load(client, 24);
    const served = (s: SimulatorHandle) => load.results.filter((r) => r.endpoint === s.url).length;
    await eventually('the first replica serves', () => served(a!) >= 10);

    // Scale up: two more records (one of them AAAA) -> both get work.
    dns.set(NAME, ['127.0.0.2', '127.0.0.3', '::1']);
    await eventually('the new replicas serve', () => served(b!) >= 5 && served(c!) >= 5);
    expect(c!.url).toBe(`http://[::1]:${port}`);
    expect(client.endpoints().map((e) => e.url).sort()).toEqual([a!.url, b!.url, c!.url].sort());

    // Scale down: 127.0.0.2 leaves DNS while it has calls in flight -> they finish there, then it is removed.
    const epA = client.endpoints().find((e) => e.url === a!.url)!;
    await eventually('the first replica has calls in flight', () => epA.inFlight >= 2);
    const inFlightAtRemoval = epA.inFlight;
    const answeredAtRemoval = served(a!);
    dns.set(NAME, ['127.0.0.3', '::1']);
    await eventually('the vanished replica is drained and removed', () => !client.discovery()[0]!.replicas.some((r) => r.url === a!.url));
    expect(epA.inFlight).toBe(0);
    expect(served(a!)).toBeGreaterThanOrEqual(answeredAtRemoval + inFlightAtRemoval); // its calls in flight finished there
    const aTotal = a!.stats().requests.total;
    const answeredByA = served(a!);
    const before = load.results.length;
    await eventually('30 more calls complete', () => load.results.length >= before + 30);
    expect(a!.stats().requests.total).toBe(aTotal); // no new work after the drain
    expect(served(a!)).toBe(answeredByA);
    expect(load.results.slice(before).every((r) => r.endpoint !== a!.url)).toBe(true);
    expect(load.errors).toEqual([]); // the calls in flight on the drained replica were answered, not lost

    // DNS breaks: the last good set stays, one warning for the whole outage; then it recovers.
    dns.mode = 'servfail';
    const failedBefore = client.discovery()[0]!.failedResolutions;
    await eventually('five resolutions fail', () => client.discovery()[0]!.failedResolutions >= failedBefore + 5);
    expect(client.endpoints().map((e) => e.url).sort()).toEqual([b!.url, c!.url].sort());
    const afterOutage = load.results.length;
    await eventually('calls still complete during the outage', () => load.results.length >= afterOutage + 10);
    dns.mode = 'ok';
    await eventually('resolution recovers', () => notices.some((n) => n.message.includes('resolves again')));
    expect(notices.filter((n) => n.message.includes('failed (ESERVFAIL'))).toHaveLength(1);

    // The worker's /metrics shows the replicas and what discovery did.
    const text = await registry.metrics();
    const source = `dns://${NAME}:${port}`;
    for (const s of [b!, c!]) expect(text).toContain(`gemflow_llm_discovered_replica{source="${source}",endpoint="${s.url}",state="live"} 1`);
    expect(text).not.toContain(`endpoint="${a!.url}",state=`);
    expect(text).toContain(`gemflow_llm_discovery_replica_changes_total{source="${source}",change="added"} 3`);
    expect(text).toContain(`gemflow_llm_discovery_replica_changes_total{source="${source}",change="removed"} 1`);
    expect(text).toMatch(new RegExp(`gemflow_llm_discovery_resolutions_total\\{source="${source.replace(/[.]/g, '\\.')}",outcome="failed"\\} ([5-9]|\\d\\d+)`));
    expect(load.errors).toEqual([]);
    await load.stop();
    await client.close();
  });

  it('starts with no replica behind the name and routes to the first one that appears; static and discovered endpoints mix', { timeout: 60_000 }, async () => {
    dns = await DnsStub.start();
    const [fixed, found] = await simsOnOnePort(['127.0.0.1', '127.0.0.4']);
    dns.set(NAME, []);
    const notices: Notice[] = [];
    const client = new HttpInferenceClient({
      endpoints: [],
      discover: [DiscoveredEndpointsConfig.parse({ discover: `dns://${NAME}:${found!.port}`, model: MODEL, resolveIntervalMs: 100, dnsServers: [dns.server] })],
      timeoutMs: 30_000,
      maxRetries: 2,
      retryBaseMs: 50,
      onNotice: (level, message) => notices.push({ level, message }),
    });
    await client.start();
    expect(client.endpoints()).toEqual([]);
    expect(notices.filter((n) => n.message.includes('no A/AAAA records'))).toHaveLength(1);
    const load = h.load(client, 4); // waits for a replica (noReplicaWaitMs)
    dns.set(NAME, ['127.0.0.4']);
    await eventually('the discovered replica serves', () => load.results.some((r) => r.endpoint === found!.url));
    await load.stop();
    expect(load.errors).toEqual([]);
    await client.close();

    // Mixed: a fixed URL and a name; a name serving another model is refused at start.
    const mixed = h.client([fixed!], { discover: [DiscoveredEndpointsConfig.parse({ discover: `dns://${NAME}:${found!.port}`, model: MODEL, resolveIntervalMs: 100, dnsServers: [dns.server] })] });
    await mixed.start();
    expect(mixed.endpoints().map((e) => e.url)).toEqual([fixed!.url, found!.url]);
    const other = h.client([fixed!], { discover: [DiscoveredEndpointsConfig.parse({ discover: `dns://${NAME}:${found!.port}`, model: 'another-model', dnsServers: [dns.server] })] });
    await expect(other.start()).rejects.toMatchObject({ code: 'llm_model_mismatch' });
  });
});
