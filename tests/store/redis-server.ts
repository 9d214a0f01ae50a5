import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '../../scripts/redis/redis.sh');

/** A real Redis server on loopback (scripts/redis/redis.sh; installed by the global setup). */
export interface RedisServer {
  url: string;
  dir: string;
  /** SIGKILL (the append-only file keeps every acknowledged write). */
  kill(): Promise<void>;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'gemflow-redis-'));
  const start = async () => {
    const { stdout } = await run('bash', [SCRIPT, 'start', '--dir', dir]);
    return /URL=(\S+)/.exec(stdout)![1]!;
  };
  const url = await start();
  return {
    url,
    dir,
    kill: async () => void (await run('bash', [SCRIPT, 'kill', '--dir', dir])),
    restart: async () => void (await start()),
    stop: async () => {
      await run('bash', [SCRIPT, 'stop', '--dir', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
