/**
 * SLOW (about 1-2 minutes on an idle 2-core machine, 5+ under `npm run test:stress`: `npm ci` compiles
 * better-sqlite3 from source). No container daemon runs
 * here, so this replays the Dockerfile's deps and runtime stages in a clean temp folder instead of
 * building the image:
 *   deps:    package.json + package-lock.json, `npm ci --omit=dev --ignore-scripts=false`
 *   runtime: + dist (from `npm run build`, the build stage), bin, examples; then
 *            the Dockerfile's ENTRYPOINT (node, its flags, bin/gemflow.js) runs as a non-root user (uid 65534 through setpriv) that can write
 *            only HOME and TMPDIR (the emptyDirs of the manifests): the app folder stays root-owned,
 *            as under readOnlyRootFilesystem.
 * Then the entrypoint's `--help`, and a short run of a tiny corpus through the bundled simulator.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const NOBODY = 65534;
/**
 * Time budget of the deps stage's `npm ci`: measured at about 1 minute on an idle 2-core machine and
 * over 5 minutes beside the suite's other files and two CPU burners (`npm run test:stress`).
 */
const NPM_CI_TIMEOUT_MS = 840_000;
/** npm ci still running (its process group), stopped by afterAll if the hook gave up on it. */
let installing: number | undefined;

/**
 * Runs a command in its own process group and, past `timeoutMs`, kills the whole group: a timed-out
 * `npm ci` must not leave node-gyp's compilers running (execFile's timeout kills only npm, and then
 * waits for the compilers, which hold its pipes, to finish).
 */
function runGroup(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number }): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    installing = child.pid;
    let out = '';
    const keep = (b: Buffer) => (out = (out + b.toString('utf8')).slice(-8000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const started = Date.now();
    const timer = setTimeout(() => killGroup(child.pid), opts.timeoutMs);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      installing = undefined;
      const took = `${Math.round((Date.now() - started) / 1000)}s`;
      if (code === 0) res();
      else rej(new Error(`${cmd} ${args.join(' ')}: ${signal ? `killed (${signal}) after ${took}, budget ${opts.timeoutMs / 1000}s` : `exit ${code} after ${took}`}\n${out}`));
    });
  });
}

function killGroup(pid: number | undefined): void {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {}
}
let dir = '';
let app = '';

/**
 * The Dockerfile's ENTRYPOINT after tini (`node`, its flags, /app/bin/gemflow.js), with /app the
 * replayed app folder.
 */
async function entrypointArgv(): Promise<string[]> {
  const line = (await readFile(join(root, 'Dockerfile'), 'utf8')).split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  const argv = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
  return argv.slice(argv.indexOf('--') + 1).map((a) => (a.startsWith('/app/') ? join(app, a.slice('/app/'.length)) : a));
}

/** Runs the image's entrypoint as the unprivileged user, with only HOME and TMPDIR writable. */
async function entrypoint(args: string[]) {
  return run('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', ...(await entrypointArgv()), ...args], {
    cwd: join(dir, 'home'),
    env: { PATH: process.env.PATH, NODE_ENV: 'production', HOME: join(dir, 'home'), TMPDIR: join(dir, 'tmp') },
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}

describe('image replay (SLOW: 1-5+ min, compiles better-sqlite3)', () => {
  beforeAll(async () => {
    if (!existsSync(join(root, 'dist/src/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    dir = await mkdtemp(join(tmpdir(), 'gemflow-image-'));
    await chmod(dir, 0o755);
    app = join(dir, 'app');
    await mkdir(app);
    // deps stage
    for (const f of ['package.json', 'package-lock.json']) await cp(join(root, f), join(app, f));
    await runGroup('npm', ['ci', '--omit=dev', '--ignore-scripts=false', '--no-audit', '--no-fund'], { cwd: app, timeoutMs: NPM_CI_TIMEOUT_MS });
    // runtime stage
    for (const d of ['dist', 'bin', 'examples', 'operators/relevance/models']) await cp(join(root, d), join(app, d), { recursive: true });
    for (const d of ['home', 'tmp']) {
      await mkdir(join(dir, d));
      await chown(join(dir, d), NOBODY, NOBODY);
    }
  }, NPM_CI_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    killGroup(installing);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs production dependencies only', async () => {
    const installed = new Set(await readdir(join(app, 'node_modules')));
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) expect(installed.has(dep.split('/')[0]!), dep).toBe(true);
    for (const dep of Object.keys(pkg.devDependencies)) expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(false);
  });

  it("answers the entrypoint's --help as a non-root user", async () => {
    const { stdout } = await entrypoint(['--help']);
    expect(stdout).toContain('Usage:');
    expect(stdout).toContain('gemflow run');
  });

  it('runs a tiny corpus through the bundled simulator, writing only under HOME and TMPDIR', async () => {
    const home = join(dir, 'home');
    const corpus = (await readFile(join(root, 'examples/corpus.jsonl'), 'utf8')).split('\n').filter(Boolean).slice(0, 4);
    const config = [
      'source:',
      '  type: files',
      `  paths: [${JSON.stringify(join(home, 'corpus.jsonl'))}]`,
      'relevance:',
      '  threads: 1',
      'llm:',
      '  simulator:',
      '    timeScale: 0.001',
      'sink:',
      `  dir: ${JSON.stringify(join(home, 'out'))}`,
      `stateDir: ${JSON.stringify(join(home, 'state'))}`,
    ].join('\n');
    // Written as the unprivileged user would find them: in its own (writable) HOME.
    await writeFile(join(home, 'corpus.jsonl'), corpus.join('\n') + '\n');
    await writeFile(join(home, 'pipeline.yaml'), config + '\n');
    for (const f of ['corpus.jsonl', 'pipeline.yaml']) await chown(join(home, f), NOBODY, NOBODY);

    const { stdout } = await entrypoint(['run', join(home, 'pipeline.yaml'), '--quiet']);
    expect(stdout).toMatch(/documents\s+received 4\b/);
    expect(stdout).toContain('books balance');
    expect(stdout).toContain('SIMULATED');
    const shards = (await readdir(join(home, 'out'), { recursive: true })).filter((f) => String(f).endsWith('.parquet'));
    expect(shards.length).toBeGreaterThan(0);
  });
});
