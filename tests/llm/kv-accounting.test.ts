import { afterEach, describe, expect, it } from 'vitest';
import { estimatePromptTokens } from '../../src/llm/tokens.js';
import type { ChatRequest } from '../../src/llm/types.js';
import { eventually, Harness } from './adaptive/harness.js';

const h = new Harness();
afterEach(() => h.cleanup());

const call = (tag: string, words: number, maxTokens: number, signal?: AbortSignal): ChatRequest => ({
  stage: `size-${words}`,
  messages: [{ role: 'user', content: `request ${tag}: ${'word '.repeat(words)}` }],
  maxTokens,
  temperature: 0,
  signal,
});

describe('KV-cache estimates of requests in flight and waiting', () => {
  it('charges each request its prompt plus max_tokens (no answer of its stage yet) while it holds a slot, and balances to zero through retries and aborts', async () => {
    const sim = await h.sim({ maxDecodeTokensPerSecPerSeq: 20, faults: { rates: { server_error: 0.3 } } });
    // One slot, no adaptation: the first call runs, the others wait for it.
    const c = h.client([sim], { adaptive: false, endpoint: { initialConcurrency: 1, maxConcurrency: 1 } });
    await c.start();
    const ep = c.endpoints()[0]!;
    const first = call('first', 10, 64);
    const running = c.chat(first).catch(() => undefined);
    await eventually('the first call holds the slot', () => ep.inFlight === 1);
    expect(ep.kvTokensInFlight).toBe(estimatePromptTokens(first.messages) + 64);
    expect(ep.completionTokensInFlight).toBe(64); // of it, the completion expected (for the KV projection)
    const aborts = new AbortController();
    const rest = [
      ...Array.from({ length: 6 }, (_, i) => c.chat(call(`big-${i}`, 2000, 256)).catch(() => undefined)),
      ...Array.from({ length: 3 }, (_, i) => c.chat(call(`gone-${i}`, 500, 128, aborts.signal)).catch(() => undefined)),
    ];
    await eventually('the other calls wait', () => c.waiting >= 8);
    aborts.abort();
    await Promise.all([running, ...rest]);
    expect(sim.stats().requests.byStatus['500']).toBeGreaterThan(0); // retries happened
    expect(ep.inFlight).toBe(0);
    expect(ep.kvTokensInFlight).toBe(0);
    expect(ep.completionTokensInFlight).toBe(0);
    expect(c.waiting).toBe(0);
  });

  it('keeps a request that would take the KV tokens in flight beyond its endpoint KV budget in the client, and sends it once room frees', async () => {
    const sim = await h.sim({ maxDecodeTokensPerSecPerSeq: 40 });
    const c = h.client([sim], { adaptive: false, endpoint: { initialConcurrency: 8, maxConcurrency: 8 } });
    await c.start();
    const ep = c.endpoints()[0]!;
    const small = call('small', 10, 64);
    const big = call('big', 2000, 256);
    const smallKv = estimatePromptTokens(small.messages) + 64;
    // Room for the small call and not for the big one beside it: the big one waits in the client
    // though 7 of the 8 slots are free, and goes once the small one has finished.
    ep.kvBudget = smallKv + 100;
    const first = c.chat(small);
    await eventually('the small call holds a slot', () => ep.inFlight === 1);
    const second = c.chat(big);
    await eventually('the big call waits in the client', () => c.waiting === 1);
    expect(ep.inFlight).toBe(1);
    expect(sim.stats().waiting).toBe(0);
    await first;
    await eventually('the big call is sent (alone, it goes whatever its size)', () => c.waiting === 0 && ep.inFlight === 1);
    await second;
    // Raising the budget hands the slot over at once, as raising the limit does.
    const blocker = c.chat(call('blocker', 2000, 256));
    await eventually('one big call in flight', () => ep.inFlight === 1);
    const next = c.chat(call('next', 2000, 256));
    await eventually('the next waits', () => c.waiting === 1);
    ep.kvBudget = Infinity;
    await eventually('it is sent when the budget is lifted', () => c.waiting === 0 && ep.inFlight === 2);
    await Promise.all([blocker, next]);
    expect(ep.kvTokensInFlight).toBe(0);
  });
});
