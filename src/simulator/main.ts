import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GemflowError, errorMessage } from '../errors.js';
import { isKvAllocation, KV_ALLOCATIONS } from './capacity-model.js';
import { FAULT_KINDS, type FaultKind } from './options.js';
import { startSimulatorCluster, type SimulatorStartOptions } from './simulator.js';

/**
 * Standalone entry of the bundled vLLM simulator (a test double):
 *
 *   node dist/src/simulator/main.js --port 8000 --replicas 2 --max-running-seqs 256 --fault-rate 0.2
 *
 * Prints one JSON line {"simulator": true, "model": ..., "urls": [...]} on stdout once listening and
 * runs until SIGTERM/SIGINT (or `signal` aborts). `gemflow simulate` calls runSimulatorCli.
 * Each replica takes runtime changes at `POST /_sim/config` (capacity, faults, invalid answers,
 * down/up: see SimulatorRuntimeConfig in options.ts); `GET /_sim/config` shows the current ones.
 */

const NUMBER_FLAGS = {
  port: 'port',
  'first-replica': 'replica',
  'max-running-seqs': 'maxRunningSeqs',
  'prefill-tokens-per-sec': 'prefillTokensPerSec',
  'decode-tokens-per-sec': 'decodeTokensPerSec',
  'max-decode-tokens-per-sec-per-seq': 'maxDecodeTokensPerSecPerSeq',
  'kv-cache-tokens': 'kvCacheTokens',
  'max-model-len': 'maxModelLen',
  'tick-ms': 'tickMs',
  'time-scale': 'timeScale',
  seed: 'seed',
  'judge-fail-rate': 'judgeFailRate',
  'invalid-answer-rate': 'invalidAnswerRate',
  'fault-rate': 'faultRate',
} as const;

export const SIMULATOR_USAGE = `gemflow simulate: run the bundled vLLM simulator (a test double: answers are rule-derived, no model runs)
  --port N                 first replica's port (0 = any free port; replicas use N, N+1, ...)   default 8000
  --replicas N             number of replicas                                                   default 1
  --first-replica N        index of the first replica (fault rolls and ids differ by index; for one
                           replica per process, as deployed: each vLLM replica is its own server)   default 0
  --model NAME             served model name                                                    default gemflow-sim-32b
  --max-running-seqs N  --prefill-tokens-per-sec N  --decode-tokens-per-sec N
  --max-decode-tokens-per-sec-per-seq N  --kv-cache-tokens N  --tick-ms N
  --kv-allocation reserve|incremental
                           how running requests hold KV cache: their whole prompt + completion from
                           admission (reserve, never preempted) or, as vLLM, prompt + tokens so far,
                           the newest preempted when the cache runs out (incremental)   default reserve
  --max-model-len N        context length: prompt + max_tokens beyond it get 400               default 32768
  --time-scale X           wall-clock seconds per simulated second                              default 1
  --seed N  --judge-fail-rate X
  --invalid-answer-rate X  share of first answers that fail the stage's checks (need a repair turn)   default 0
  --fault-rate X           total fault probability, spread over --fault-kinds
  --fault-kinds a,b        of ${FAULT_KINDS.join(', ')} (default all)
  --retry-after-sec N      Retry-After sent with 429
`;

export interface ParsedSimulatorArgs {
  replicas: number;
  options: SimulatorStartOptions;
}

/** Parses the flags above; throws GemflowError `invalid_arguments` naming the bad flag. */
export function parseSimulatorArgs(argv: string[]): ParsedSimulatorArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(Object.keys(NUMBER_FLAGS).map((k) => [k, { type: 'string' as const }])),
      replicas: { type: 'string' },
      model: { type: 'string' },
      'fault-kinds': { type: 'string' },
      'retry-after-sec': { type: 'string' },
      'kv-allocation': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const num = (flag: string, v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new GemflowError('invalid_arguments', `--${flag} needs a number, got "${v}"`);
    return n;
  };
  const options: SimulatorStartOptions = { port: 8000 };
  const opts = options as Record<string, unknown>;
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const v = (values as Record<string, string | undefined>)[flag];
    if (typeof v === 'string') opts[key] = num(flag, v);
  }
  if (values.model) options.model = values.model;
  const alloc = values['kv-allocation'];
  if (alloc !== undefined) {
    if (!isKvAllocation(alloc)) throw new GemflowError('invalid_arguments', `--kv-allocation: ${KV_ALLOCATIONS.join(' or ')}, got "${alloc}"`);
    options.kvAllocation = alloc;
  }
  const kinds = values['fault-kinds']?.split(',').map((k) => k.trim()) as FaultKind[] | undefined;
  const unknown = kinds?.filter((k) => !FAULT_KINDS.includes(k)) ?? [];
  if (unknown.length > 0) throw new GemflowError('invalid_arguments', `--fault-kinds: unknown ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);
  const retryAfter = values['retry-after-sec'];
  if (kinds || retryAfter !== undefined) {
    options.faults = { kinds, retryAfterSec: retryAfter === undefined ? undefined : num('retry-after-sec', retryAfter) };
  }
  const replicas = values.replicas === undefined ? 1 : num('replicas', values.replicas);
  if (!Number.isInteger(replicas) || replicas < 1) throw new GemflowError('invalid_arguments', `--replicas needs a whole number >= 1, got ${replicas}`);
  if (options.replica !== undefined && (!Number.isInteger(options.replica) || options.replica < 0)) {
    throw new GemflowError('invalid_arguments', `--first-replica needs a whole number >= 0, got ${options.replica}`);
  }
  return { replicas, options };
}

/**
 * Runs the simulator until SIGTERM/SIGINT or `signal`; resolves to the exit code (2 on bad flags).
 */
export async function runSimulatorCli(argv: string[], io: { out?: NodeJS.WritableStream; err?: NodeJS.WritableStream; signal?: AbortSignal } = {}): Promise<number> {
  const out = io.out ?? process.stdout;
  const err = io.err ?? process.stderr;
  let parsed: ParsedSimulatorArgs;
  try {
    parsed = parseSimulatorArgs(argv);
  } catch (e) {
    err.write(`${errorMessage(e)}\n\n${SIMULATOR_USAGE}`);
    return 2;
  }
  const handles = await startSimulatorCluster(parsed.replicas, parsed.options);
  out.write(`${JSON.stringify({ simulator: true, model: parsed.options.model ?? 'gemflow-sim-32b', urls: handles.map((h) => h.url) })}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop, { once: true });
  });
  await Promise.all(handles.map((h) => h.close()));
  return 0;
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  runSimulatorCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`simulator: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
}
