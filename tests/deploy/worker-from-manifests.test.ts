/**
 * Item 6 of issue 6: the worker run exactly as the rendered `local` overlay describes it. From the
 * output of `kustomize build deploy/overlays/local` this takes the worker Deployment's container
 * (entrypoint from the Dockerfile, since the Deployment sets only args), its env (fieldRefs, Secret
 * keys, literals), its mounted pipeline ConfigMap and its simulator sidecar, and runs two replicas as
 * local processes. Substituted, and only these: the hosts/ports of Kafka, MinIO and the simulator, the
 * worker's metrics port (two replicas share one host), and the mount paths (temp dirs).
 * Against the real Kafka (global setup), MinIO and the simulator: every relevant document ends in a
 * shard in the bucket exactly once, every bad record in the dead letters, although one replica gets
 * SIGTERM mid-run.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startCli, tempDir } from '../e2e/harness.js';
import { assignedMembers, caughtUp, exactlyOnceProblems, liveStderr, produceWithCli, referenceDocIds, waitFor, type OutputDocs } from '../e2e/kafka-harness.js';
import { sendMessages } from '../kafka/helpers.js';
import { startMinio, type Minio } from '../s3/minio.js';
import { duck, sqlString } from '../sinks/fixtures.js';
import { startRedis, type RedisServer } from '../store/redis-server.js';

type K8sObject = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: any };

/** Built by the vitest global setup (scripts/deps.sh fetch k8s). */
const kustomize = join(ROOT, '.cache/k8s/bin/kustomize');

const exec = promisify(execFile);

function render(): K8sObject[] {
  const out = execFileSync(kustomize, ['build', join(ROOT, 'deploy/overlays/local')], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

/** The image's ENTRYPOINT, run locally: no init process (tini), `/app` is the repository, node is this node. */
async function localEntrypoint(): Promise<string[]> {
  const line = (await readFile(join(ROOT, 'Dockerfile'), 'utf8')).split('\n').find((l) => l.startsWith('ENTRYPOINT '))!;
  const argv = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  const afterInit = argv[0]!.endsWith('/tini') ? argv.slice(argv.indexOf('--') + 1) : argv;
  return afterInit.map((a) => (a === 'node' ? process.execPath : a.replace(/^\/app\//, `${ROOT}/`)));
}

/** A container's env as the kubelet would set it: literals, fieldRef metadata.name / namespace, Secret keys (base64-decoded). */
function containerEnv(container: any, objs: K8sObject[], podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  const namespace = (objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'gemflow-worker')!.metadata as { namespace?: string }).namespace ?? 'default';
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
    else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name === name);
      env[e.name] = Buffer.from(secret!.data![key]!, 'base64').toString('utf8');
    } else throw new Error(`env ${e.name}: unsupported source ${JSON.stringify(e.valueFrom)}`);
  }
  return env;
}

const hostPort = (url: string) => new URL(url).host;

describe('the worker run from the rendered local overlay', () => {
  const children: ChildProcess[] = [];
  let minio: Minio | undefined;
  let redis: RedisServer | undefined;
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await minio?.stop();
    await redis?.stop();
  });

  it('two replicas in one group: every document once in the bucket or in dead letters, SIGTERM to one loses nothing', { timeout: 240_000 }, async () => {
    const objs = render();
    const deployment = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'gemflow-worker')!;
    const pod = deployment.spec.template.spec;
    const worker = pod.containers.find((c: any) => c.name === 'gemflow');
    const sidecar = pod.initContainers.find((c: any) => c.name === 'simulator' && c.restartPolicy === 'Always');
    const pipelineVolume = pod.volumes.find((v: any) => v.name === worker.volumeMounts.find((m: any) => m.mountPath === '/etc/gemflow').name);
    const pipelineMap = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === pipelineVolume.configMap.name)!;
    const topicMap = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('gemflow-topic'))!;
    const topic = topicMap.data!.TOPIC!;
    const partitions = Number(topicMap.data!.PARTITIONS);
    const pipelineText = pipelineMap.data!['pipeline.yaml']!;
    expect(worker.command).toBeUndefined(); // the image's ENTRYPOINT runs the args
    const entrypoint = await localEntrypoint();

    // The services the overlay names: Kafka (global setup), MinIO with the overlay's Secret as root credentials.
    const brokers = inject('kafkaBrokers');
    const s3Env = containerEnv(worker, objs, 'probe');
    minio = await startMinio({ user: s3Env.AWS_ACCESS_KEY_ID, password: s3Env.AWS_SECRET_ACCESS_KEY });
    const bucket = /dir: s3:\/\/([^/\s]+)/.exec(pipelineText)![1]!;
    await minio.createBucket(bucket); // what the minio-create-bucket Job does
    await produceWithCli(brokers, topic, partitions); // what the kafka topic Job and a user's `gemflow produce` do
    const bad = [{ key: 'bad-json', value: '{"id": "bad-json", "text": ' }, { key: 'no-text', value: '{"id": "no-text", "text": ""}' }];
    await sendMessages(brokers, topic, bad);

    // The shared state store the overlay runs (redis.yaml): a real Redis.
    redis = await startRedis();
    const stateUrl = /url: (redis:\/\/\S+)/.exec(pipelineText)![1]!;

    // Substitutions: hosts/ports and mount paths, nothing else.
    const [kafkaHost] = /brokers: \["([^"]+)"\]/.exec(pipelineText)!.slice(1);
    const simulatorUrl = /url: (http:\/\/127\.0\.0\.1:\d+)/.exec(pipelineText)![1]!;
    const { stdout: portsOut } = await exec(process.execPath, [join(ROOT, 'scripts/kafka/free-ports.mjs'), '2']);
    const simPorts = portsOut.trim().split(' ');
    const replicas = await Promise.all(
      [0, 1].map(async (i) => {
        const dir = await tempDir(`worker-${i}`);
        const mounts = Object.fromEntries(worker.volumeMounts.map((m: any) => [m.mountPath, join(dir, m.name)])) as Record<string, string>;
        for (const d of Object.values(mounts)) await mkdir(d, { recursive: true });
        const pipeline = pipelineText
          .replaceAll(kafkaHost!, brokers.join('","'))
          .replaceAll(hostPort(simulatorUrl), `127.0.0.1:${simPorts[i]}`)
          .replaceAll(stateUrl, redis!.url)
          .replace(/^( {2}port:) 9464$/m, '$1 0')
          .replace(/^stateDir: \/var\/lib\/gemflow\//m, `stateDir: ${mounts['/var/lib/gemflow']}/`);
        await writeFile(join(mounts['/etc/gemflow']!, 'pipeline.yaml'), pipeline);
        const podName = `gemflow-worker-${i}`;
        const env = {
          ...containerEnv(worker, objs, podName),
          AWS_ENDPOINT_URL_S3: minio!.endpoint, // was http://minio:9000
          HOME: mounts['/var/lib/gemflow']!, // the image's ENV, at the mount
          TMPDIR: mounts['/tmp']!,
          NODE_ENV: 'production',
        };
        const args = worker.args.map((a: string) => a.replace(/^\/etc\/gemflow\//, `${mounts['/etc/gemflow']}/`));
        const simArgs = sidecar.args.map((a: string) => (a === '8000' ? simPorts[i] : a));
        return { dir, mounts, env, args, simArgs, podName };
      }),
    );

    const spawnEntry = (args: string[], env: Record<string, string>) => {
      const child = spawn(entrypoint[0]!, [...entrypoint.slice(1), ...args], { env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      child.stdout!.resume();
      return child;
    };
    for (const r of replicas) {
      const sim = spawnEntry(r.simArgs, { HOME: r.mounts['/var/lib/gemflow']!, TMPDIR: r.mounts['/tmp']! });
      const simLog = liveStderr(sim);
      await waitFor(`simulator of ${r.podName}`, async () => (await fetch(`http://127.0.0.1:${r.simArgs[r.simArgs.indexOf('--port') + 1]}/health`).then((x) => x.ok).catch(() => false)) || sim.exitCode !== null, 30_000, 100);
      expect(sim.exitCode, simLog()).toBeNull();
    }
    const runs = replicas.map((r) => {
      const child = spawnEntry(r.args, r.env);
      const stderr = liveStderr(child);
      const done = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
      return { child, stderr, done };
    });

    // Both replicas consuming, then SIGTERM to the first while its work is in flight.
    const groupId = /groupId: (\S+)/.exec(pipelineText)![1]!;
    await waitFor('both replicas assigned', async () => (await assignedMembers(brokers, groupId)) === 2, 90_000, 300);
    expect(await caughtUp(brokers, groupId, topic)).toBe(false); // mid-run
    runs[0]!.child.kill('SIGTERM');
    expect(await runs[0]!.done, runs[0]!.stderr()).toBe(0);
    await waitFor(`group ${groupId} caught up`, () => caughtUp(brokers, groupId, topic), 150_000, 500);
    runs[1]!.child.kill('SIGTERM');
    expect(await runs[1]!.done, runs[1]!.stderr()).toBe(0);

    // Shards in the bucket, read back by DuckDB from downloaded copies.
    const docs: OutputDocs = { origins: new Map(), rows: 0, repeatedTrajectories: [] };
    const seen = new Set<string>();
    const db = await duck();
    try {
      for (const key of (await minio.keys(bucket)).filter((k) => k.endsWith('.parquet'))) {
        const local = join(replicas[0]!.dir, key.replaceAll('/', '_'));
        await writeFile(local, await minio.getBytes(bucket, key));
        for (const r of await db.all(`SELECT document_id, trajectory_id, origin FROM read_parquet(${sqlString(local)})`)) {
          const id = String(r.document_id);
          docs.origins.set(id, (docs.origins.get(id) ?? new Set()).add(String(r.origin)));
          if (seen.has(String(r.trajectory_id))) docs.repeatedTrajectories.push(String(r.trajectory_id));
          seen.add(String(r.trajectory_id));
          docs.rows++;
        }
      }
    } finally {
      db.close();
    }
    // Dedupe state is shared through the overlay's Redis: a planted duplicate pair is written once even
    // when its two copies went to different replicas.
    expect(exactlyOnceProblems(docs, await referenceDocIds())).toEqual([]);

    // Dead letters (no dead-letter topic in the overlay: each replica's file in its state volume).
    const deadLetters: Array<{ origin: { partition: string; offset: number }; raw: string }> = [];
    for (const r of replicas) {
      const text = await readFile(join(r.mounts['/var/lib/gemflow']!, 'state/dead-letters.jsonl'), 'utf8').catch(() => '');
      deadLetters.push(...text.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    }
    // Every bad record is dead-lettered, nothing else is. Dead letters are at-least-once: a record whose
    // offset was not yet committed when its partition moved is dead-lettered again by the new owner
    // (the shards, by contrast, skip what writtenDocs() reports), so repeats are not counted here.
    const dlIds = new Set(deadLetters.map((d) => bad.find((b) => b.value === d.raw)?.key ?? `unexpected: ${d.raw}`));
    expect([...dlIds].sort()).toEqual(bad.map((b) => b.key).sort());
  });
});
