/**
 * Every overlay in deploy/overlays renders with kustomize and validates offline, strictly (unknown
 * fields fail): Kubernetes kinds against the Kubernetes JSON schemas, KEDA / Prometheus custom resources
 * against deploy/crds. This is scripts/k8s/check.sh, one overlay per test; its tools and schemas are
 * cached in .cache/k8s by the vitest global setup (scripts/deps.sh).
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const overlays = readdirSync(join(root, 'deploy/overlays'));

describe('kubeconform (scripts/k8s/check.sh)', () => {
  it.each(overlays)('overlay %s renders and every object validates strictly', async (overlay) => {
    const result = await run('bash', [join(root, 'scripts/k8s/check.sh'), overlay], { cwd: root, maxBuffer: 16 * 1024 * 1024 }).then(
      ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
    );
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/Summary: \d+ resources found .* - Valid: \d+, Invalid: 0, Errors: 0, Skipped: 0/);
  });
});
