import { createHash } from 'node:crypto';
import type { Trajectory } from '../../src/trajectory.js';
import { canonicalJson } from '../validate/canonical-json.js';

/** Where seen hashes persist across runs (the project's KvStore has this shape). */
export interface DedupeStore {
  get(key: string): string | undefined;
  put(key: string, value: string): void;
}

export type DedupeResult = { duplicate: false } | { duplicate: true; of: string };

/**
 * Exact duplicate detection of trajectories by a content hash of the normalised dialogue: roles,
 * content trimmed, lower-cased and with whitespace runs collapsed, tool calls as name + arguments in
 * canonical key order (call ids left out: they are arbitrary), and the tool definitions sorted by
 * name. Patterns and ids are not content.
 *
 * The first trajectory id to claim a hash owns it; checking that same id again (a replay) is not a
 * duplicate. Without a store the hashes live in memory for the life of the object.
 */
export class TrajectoryDedupe {
  private readonly store: DedupeStore;
  private readonly keyPrefix: string;

  constructor(opts: { store?: DedupeStore; keyPrefix?: string } = {}) {
    this.store = opts.store ?? mapStore();
    this.keyPrefix = opts.keyPrefix ?? 'trajectory-dedupe:';
  }

  check(trajectoryId: string, t: Trajectory): DedupeResult {
    const key = this.keyPrefix + trajectoryHash(t);
    const owner = this.store.get(key);
    if (owner === undefined) {
      this.store.put(key, trajectoryId);
      return { duplicate: false };
    }
    return owner === trajectoryId ? { duplicate: false } : { duplicate: true, of: owner };
  }
}

/** sha256 (hex) of the normalised dialogue described on TrajectoryDedupe. */
export function trajectoryHash(t: Trajectory): string {
  const normalized = {
    tools: [...t.tools]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((tool) => [tool.name, normalizeText(tool.description), tool.parameters]),
    messages: t.messages.map((m) => [
      m.role,
      normalizeText(m.content),
      (m.toolCalls ?? []).map((c) => [c.name, c.arguments]),
    ]),
  };
  return createHash('sha256').update(canonicalJson(normalized)).digest('hex');
}

function normalizeText(s: string): string {
  return s.trim().toLowerCase().replace(/\s+/g, ' ');
}

function mapStore(): DedupeStore {
  const map = new Map<string, string>();
  return { get: (k) => map.get(k), put: (k, v) => void map.set(k, v) };
}
