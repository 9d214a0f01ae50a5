import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startBroker } from '../src/kafka/broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the run's Kafka broker; tests read it with inject('kafkaBrokers'). */
    kafkaBrokers: string[];
  }
}

const ROOT = resolve(import.meta.dirname, '..');

/**
 * Time budget for fetching / building what the suite needs (scripts/deps.sh fetch). vitest applies no
 * timeout to a globalSetup (its hookTimeout is for beforeAll/afterAll in test files), so this is the one
 * limit: a cold machine builds MinIO, kustomize and kubeconform from the Go module proxy and fetches the
 * Kafka jars from Maven Central, measured at about 4.5 minutes in all on the project's 2-core machine
 * (MinIO 215 s, Kafka jars 12 s, k8s tools + schemas 24 s); a cached one takes a few milliseconds.
 * 20 minutes leaves room for a slow network or a loaded machine. Override with GEMFLOW_DEPS_TIMEOUT_S.
 */
const DEPS_TIMEOUT_S = Number(process.env.GEMFLOW_DEPS_TIMEOUT_S ?? 1200);

/**
 * Fetches (once; cached under .cache/ and scripts/kafka/lib) the external programs the suite runs:
 * the Kafka broker jars, the MinIO server, kustomize + kubeconform and the Kubernetes schemas, the Python
 * venv, the BFCL data, Redis and the published chat templates. Progress
 * goes to this process's stderr. A missing tool is an error here, never a skipped test.
 */
async function fetchDeps(items: string[]): Promise<void> {
  const started = Date.now();
  const child = spawn('bash', [resolve(ROOT, 'scripts/deps.sh'), 'fetch', ...items], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  // Its own process group, so a timeout (or vitest exiting, e.g. on Ctrl-C) stops the go / mvn / pip it runs too.
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {}
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, DEPS_TIMEOUT_S * 1000);
  process.on('exit', killGroup);
  const status = await new Promise<number | string | null>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => res(code ?? signal));
  }).finally(() => {
    clearTimeout(timer);
    process.off('exit', killGroup);
  });
  if (timedOut) {
    throw new Error(
      `test setup: fetching ${items.join(', ')} took longer than GEMFLOW_DEPS_TIMEOUT_S=${DEPS_TIMEOUT_S}s and was stopped ` +
        `(progress above). Run \`bash scripts/deps.sh fetch\` on its own to finish it, or raise the limit.`,
    );
  }
  if (status !== 0) {
    throw new Error(`test setup: \`scripts/deps.sh fetch ${items.join(' ')}\` failed (${status}) after ${Math.round((Date.now() - started) / 1000)}s; its output above says what is missing or unreachable`);
  }
}

/**
 * vitest globalSetup: first the external programs the suite needs (scripts/deps.sh), then one
 * single-node Kafka broker (scripts/kafka/kafka.sh) for the whole run, stopped at teardown.
 * GEMFLOW_KAFKA_BROKERS=host:port[,...] uses an existing cluster instead (the Kafka jars are not fetched).
 * Tests must create their own uniquely named topics (auto-creation is off).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.GEMFLOW_KAFKA_BROKERS?.trim();
  await fetchDeps(external ? ['minio', 'k8s', 'python', 'bfcl', 'redis', 'templates'] : ['kafka', 'minio', 'k8s', 'python', 'bfcl', 'redis', 'templates']);
  if (external) {
    project.provide('kafkaBrokers', external.split(','));
    return async () => {};
  }
  const broker = await startBroker({ nodes: 1 });
  project.provide('kafkaBrokers', broker.bootstrap);
  return () => broker.stop();
}
