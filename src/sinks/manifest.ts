import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GemflowError, errorMessage } from '../errors.js';
import { writeFileDurable } from './durable-file.js';
import type { ShardInfo } from './types.js';

export const MANIFEST_FILE_NAME = 'manifest.json';

export type Tally = Record<string, number>;

/** The run's funnel: how every document and trajectory left (same shape as the runtime's snapshot). */
export interface ManifestFunnel {
  documents: {
    received: number;
    written: number;
    dropped: Tally;
    rejected: Tally;
    deadLettered: Tally;
    abandoned?: number;
    inFlight?: number;
    bytes?: number;
  };
  trajectories: {
    generated: number;
    written: number;
    rejected: Tally;
    dropped: Tally;
    failed?: Tally;
  };
  balanced?: boolean;
}

/** LLM usage of one stage. */
export interface StageTokens {
  promptTokens: number;
  completionTokens: number;
  calls?: number;
  cachedCalls?: number;
  errors?: Tally;
}

/** `<dir>/manifest.json`: what a run did, written last, after every shard is durable. */
export interface RunManifest {
  version: 1;
  /** ISO 8601 */
  startedAt: string;
  finishedAt: string;
  /** The pipeline config; secret values are redacted again by writeManifest. */
  config: Record<string, unknown>;
  funnel: ManifestFunnel;
  /** stage id -> usage */
  tokens: Record<string, StageTokens>;
  shards: ShardInfo[];
  /** Per-field summary of the trajectory statistics (operators/stats decides the shape). */
  statsSummary: Record<string, unknown>;
  /** Per-stage metrics (received / sent / dropped / errors / timings). */
  stages?: Record<string, unknown>;
  cache?: { hits: number; misses: number };
  /** Why the run stopped early, when it did. */
  fatal?: { code: string; message: string };
  /** True when the bundled vLLM simulator produced the outputs. */
  simulated: boolean;
}

const SECRET_KEY = /(password|passphrase|api[-_]?key|secret|token|credentials?)$|^key$/i;

/**
 * A deep copy of a config with secrets replaced by "[redacted]": string values under keys such as
 * apiKey, password, secret, token (and ssl's private `key`), and the password of URLs with userinfo.
 */
export function redactSecrets(v: unknown, key = ''): unknown {
  if (typeof v === 'string') return SECRET_KEY.test(key) ? '[redacted]' : v.replace(/(\/\/[^/@:\s]*):[^/@\s]*@/g, '$1:[redacted]@');
  if (Array.isArray(v)) return v.map((x) => redactSecrets(x, key));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactSecrets(x, k)]));
  return v;
}

/** Write `<dir>/manifest.json` atomically (tmp + fsync + rename + fsync dir); returns its path. */
export async function writeManifest(dir: string, manifest: RunManifest): Promise<string> {
  const path = join(dir, MANIFEST_FILE_NAME);
  const safe: RunManifest = { ...manifest, config: redactSecrets(manifest.config) as Record<string, unknown> };
  await writeFileDurable(path, JSON.stringify(safe, null, 2) + '\n');
  return path;
}

/** Read `<dir>/manifest.json`; null when there is none, `manifest_invalid` when it is not a manifest. */
export async function readManifest(dir: string): Promise<RunManifest | null> {
  const path = join(dir, MANIFEST_FILE_NAME);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new GemflowError('manifest_invalid', `${path} is not JSON: ${errorMessage(e)}`, { cause: e });
  }
  const o = m as Partial<RunManifest> | null;
  if (o?.version !== 1 || typeof o.funnel !== 'object' || !Array.isArray(o.shards)) {
    throw new GemflowError('manifest_invalid', `${path} is not a version 1 run manifest`);
  }
  return o as RunManifest;
}
