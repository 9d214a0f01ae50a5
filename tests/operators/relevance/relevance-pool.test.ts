import { afterEach, describe, expect, it } from 'vitest';
import { RelevancePool } from '../../../operators/relevance/relevance-pool.js';
import { scoreText } from '../../../operators/relevance/score.js';
import { NON_PROCEDURAL, PROCEDURAL } from './fixtures.js';

// The pooled variant loads dist/operators/relevance/relevance.worker.js: run `npm run build` first.

const samples = [...Object.values(PROCEDURAL), ...Object.values(NON_PROCEDURAL)];
/** 70 texts, each one distinct (the index is appended) so an ordering mistake shows. */
const texts = Array.from({ length: 70 }, (_, i) => `${samples[i % samples.length]}\n${'x'.repeat(i)}`);

describe('RelevancePool', () => {
  let pool: RelevancePool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it.each([0, 2])('with %i threads returns the inline results, in order', async (threads) => {
    pool = new RelevancePool({ threads });
    await pool.start();
    const expected = texts.map(scoreText);
    // Several batches in flight at once, as the runtime does.
    const batches = [texts.slice(0, 16), texts.slice(16, 17), texts.slice(17, 64), texts.slice(64)];
    const results = await Promise.all(batches.map((b) => pool!.score(b)));
    expect(results.flat()).toEqual(expected);
    expect(await pool.score([])).toEqual([]);
  });

  it('refuses to score before start() and after close()', async () => {
    pool = new RelevancePool({ threads: 1 });
    await expect(pool.score(['a'])).rejects.toMatchObject({ code: 'relevance_pool_not_started' });
    await pool.start();
    await pool.close();
    await expect(pool.score(['a'])).rejects.toMatchObject({ code: 'relevance_pool_closed' });
  });

  it('rejects a batch whose signal is already aborted', async () => {
    pool = new RelevancePool({ threads: 1 });
    await pool.start();
    await expect(pool.score(['a'], AbortSignal.abort())).rejects.toThrow();
  });

  it('rejects a negative thread count', () => {
    expect(() => new RelevancePool({ threads: -1 })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
  });
});
