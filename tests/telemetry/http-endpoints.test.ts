import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Funnel } from '../../src/dataflow/funnel.js';
import { startWorkerEndpoints, type WorkerEndpoints } from '../../src/telemetry/http-endpoints.js';
import { createWorkerRegistry } from '../../src/telemetry/prometheus.js';
import { parseExposition, sampleValue } from './exposition.js';

const open: WorkerEndpoints[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});

async function start(readiness: Parameters<typeof startWorkerEndpoints>[0]['readiness'], funnel = new Funnel()): Promise<WorkerEndpoints> {
  const e = await startWorkerEndpoints({ port: 0, host: '127.0.0.1', registry: createWorkerRegistry({ funnel: () => funnel.snapshot() }), readiness });
  open.push(e);
  return e;
}

describe('startWorkerEndpoints', () => {
  it('serves /healthz, and /metrics as Prometheus text that follows the runtime', async () => {
    const funnel = new Funnel();
    const e = await start({}, funnel);
    const health = await fetch(`${e.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');

    funnel.received(10);
    const res = await fetch(`${e.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseExposition(await res.text());
    expect(sampleValue(m, 'gemflow_documents_received_total')).toBe(1);
    expect(sampleValue(m, 'gemflow_documents_in_flight')).toBe(1);
    expect(m.get('gemflow_process_cpu_seconds_total')?.type).toBe('counter');
  });

  it('flips /readyz with its checks and names the failing one; a throwing check is not ready', async () => {
    let assigned = false;
    let draining = false;
    const e = await start({
      sourceAssigned: () => assigned,
      inferenceAnswering: async () => true,
      notDraining: () => !draining,
    });
    const ready = async () => {
      const r = await fetch(`${e.url}/readyz`);
      return { status: r.status, body: (await r.json()) as { ready: boolean; checks: Record<string, boolean> } };
    };
    expect(await ready()).toEqual({ status: 503, body: { ready: false, checks: { sourceAssigned: false, inferenceAnswering: true, notDraining: true } } });
    assigned = true;
    expect(await ready()).toEqual({ status: 200, body: { ready: true, checks: { sourceAssigned: true, inferenceAnswering: true, notDraining: true } } });
    draining = true;
    expect((await ready()).status).toBe(503);

    const broken = await start({
      throws: () => {
        throw new Error('boom');
      },
      rejects: () => Promise.reject(new Error('boom')),
    });
    const r = await fetch(`${broken.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ready: false, checks: { throws: false, rejects: false } });
  });

  it('answers HEAD without a body, refuses other methods and unknown paths', async () => {
    const e = await start({});
    const head = await fetch(`${e.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${e.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${e.url}/nope`)).status).toBe(404);
  });

  it('fails with server_listen_failed on a taken port, and closes on abort', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startWorkerEndpoints({ port, host: '127.0.0.1', registry: createWorkerRegistry({ processMetrics: false }), readiness: {} })).rejects.toMatchObject({ code: 'server_listen_failed' });
    } finally {
      blocker.close();
    }

    const stop = new AbortController();
    const e = await startWorkerEndpoints({ port: 0, host: '127.0.0.1', registry: createWorkerRegistry({ processMetrics: false }), readiness: {}, signal: stop.signal });
    expect((await fetch(`${e.url}/healthz`)).status).toBe(200);
    stop.abort();
    await e.close();
    await expect(fetch(`${e.url}/healthz`)).rejects.toThrow();
  });
});
