import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GemflowError } from '../errors.js';

const run = promisify(execFile);

/** A local Kafka cluster started by scripts/kafka/kafka.sh (for tests, dev and CI). */
export interface LocalBroker {
  /** Bootstrap servers, e.g. ["127.0.0.1:40123"]. */
  bootstrap: string[];
  /** The cluster's directory: config, data and logs of every node. */
  dir: string;
  /** Stops every node; removes the directory when startBroker created it. */
  stop(): Promise<void>;
  /** Stops and starts every node on the same ports and data (a broker restart). */
  restart(): Promise<void>;
  /** SIGKILLs node i (1-based); restart() or another start brings it back. */
  killNode(i: number): Promise<void>;
}

export interface StartBrokerOptions {
  nodes?: 1 | 3;
  /** Cluster directory; a fresh temporary one (removed by stop()) when omitted. */
  dir?: string;
  signal?: AbortSignal;
}

/** Starts a KRaft cluster of 1 or 3 combined broker+controller nodes and waits until it serves metadata. */
export async function startBroker(opts: StartBrokerOptions = {}): Promise<LocalBroker> {
  const nodes = opts.nodes ?? 1;
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'gemflow-kafka-')));
  const script = kafkaScript();
  const sh = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run('bash', [script, ...args, '--dir', dir], { signal: opts.signal, maxBuffer: 1 << 20 });
      return stdout;
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr?.trim();
      throw new GemflowError('kafka_broker_script_failed', `kafka.sh ${args[0]} failed: ${stderr || String(e)}`, { cause: e });
    }
  };
  const start = async (): Promise<string[]> => {
    const match = /^BOOTSTRAP=(.+)$/m.exec(await sh('start', '--nodes', String(nodes)));
    if (!match) throw new GemflowError('kafka_broker_script_failed', 'kafka.sh start printed no BOOTSTRAP= line');
    return match[1]!.trim().split(',');
  };

  let bootstrap: string[];
  try {
    bootstrap = await start();
  } catch (e) {
    await sh('stop').catch(() => {}); // nodes that did come up
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    bootstrap,
    dir,
    async stop() {
      await sh('stop');
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await sh('stop');
      await start();
    },
    async killNode(i: number) {
      await sh('kill', '--node', String(i));
    },
  };
}

/** scripts/kafka/kafka.sh of this checkout, found from this module (src/ or dist/src/). */
function kafkaScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'scripts', 'kafka', 'kafka.sh');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new GemflowError('kafka_broker_script_missing', 'scripts/kafka/kafka.sh not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
