import { createHash } from 'node:crypto';
import { memoryIndex } from '../../src/store/sqlite-state.js';
import type { Claim, Fingerprint, FingerprintIndex } from '../../src/store/state-store.js';
import type { Trajectory } from '../../src/trajectory.js';
import { JsonBytes } from './json-bytes.js';
import { bandKeys, MinHash } from './minhash.js';

export type DedupeResult = Claim;

export interface TrajectoryDedupeOptions {
  /** The step's index in the run's state store (SQLite or shared Redis). Default: in memory. */
  index?: FingerprintIndex;
  /** MinHash near duplicates of the user + assistant text, on top of the exact hash. Default true. */
  nearDuplicate?: boolean;
  /** Estimated Jaccard similarity (5-word shingles) at or above which it is a near duplicate. Default 0.85. */
  threshold?: number;
}

const BANDS = 16;

/**
 * Duplicate trajectories:
 * - exact: a content hash of the normalised dialogue: roles, content trimmed, lower-cased and with
 *   whitespace runs collapsed, tool calls as name + arguments in canonical key order (call ids left
 *   out: they are arbitrary), and the tool definitions sorted by name. Patterns and ids are not content.
 * - near: MinHash (128 permutations, 5-word shingles, 16 LSH bands) of the user and assistant text,
 *   the conversation a model learns from (tool replies and definitions left out).
 *
 * The first trajectory id to claim a hash owns it; checking that same id again (a replay) is not a
 * duplicate. Claims are atomic in the index, also across workers sharing a Redis store.
 */
export class TrajectoryDedupe {
  private readonly index: FingerprintIndex;
  private readonly minhash: MinHash | undefined;

  constructor(opts: TrajectoryDedupeOptions = {}) {
    this.index = opts.index ?? memoryIndex({ threshold: opts.threshold ?? 0.85 });
    if (opts.nearDuplicate ?? true) this.minhash = new MinHash({ numPerm: 128, shingleSize: 5 });
  }

  fingerprint(trajectoryId: string, t: Trajectory): Fingerprint {
    const f: Fingerprint = { exact: trajectoryHash(t), owner: trajectoryId, id: trajectoryId };
    if (this.minhash !== undefined) {
      f.sig = this.minhash.signatureOfParts(dialogueParts(t));
      f.bands = bandKeys(f.sig, BANDS);
    }
    return f;
  }

  claim(batch: readonly Fingerprint[]): Promise<Claim[]> {
    return this.index.claim(batch);
  }

  async check(trajectoryId: string, t: Trajectory): Promise<DedupeResult> {
    return (await this.index.claim([this.fingerprint(trajectoryId, t)]))[0]!;
  }
}

/** The user and assistant turns' contents, in order: MinHash reads them as one text, line-break separated. */
export function dialogueParts(t: Trajectory): string[] {
  const parts: string[] = [];
  for (const m of t.messages) if (m.role === 'user' || m.role === 'assistant') parts.push(m.content);
  return parts;
}

/** The buffer trajectoryHash writes into (synchronous use only, so one is enough). */
const json = new JsonBytes();

/**
 * sha256 (hex) of the normalised dialogue described on TrajectoryDedupe: of the UTF-8 of
 * canonicalJson({messages: [[role, text, [[name, arguments]...]]...], tools: [[name, description,
 * parameters]...]}), written as bytes without making the string (json-bytes.ts).
 */
export function trajectoryHash(t: Trajectory): string {
  json.reset().ascii('{"messages":[');
  const messages = t.messages;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (i > 0) json.ascii(',');
    json.ascii('[').string(m.role).ascii(',');
    if (!json.normalizedAscii(m.content)) json.string(normalizeText(m.content));
    json.ascii(',[');
    const calls = m.toolCalls ?? [];
    for (let j = 0; j < calls.length; j++) {
      if (j > 0) json.ascii(',');
      json.ascii('[').string(calls[j]!.name).ascii(',').value(calls[j]!.arguments).ascii(']');
    }
    json.ascii(']]');
  }
  json.ascii('],"tools":[');
  const tools = [...t.tools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i]!;
    if (i > 0) json.ascii(',');
    json.ascii('[').string(tool.name).ascii(',');
    if (!json.normalizedAscii(tool.description)) json.string(normalizeText(tool.description));
    json.ascii(',').value(tool.parameters).ascii(']');
  }
  json.ascii(']}');
  return createHash('sha256').update(json.bytes()).digest('hex');
}

/** Whitespace the replace below would change: a run of two, or any white space but a plain space. */
const UNNORMAL_SPACE = /\s\s|[^\S ]/;

function normalizeText(s: string): string {
  const t = s.trim().toLowerCase();
  return UNNORMAL_SPACE.test(t) ? t.replace(/\s+/g, ' ') : t;
}
