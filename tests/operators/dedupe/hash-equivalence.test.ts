import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { trajectoryHash } from '../../../operators/dedupe/trajectory-dedupe.js';
import { canonicalJson } from '../../../operators/validate/canonical-json.js';
import { synthesizeAnswer } from '../../../src/simulator/content/synthesize-answer.js';
import type { Trajectory } from '../../../src/trajectory.js';

/**
 * The content hash of a trajectory is stored in the dedupe state (SQLite or Redis) and compared with
 * later runs' hashes, so the faster canonicalJson and trajectoryHash must give exactly the strings and
 * hashes the first versions gave. These are those first versions, kept here as the oracle.
 */
function oldCanonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return '[' + value.map(oldCanonicalJson).join(',') + ']';
      let s = '{';
      for (const key of Object.keys(value).sort()) {
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
        if (s.length > 1) s += ',';
        s += JSON.stringify(key) + ':' + oldCanonicalJson(v);
      }
      return s + '}';
    }
    default:
      return 'null';
  }
}

const oldNormalize = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');

function oldTrajectoryHash(t: Trajectory): string {
  const normalized = {
    tools: [...t.tools]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((tool) => [tool.name, oldNormalize(tool.description), tool.parameters]),
    messages: t.messages.map((m) => [m.role, oldNormalize(m.content), (m.toolCalls ?? []).map((c) => [c.name, c.arguments])]),
  };
  return createHash('sha256').update(oldCanonicalJson(normalized)).digest('hex');
}

/** The simulator's trajectories for the sample corpus, plus copies with awkward white space and case. */
function corpus(): Trajectory[] {
  const docs = readFileSync(new URL('../../../examples/corpus.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { text: string }).text);
  const base = docs.flatMap((text, i) => synthesizeAnswer(text, 4, `hash-${i}`).items.map((item) => item.trajectory));
  const spaces = [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u2003', '\u3000', '\ufeff', ' \n '];
  const variants = base.map((t, k) => {
    const v = structuredClone(t);
    v.messages.forEach((m, i) => {
      const sp = spaces[(k + i) % spaces.length]!;
      m.content = `${sp}${m.content.replace(/ /g, sp).toUpperCase()}${sp}`;
    });
    for (const tool of v.tools) tool.description = ` ${tool.description}\u00a0 `;
    return v;
  });
  return [...base, ...variants];
}

describe('canonicalJson and trajectoryHash give what their first versions gave', () => {
  const ts = corpus();

  it('the same hash for every trajectory of the corpus and its white-space variants', () => {
    expect(ts.length).toBeGreaterThan(40);
    const hashes = ts.map(trajectoryHash);
    expect(hashes).toEqual(ts.map(oldTrajectoryHash));
    // White space and case are normalised away: each variant hashes like its original.
    expect(hashes.slice(ts.length / 2)).toEqual(hashes.slice(0, ts.length / 2));
  });

  it('the same canonical JSON for awkward values: integer-like, non-ASCII and many keys, skipped members, non-finite numbers', () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${(i * 17) % 40}`, i]));
    const values: unknown[] = [
      { 10: 'a', 2: 'b', '-1': 'c', '01': 'd', b: 1, a: 2 },
      { é: 1, e: 2, E: 3, '😀': 4, 'ｚ': 5, '': 6, ' ': 7 },
      many,
      { z: undefined, y: () => 1, x: Symbol('s'), w: [undefined, () => 1, Number.NaN, Infinity, -0, 1e21, 1e-7] },
      { nested: [{ b: { d: 1, c: [{ f: 1, e: 2 }] }, a: null }], t: true, f: false, s: 'q"\\\n\u0001\u2028' },
      ...ts.flatMap((t) => [t, t.tools, t.messages]),
    ];
    for (const v of values) expect(canonicalJson(v)).toBe(oldCanonicalJson(v));
  });
});
