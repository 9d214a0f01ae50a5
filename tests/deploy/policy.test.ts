/**
 * Policy checks over the rendered manifests of every overlay in deploy/overlays, rendered with the
 * kustomize cached in .cache/k8s/bin (scripts/k8s/tools.sh, which the vitest global setup runs
 * through scripts/deps.sh; without the binary these tests fail).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; [k: string]: unknown };
type Container = Record<string, any>;

const root = resolve(import.meta.dirname, '../..');
const kustomize = join(root, '.cache/k8s/bin/kustomize');
const overlays = readdirSync(join(root, 'deploy/overlays'));

function render(overlay: string): Obj[] {
  const out = execFileSync(kustomize, ['build', join(root, 'deploy/overlays', overlay)], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as Obj);
}

/** Pod templates of workload objects, with whether their containers must serve probes. */
function pods(objs: Obj[]): Array<{ owner: string; spec: any; longRunning: boolean }> {
  return objs.flatMap((o: any) =>
    ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind) ? [{ owner: `${o.kind}/${o.metadata.name}`, spec: o.spec.template.spec, longRunning: o.kind !== 'Job' }] : [],
  );
}

/** Containers, init containers that keep running (native sidecars) counted as long-running ones. */
function containers(spec: any, longRunning: boolean): Array<{ c: Container; serves: boolean }> {
  return [
    ...(spec.containers ?? []).map((c: Container) => ({ c, serves: longRunning })),
    ...(spec.initContainers ?? []).map((c: Container) => ({ c, serves: longRunning && c.restartPolicy === 'Always' })),
  ];
}

const find = (objs: Obj[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name) as any;
const findPrefix = (objs: Obj[], kind: string, prefix: string) => objs.find((o) => o.kind === kind && o.metadata.name.startsWith(prefix)) as any;

/** Keys whose values are credentials; in a ConfigMap they may only hold a ${VAR} reference. */
const SECRET_KEY = /pass(word)?|secret|token|api_?key|access_?key|private_?key|credential/i;
const SECRET_VALUE = [/AKIA[0-9A-Z]{16}/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /\bhf_[A-Za-z0-9]{20,}/, /\bsk-[A-Za-z0-9]{20,}/, /:\/\/[^/\s:@]+:[^/\s@]+@/];

function secretLooking(value: unknown, path: string, out: string[]): void {
  if (typeof value === 'string') {
    const key = path.split('.').pop() ?? '';
    if (SECRET_KEY.test(key) && value !== '' && !/^\$\{[A-Z0-9_]+\}$/.test(value)) out.push(`${path} holds a literal value`);
    for (const re of SECRET_VALUE) if (re.test(value)) out.push(`${path} looks like a credential (${re})`);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) secretLooking(v, `${path}.${k}`, out);
  }
}

describe.each(overlays)('overlay %s', (overlay) => {
  const objs = render(overlay);
  const pipelineMap = findPrefix(objs, 'ConfigMap', 'gemflow-pipeline');
  const pipelineText: string = pipelineMap?.data?.['pipeline.yaml'] ?? '';
  const topic = findPrefix(objs, 'ConfigMap', 'gemflow-topic');
  const partitions = Number(topic?.data?.PARTITIONS);
  const worker = find(objs, 'Deployment', 'gemflow-worker');

  it('renders the worker, its config, topic declaration, PDB, NetworkPolicy and lag scaler', () => {
    expect(worker).toBeDefined();
    expect(pipelineText).not.toBe('');
    expect(Number.isInteger(partitions) && partitions > 0).toBe(true);
    expect(find(objs, 'PodDisruptionBudget', 'gemflow-worker')).toBeDefined();
    expect(find(objs, 'NetworkPolicy', 'gemflow-worker')).toBeDefined();
    expect(find(objs, 'ScaledObject', 'gemflow-worker')?.spec.triggers[0].type).toBe('kafka');
  });

  it('sets requests (cpu, memory) and a memory limit on every container, and probes on every long-running one', () => {
    const problems: string[] = [];
    for (const p of pods(objs)) {
      for (const { c, serves } of containers(p.spec, p.longRunning)) {
        const r = c.resources ?? {};
        if (!r.requests?.cpu || !r.requests?.memory || !r.limits?.memory) problems.push(`${p.owner}/${c.name}: resources`);
        if (serves && (!c.readinessProbe || !c.livenessProbe)) problems.push(`${p.owner}/${c.name}: probes`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('runs every container non-root, read-only, without privileges, under the RuntimeDefault seccomp profile', () => {
    const problems: string[] = [];
    for (const p of pods(objs)) {
      const pod = p.spec.securityContext ?? {};
      if (pod.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${p.owner}: seccomp`);
      if (p.spec.automountServiceAccountToken !== false) problems.push(`${p.owner}: service account token mounted`);
      for (const { c } of containers(p.spec, p.longRunning)) {
        const s = c.securityContext ?? {};
        if ((s.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${p.owner}/${c.name}: runAsNonRoot`);
        if (s.readOnlyRootFilesystem !== true) problems.push(`${p.owner}/${c.name}: readOnlyRootFilesystem`);
        if (s.allowPrivilegeEscalation !== false) problems.push(`${p.owner}/${c.name}: allowPrivilegeEscalation`);
        if (!(s.capabilities?.drop ?? []).includes('ALL')) problems.push(`${p.owner}/${c.name}: capabilities not dropped`);
      }
    }
    for (const sa of objs.filter((o) => o.kind === 'ServiceAccount')) {
      if ((sa as any).automountServiceAccountToken !== false) problems.push(`ServiceAccount/${sa.metadata.name}: automount`);
    }
    expect(problems).toEqual([]);
  });

  it('pins every image to a tag or digest, never latest', () => {
    const images = pods(objs).flatMap((p) => containers(p.spec, p.longRunning).map(({ c }) => String(c.image)));
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      const tag = image.includes('@sha256:') ? 'digest' : /:([^/:]+)$/.exec(image)?.[1];
      expect(tag, image).toBeDefined();
      expect(tag, image).not.toBe('latest');
    }
  });

  it('keeps credentials out of ConfigMaps', () => {
    const problems: string[] = [];
    for (const cm of objs.filter((o) => o.kind === 'ConfigMap') as any[]) {
      for (const [key, text] of Object.entries<string>(cm.data ?? {})) {
        const parsed = key.endsWith('.yaml') ? parseAllDocuments(text).map((d) => d.toJS()) : key.endsWith('.properties') ? Object.fromEntries(text.split('\n').filter((l) => l.includes('=') && !l.startsWith('#')).map((l) => l.split(/=(.*)/s).slice(0, 2))) : text;
        secretLooking(parsed, `${cm.metadata.name}:${key}`, problems);
        secretLooking(text, `${cm.metadata.name}:${key}`, problems);
      }
    }
    expect(problems).toEqual([]);
  });

  it('keeps worker replicas and the lag scaler within the topic partitions', () => {
    const scaler = find(objs, 'ScaledObject', 'gemflow-worker');
    expect(scaler.spec.scaleTargetRef.name).toBe('gemflow-worker');
    expect(worker.spec.replicas).toBeLessThanOrEqual(partitions);
    expect(scaler.spec.minReplicaCount).toBeLessThanOrEqual(scaler.spec.maxReplicaCount);
    expect(scaler.spec.maxReplicaCount).toBeLessThanOrEqual(partitions);
    expect(scaler.spec.triggers[0].metadata.topic).toBe(topic.data.TOPIC);
  });

  it('ships a pipeline file that validates, reads the declared topic, and matches the probes and grace period', () => {
    const env = new Proxy({}, { get: (_, k) => (typeof k === 'string' ? `placeholder-${k.toLowerCase()}` : undefined), has: () => true });
    const cfg = parseConfig(pipelineText, { env, baseDir: '/etc/gemflow', file: `${overlay}:pipeline.yaml` }) as any;
    expect(cfg.source.type).toBe('kafka');
    expect(cfg.source.topics).toEqual([topic.data.TOPIC]);
    expect(cfg.source.groupId).toBe(find(objs, 'ScaledObject', 'gemflow-worker').spec.triggers[0].metadata.consumerGroup);

    const c = worker.spec.template.spec.containers.find((x: Container) => x.name === 'gemflow');
    const port = c.ports.find((p: any) => p.name === 'http-metrics').containerPort;
    expect(cfg.server.port).toBe(port);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(c[probe].httpGet.port, probe).toBe('http-metrics');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    // The drain must end before the kubelet's SIGKILL, with room to commit and close the sink.
    expect(worker.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(cfg.server.drainGraceMs + 10_000);
  });

  it('points every worker at one shared state store (Redis) that its NetworkPolicy lets it reach', () => {
    // As written in the ConfigMap (before ${VAR} interpolation).
    const cfg = parseAllDocuments(pipelineText)[0]!.toJS() as any;
    expect(cfg.state.backend).toBe('redis');
    const c = worker.spec.template.spec.containers.find((x: Container) => x.name === 'gemflow');
    const ref = /^\$\{([A-Z0-9_]+)\}$/.exec(cfg.state.url)?.[1];
    let port: number;
    if (ref !== undefined) {
      // From a Secret, never a literal in the ConfigMap (the URL may carry a password).
      const e = c.env.find((x: any) => x.name === ref);
      expect(e?.valueFrom?.secretKeyRef?.name, ref).toBeDefined();
      port = 6379;
    } else {
      // An in-cluster Service of the overlay, reachable from the workers and only from them.
      const u = new URL(cfg.state.url);
      port = Number(u.port || 6379);
      const svc = find(objs, 'Service', u.hostname);
      expect(svc, `Service ${u.hostname}`).toBeDefined();
      expect(svc.spec.ports.map((p: any) => p.port)).toContain(port);
      const own = find(objs, 'NetworkPolicy', u.hostname);
      expect(own.spec.ingress.flatMap((r: any) => r.from.map((f: any) => f.podSelector?.matchLabels?.['app.kubernetes.io/name']))).toEqual(['gemflow-worker']);
    }
    const egress = find(objs, 'NetworkPolicy', 'gemflow-worker').spec.egress;
    expect(egress.some((r: any) => r.ports?.some((p: any) => p.port === port))).toBe(true);
  });

  it('points the workers at each inference replica on its own: a headless Service they discover, or a loopback sidecar; never a load-balanced Service', () => {
    const pod = worker.spec.template.spec;
    const c = pod.containers.find((x: Container) => x.name === 'gemflow');
    // The environment the kubelet gives the worker: downward-API namespace fields resolved, the rest placeholders.
    const fromNamespace = new Set((c.env ?? []).filter((e: any) => e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace').map((e: any) => e.name));
    const env = new Proxy({}, { get: (_, k) => (typeof k !== 'string' ? undefined : fromNamespace.has(k) ? worker.metadata.namespace : k === 'CLUSTER_DOMAIN' ? undefined : `placeholder-${k.toLowerCase()}`), has: (_, k) => k !== 'CLUSTER_DOMAIN' });
    const cfg = parseConfig(pipelineText, { env, baseDir: '/etc/gemflow', file: `${overlay}:pipeline.yaml` });
    const vllm = find(objs, 'Deployment', 'vllm');
    const vllmLabels: Record<string, string> = vllm?.spec.template.metadata.labels ?? {};
    const selects = (selector: Record<string, string> | undefined) => !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => vllmLabels[k] === v);
    const egress: any[] = find(objs, 'NetworkPolicy', 'gemflow-worker').spec.egress;
    expect(cfg.llm.endpoints.length).toBeGreaterThan(0);
    for (const e of cfg.llm.endpoints) {
      if ('discover' in e) {
        // dns://<service>.<namespace>.svc.cluster.local:<port>: a headless Service of this overlay, in its namespace.
        const u = new URL(e.discover);
        const [name, namespace, svc, ...domain] = u.hostname.split('.');
        expect([svc, domain.join('.')]).toEqual(['svc', 'cluster.local']);
        const service = find(objs, 'Service', name!);
        expect(service, `Service ${name}`).toBeDefined();
        expect(service.metadata.namespace).toBe(namespace);
        expect(service.spec.clusterIP).toBe('None');
        expect(service.spec.publishNotReadyAddresses ?? false).toBe(false);
        // Its records are the vLLM pods; a pod address is dialled at the container's own port.
        expect(vllm, 'a vLLM Deployment behind the headless Service').toBeDefined();
        expect(selects(service.spec.selector)).toBe(true);
        const servicePort = service.spec.ports.find((p: any) => String(p.port) === u.port);
        const container = vllm.spec.template.spec.containers.find((x: Container) => (x.ports ?? []).some((p: any) => p.name === servicePort?.targetPort || p.containerPort === servicePort?.targetPort));
        expect(container?.ports.find((p: any) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort).containerPort).toBe(Number(u.port));
        expect(e.model).toBe(container.args.find((a: string) => a.startsWith('--served-model-name='))?.split('=')[1]);
        // The worker may reach those pods on that port.
        expect(egress.some((r) => (r.to ?? []).some((t: any) => selects(t.podSelector?.matchLabels)) && r.ports.some((p: any) => p.port === Number(u.port)))).toBe(true);
      } else {
        // A fixed URL only for a sidecar in the worker's own pod (the local overlay's simulator).
        const u = new URL(e.url);
        expect(u.hostname).toBe('127.0.0.1');
        const sidecar = (pod.initContainers ?? []).find((x: Container) => x.restartPolicy === 'Always' && x.args.includes(u.port));
        expect(sidecar, `a sidecar serving port ${u.port}`).toBeDefined();
      }
    }
    // vLLM pods exist: the workers discover them, and no ClusterIP Service load-balances over them.
    if (vllm) expect(cfg.llm.endpoints.some((e) => 'discover' in e)).toBe(true);
    const balanced = objs.filter((o: any) => o.kind === 'Service' && o.spec.clusterIP !== 'None' && vllm && selects(o.spec.selector));
    expect(balanced.map((o) => o.metadata.name)).toEqual([]);
  });
});
