import { describe, expect, it } from 'vitest';
import { COMPLEXITY_WEIGHTS, summarizeStats, trajectoryStats } from '../../../operators/stats/stats.js';
import type { TrajectoryStats } from '../../../src/sinks/types.js';
import type { Message, Trajectory } from '../../../src/trajectory.js';
import { validTrajectory } from '../validate/fixtures.js';

const obj = { type: 'object' };
const tools = ['find_item', 'find_depot', 'quote', 'book'].map((name) => ({ name, description: name, parameters: obj }));
const call = (id: string, name: string, args: Record<string, unknown>) => ({ id, name, arguments: args });
const reply = (id: string, name: string, value: unknown): Message => ({ role: 'tool', toolCallId: id, name, content: JSON.stringify(value) });

/**
 * Shipping: two parallel lookups (a1, a2) feed a quote (b1) that fails with ok:false; the assistant
 * asks, gets an answer, quotes again (c1, fed by a1/a2) and books with c1's quote id (d1), so the
 * longest chain is a1 -> c1 -> d1 = 3 (b1's failed reply feeds nothing; parallel calls of one turn
 * never depend on each other).
 */
function shipping(): Trajectory {
  return {
    tools,
    messages: [
      { role: 'system', content: 'You manage shipments.' },
      { role: 'user', content: 'Ship the blue crate to Oslo.' },
      { role: 'assistant', content: '', toolCalls: [call('a1', 'find_item', { query: 'blue crate' }), call('a2', 'find_depot', { city: 'Oslo' })] },
      reply('a1', 'find_item', { item_id: 'ITM-001', weight: 12 }),
      reply('a2', 'find_depot', { depot: 'DEP-OSL' }),
      {
        role: 'assistant',
        content: '',
        toolCalls: [call('b1', 'quote', { item_id: 'ITM-001', depot: 'DEP-OSL', options: { insurance: { level: 'full' } } })],
      },
      reply('b1', 'quote', { ok: false, reason: 'insurance level full unavailable', quote_id: 'Q-9' }),
      { role: 'assistant', content: 'Full insurance is unavailable for this route. Shall I use basic insurance instead?' },
      { role: 'user', content: 'Yes, basic is fine.' },
      {
        role: 'assistant',
        content: '',
        toolCalls: [call('c1', 'quote', { item_id: 'ITM-001', depot: 'DEP-OSL', options: { insurance: { level: 'basic' } } })],
      },
      reply('c1', 'quote', { quote_id: 'Q-12', price: 48.5 }),
      { role: 'assistant', content: '', toolCalls: [call('d1', 'book', { quote_id: 'Q-12' })] },
      reply('d1', 'book', { status: 201, booking: 'BK-77' }),
      { role: 'assistant', content: 'Booked as BK-77 for 48.5 EUR. Want a tracking link?' },
    ],
    patterns: ['multi_hop_reasoning', 'error_recovery', 'clarification'],
  };
}

/** A two-turn dialogue whose only call gets `content` as its reply. */
function oneCall(content: string, answer = 'Done.'): Trajectory {
  return {
    tools,
    messages: [
      { role: 'system', content: 'S' },
      { role: 'user', content: 'U' },
      { role: 'assistant', content: '', toolCalls: [call('x', 'book', { quote_id: 'Q-1' })] },
      { role: 'tool', toolCallId: 'x', name: 'book', content },
      { role: 'assistant', content: answer },
    ],
    patterns: [],
  };
}

describe('trajectoryStats', () => {
  it('computes every field of a hand-made trajectory', () => {
    const { complexityScore, tokens, ...counts } = trajectoryStats(shipping());
    expect(counts).toEqual({
      messages: 14,
      userTurns: 2,
      assistantTurns: 6,
      toolTurns: 5,
      toolCalls: 5,
      distinctTools: 4,
      toolsDefined: 4,
      maxArgDepth: 3,
      longestDependencyChain: 3,
      clarificationTurns: 1,
      errorRecoveryTurns: 1,
    });
    expect(tokens).toBeGreaterThan(0); // exact token counting: see the tokens test
    // chain (3-1)/3*.25 + calls 5/8*.15 + distinct 4/4*.15 + recovery 1/2*.15 + depth 1*.1 + clarification 1/2*.1 + users 1/3*.1
    expect(complexityScore).toBeCloseTo(0.66875, 3);
  });

  it('computes the fixture statistics documented in fixtures.ts', () => {
    const s = trajectoryStats(validTrajectory());
    expect(s).toMatchObject({
      messages: 15,
      userTurns: 3,
      assistantTurns: 7,
      toolTurns: 4,
      toolCalls: 4,
      distinctTools: 3,
      toolsDefined: 4,
      maxArgDepth: 3,
      longestDependencyChain: 4,
      clarificationTurns: 2,
      errorRecoveryTurns: 1,
    });
  });

  it('counts tokens as ceil(chars / 4) of contents and call arguments', () => {
    // contents 1 + 1 + 0 + 2 + 5 = 9 chars, arguments {"quote_id":"Q-1"} = 18 chars: 27 / 4 -> 7
    expect(trajectoryStats(oneCall('{}')).tokens).toBe(7);
  });

  it('measures argument nesting: flat 1, each object or array level adds 1, no calls 0', () => {
    const depth = (args: Record<string, unknown>): number => {
      const t = oneCall('{}');
      t.messages[2]!.toolCalls![0]!.arguments = args;
      return trajectoryStats(t).maxArgDepth;
    };
    expect(depth({ a: 1, b: 'x' })).toBe(1);
    expect(depth({})).toBe(1);
    expect(depth({ a: { b: 1 } })).toBe(2);
    expect(depth({ a: [1, 2] })).toBe(2);
    expect(depth({ a: [{ b: [1] }] })).toBe(4);
    const noCalls: Trajectory = { tools, messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }, { role: 'assistant', content: 'A' }], patterns: [] };
    expect(trajectoryStats(noCalls)).toMatchObject({ maxArgDepth: 0, longestDependencyChain: 0, toolCalls: 0, complexityScore: 0 });
  });

  it('recognises error replies by error key, status >= 400 or ok:false', () => {
    const recovery = (content: string): number => trajectoryStats(oneCall(content)).errorRecoveryTurns;
    expect(recovery('{"error":{"code":"not_found"}}')).toBe(1);
    expect(recovery('{"status":404,"detail":"gone"}')).toBe(1);
    expect(recovery('{"status":"503"}')).toBe(1);
    expect(recovery('{"ok":false}')).toBe(1);
    expect(recovery('{"ok":true,"error":null,"status":200}')).toBe(0);
    expect(recovery('[{"error":"inside an array"}]')).toBe(0);
    expect(recovery('{"booking":"BK-1"}')).toBe(0);
  });

  it('counts a question as clarification only when the user answers it', () => {
    const t = oneCall('{}', 'Which date? I can also hold it.');
    expect(trajectoryStats(t).clarificationTurns).toBe(0); // last message: nobody answers
    t.messages.push({ role: 'user', content: 'Friday.' }, { role: 'assistant', content: 'Held for Friday.' });
    expect(trajectoryStats(t).clarificationTurns).toBe(1); // '?' mid-text ends a question sentence
    t.messages[4]!.content = 'Done, see https://x.example/?id=3 for details.';
    expect(trajectoryStats(t).clarificationTurns).toBe(0); // a '?' inside a URL is no question
  });

  it('links numbers by equality and strings of >= 3 chars by occurrence', () => {
    const chain = (replyValue: unknown, args: Record<string, unknown>): number => {
      const t = oneCall(JSON.stringify(replyValue));
      t.messages.splice(4, 0, { role: 'assistant', content: '', toolCalls: [call('y', 'quote', args)] }, reply('y', 'quote', {}));
      return trajectoryStats(t).longestDependencyChain;
    };
    expect(chain({ id: 4821 }, { customer: 4821 })).toBe(2);
    expect(chain({ id: 4821 }, { customer: 482 })).toBe(1);
    expect(chain({ msg: 'created ticket T-991 for you' }, { ticket: 'T-991' })).toBe(2);
    expect(chain({ msg: 'ok' }, { nested: { list: ['x', 'ok'] } })).toBe(1); // "ok" is too short
    expect(chain({ deep: [{ ref: 'REF-7' }] }, { nested: { list: ['REF-7'] } })).toBe(2);
  });

  it('keeps complexityScore within 0..1 with weights summing to 1', () => {
    expect(COMPLEXITY_WEIGHTS.reduce((s, w) => s + w.weight, 0)).toBeCloseTo(1, 10);
    const big = shipping();
    // Six more rounds: a user turn, a nested-args call fed by d1's booking, a 500, a question.
    for (let k = 0; k < 6; k++) {
      big.messages.splice(
        -1,
        0,
        { role: 'user', content: `More ${k}?` },
        { role: 'assistant', content: '', toolCalls: [call(`z${k}`, 'book', { booking: 'BK-77', k: { l: { m: [k] } } })] },
        reply(`z${k}`, 'book', { status: 500 }),
        { role: 'assistant', content: `Retry ${k}?` },
      );
    }
    expect(trajectoryStats(big).complexityScore).toBe(1);
  });
});

describe('summarizeStats', () => {
  const row = (n: number): TrajectoryStats => ({ ...trajectoryStats(validTrajectory()), messages: n, tokens: n * 10 });

  it('gives mean, nearest-rank p50 / p90 and max per field', () => {
    const rows = [7, 3, 10, 1, 5, 2, 9, 4, 8, 6].map(row);
    const s = summarizeStats(rows);
    expect(s.count).toBe(10);
    expect(s.fields.messages).toEqual({ mean: 5.5, p50: 5, p90: 9, max: 10 });
    expect(s.fields.tokens).toEqual({ mean: 55, p50: 50, p90: 90, max: 100 });
    expect(s.fields.toolCalls).toEqual({ mean: 4, p50: 4, p90: 4, max: 4 });
    expect(Object.keys(s.fields).sort()).toEqual(Object.keys(rows[0]!).sort());
  });

  it('handles one row and no rows', () => {
    expect(summarizeStats([row(3)]).fields.messages).toEqual({ mean: 3, p50: 3, p90: 3, max: 3 });
    const empty = summarizeStats([]);
    expect(empty.count).toBe(0);
    expect(empty.fields.complexityScore).toEqual({ mean: 0, p50: 0, p90: 0, max: 0 });
  });
});
