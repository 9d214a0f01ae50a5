import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seedFor, trajectoryId } from '../../src/steps/ids.js';

/** The ids as they were computed with createHash (the oracle of the one-shot crypto.hash versions). */
const referenceTextSha = (text: string) => createHash('sha256').update(text).digest('hex');
const referenceTrajectoryId = (doc: { id: string; text: string }, index: number, producer: string) =>
  createHash('sha256').update(`${doc.id}\u0000${referenceTextSha(doc.text)}\u0000${index}\u0000${producer}`).digest('hex').slice(0, 24);
const referenceSeed = (docId: string, stepId: string, key: string) => createHash('sha256').update(`${docId}\u0000${stepId}\u0000${key}`).digest().readUInt32BE(0) >>> 1;

describe('ids (one-shot SHA-256)', () => {
  it('trajectoryId and seedFor give the same values as with createHash, for ASCII and non-ASCII input', () => {
    const texts = ['', 'plain text', 'Crème brûlée — 日本語 😀', 'x'.repeat(100_000), 'line\nbreaks\u0000and nul'];
    const seeds = new Set<number>();
    for (const [i, text] of texts.entries()) {
      const doc = { id: `doc-${i}-é`, text };
      for (const index of [0, 1, 17]) {
        for (const producer of ['ground', 'synthesize', 'ünïcode']) {
          expect(trajectoryId(doc, index, producer)).toBe(referenceTrajectoryId(doc, index, producer));
          const seed = seedFor(doc.id, producer, String(index));
          expect(seed).toBe(referenceSeed(doc.id, producer, String(index)));
          expect(seed).toBeGreaterThanOrEqual(0);
          expect(seed).toBeLessThan(2 ** 31);
          seeds.add(seed);
        }
      }
    }
    expect(seeds.size).toBe(texts.length * 3 * 3);
  });
});
