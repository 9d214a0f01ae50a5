import { describe, expect, it } from 'vitest';
import { trajectoryStats } from '../../operators/stats/stats.js';
import { validateTrajectory } from '../../operators/validate/validate.js';
import { contentJson, NOT_JSON, shareContentJson, type Message, type Trajectory } from '../../src/trajectory.js';

describe('contentJson', () => {
  it('parses a message once, gives the same value again, and re-parses a changed content', () => {
    const m: Message = { role: 'tool', content: '{"ok":true,"items":[1,2]}', toolCallId: 'c1', name: 't' };
    const first = contentJson(m);
    expect(first).toEqual({ ok: true, items: [1, 2] });
    expect(contentJson(m)).toBe(first);
    expect(contentJson({ ...m })).not.toBe(first); // another object: parsed on its own
    m.content = '{"ok":false}';
    expect(contentJson(m)).toEqual({ ok: false });
  });

  it('says NOT_JSON for incomplete JSON, and null, numbers and strings are JSON', () => {
    for (const c of ['{"a":', '', 'not json', '{"a":1}}']) expect(contentJson({ role: 'tool', content: c })).toBe(NOT_JSON);
    for (const c of ['null', '0', '"s"', '[]']) expect(contentJson({ role: 'tool', content: c })).toEqual(JSON.parse(c));
  });

  it('gives validation and statistics what parsing each reply on its own gave, whichever reads it first', () => {
    const t: Trajectory = {
      tools: [{ name: 'find', description: 'finds', parameters: { type: 'object', properties: { q: { type: 'string' } } } }],
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'find order A-100' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'find', arguments: { q: 'A-100' } }] },
        { role: 'tool', content: '{"error":"not found","status":404}', toolCallId: 'c1', name: 'find' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c2', name: 'find', arguments: { q: 'A-1000' } }] },
        { role: 'tool', content: '{"id":"A-1000","next":"B-7"}', toolCallId: 'c2', name: 'find' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c3', name: 'find', arguments: { q: 'B-7' } }] },
        { role: 'tool', content: '{"id":"B-7"', toolCallId: 'c3', name: 'find' },
        { role: 'assistant', content: 'Done.' },
      ],
      patterns: [],
    };
    const copy = (): Trajectory => structuredClone(t);
    const statsFirst = copy();
    const s1 = trajectoryStats(statsFirst);
    const v1 = validateTrajectory(statsFirst, undefined, { parsed: true });
    const validateFirst = copy();
    const v2 = validateTrajectory(validateFirst, undefined, { parsed: true });
    const s2 = trajectoryStats(validateFirst);
    expect(s2).toEqual(s1);
    expect(v2).toEqual(v1);
    expect(v1.map((v) => v.rule)).toEqual(['tool_reply_not_json']);
    expect(s1.errorRecoveryTurns).toBe(1);
    expect(s1.longestDependencyChain).toBe(2);
  });
});

describe('shareContentJson', () => {
  const reply = (content: string, id = 'c1'): Message => ({ role: 'tool', content, toolCallId: id, name: 'find' });

  it('gives replies of another trajectory with the same text the value already parsed, and leaves the others alone', () => {
    const from = [{ role: 'user', content: '{"a":1}' } as Message, reply('{"id":"A-1"}'), reply('{"cut":'), reply('{"unread":true}')];
    const parsed = contentJson(from[1]!);
    expect(contentJson(from[2]!)).toBe(NOT_JSON);
    const to = [{ role: 'user', content: '{"a":1}' } as Message, reply('{"id":"A-1"}', 'x'), reply('{"cut":', 'y'), reply('{"id":"A-2"}', 'z'), reply('{"unread":true}', 'w')];
    shareContentJson(from, to);
    expect(contentJson(to[1]!)).toBe(parsed); // the same object: parsed once
    expect(contentJson(to[2]!)).toBe(NOT_JSON);
    expect(contentJson(to[3]!)).toEqual({ id: 'A-2' }); // a text `from` does not have: parsed on its own
    expect(contentJson(to[4]!)).not.toBe(contentJson(from[3]!)); // `from` never parsed it: nothing to share
    expect(contentJson(to[4]!)).toEqual({ unread: true });
  });

  it('does not replace what a message already has, and a changed content is parsed again', () => {
    const from = [reply('{"v":1}')];
    contentJson(from[0]!);
    const to = [reply('{"v":1}')];
    const own = contentJson(to[0]!);
    shareContentJson(from, to);
    expect(contentJson(to[0]!)).toBe(own);
    const later = [reply('{"v":1}')];
    shareContentJson(from, later);
    later[0]!.content = '{"v":2}';
    expect(contentJson(later[0]!)).toEqual({ v: 2 });
  });

  it('leaves the refine check and the statistics as they were without sharing', async () => {
    const { refineStage } = await import('../../operators/refine/index.js');
    const base: Trajectory = {
      tools: [{ name: 'find', description: 'finds', parameters: { type: 'object', properties: { q: { type: 'string' }, f: { type: 'object' } } } }],
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'find order A-100' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'find', arguments: { q: 'A-100', f: { x: 1 } } }] },
        { role: 'tool', content: '{"error":"not found","status":404}', toolCallId: 'c1', name: 'find' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c2', name: 'find', arguments: { q: 'A-1000' } }] },
        { role: 'tool', content: '{"id":"A-1000"', toolCallId: 'c2', name: 'find' },
        { role: 'assistant', content: 'Done.' },
      ],
      patterns: [],
    };
    const output = (t: Trajectory) => ({ policy: { rules: ['r'], dataSchema: {} }, userProfile: {}, pitfalls: ['p'], trajectory: t });
    const input = (t: Trajectory) => ({ text: 'doc', domain: 'd', rules: [], workflow: { name: 'w', description: 'd', steps: ['a'], executionGraph: '(a)', exampleActions: [], tools: t.tools }, trajectory: t });
    const ground = structuredClone(base);
    validateTrajectory(ground, undefined, { parsed: true }); // ground's check parsed its replies
    const shared = structuredClone(base);
    const problemsShared = refineStage.check!(output(shared), input(ground));
    expect(contentJson(shared.messages[3]!)).toBe(contentJson(ground.messages[3]!));
    const alone = structuredClone(base);
    const problemsAlone = refineStage.check!(output(alone), input(structuredClone(base)));
    expect(problemsShared).toEqual(problemsAlone);
    expect(problemsShared.some((p) => p.includes('tool_reply_not_json'))).toBe(true);
    expect(trajectoryStats(shared)).toEqual(trajectoryStats(alone));
  });
});

describe('argumentsJson', () => {
  it('is JSON.stringify of the arguments, made once per call, again when the arguments object is replaced', async () => {
    const { argumentsJson, toChatMessages } = await import('../../src/chat-format.js');
    const call = { id: 'c1', name: 'find', arguments: { q: 'A-100', n: [1, { x: 'é"' }] } as Record<string, unknown> };
    const first = argumentsJson(call);
    expect(first).toBe(JSON.stringify(call.arguments));
    expect(argumentsJson(call)).toBe(first);
    const chat = toChatMessages([{ role: 'assistant', content: '', toolCalls: [call] }]);
    expect(chat[0]!.tool_calls![0]!.function.arguments).toBe(first);
    call.arguments = { q: 'B' };
    expect(argumentsJson(call)).toBe('{"q":"B"}');
    // The token estimate counts the arguments' JSON: (content chars + arguments JSON chars) / 4, rounded up.
    const t: Trajectory = {
      tools: [{ name: 'find', description: 'finds', parameters: { type: 'object' } }],
      messages: [
        { role: 'system', content: 'abcd' },
        { role: 'user', content: 'efgh' },
        { role: 'assistant', content: '', toolCalls: [call] },
        { role: 'tool', content: '{}', toolCallId: 'c1', name: 'find' },
        { role: 'assistant', content: 'ok' },
      ],
      patterns: [],
    };
    expect(trajectoryStats(t).tokens).toBe(Math.ceil((4 + 4 + 0 + 2 + 2 + '{"q":"B"}'.length) / 4));
  });
});
