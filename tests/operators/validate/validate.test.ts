import { describe, expect, it } from 'vitest';
import { VIOLATION_RULES, validateTrajectory } from '../../../operators/validate/validate.js';
import type { Message, Trajectory } from '../../../src/trajectory.js';
import { validTrajectory } from './fixtures.js';

/** The fixture with its messages edited: `edit` gets the message array to splice/mutate. */
function withMessages(edit: (m: Message[]) => void): Trajectory {
  const t = validTrajectory();
  edit(t.messages);
  return t;
}

function withTools(edit: (t: Trajectory) => void): Trajectory {
  const t = validTrajectory();
  edit(t);
  return t;
}

const toolReply = (id: string, name: string, content = '{"ok":true}'): Message => ({ role: 'tool', toolCallId: id, name, content });

/** One defect each; the trajectory must be rejected with exactly that rule. */
const cases: [string, string, () => Trajectory][] = [
  ['schema', 'unknown role', () => withMessages((m) => Object.assign(m[1]!, { role: 'moderator' }))],
  ['schema', 'toolCalls on a user message', () => withMessages((m) => (m[1]!.toolCalls = []))],
  ['schema', 'no tools at all', () => withTools((t) => (t.tools = []))],
  ['tool_schema_invalid', 'type "text"', () => withTools((t) => (t.tools[2]!.parameters = { type: 'object', properties: { order_id: { type: 'text' } } }))],
  ['tool_schema_invalid', 'required not an array', () => withTools((t) => (t.tools[2]!.parameters = { type: 'object', required: 'order_id' }))],
  ['tool_schema_invalid', 'unresolvable $ref', () => withTools((t) => (t.tools[2]!.parameters = { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } }))],
  ['tool_schema_invalid', 'not an object schema', () => withTools((t) => (t.tools[2]!.parameters = { type: 'string' }))],
  ['tool_duplicate_name', 'get_order twice', () => withTools((t) => t.tools.push({ ...t.tools[2]!, description: 'again' }))],
  [
    'unknown_tool',
    'call to an undefined tool',
    () =>
      withMessages((m) => {
        m[4]!.toolCalls![0]!.name = 'lookup_customer';
        m[5]!.name = 'lookup_customer';
      }),
  ],
  ['arguments_invalid', 'quantity below minimum', () => withMessages((m) => ((m[8]!.toolCalls![0]!.arguments.items as { quantity: number }[])[0]!.quantity = 0))],
  ['arguments_invalid', 'bad email format', () => withMessages((m) => (m[4]!.toolCalls![0]!.arguments.email = 'maya at example'))],
  ['arguments_invalid', 'missing required argument', () => withMessages((m) => delete m[6]!.toolCalls![0]!.arguments.customer_id)],
  [
    'call_id_duplicate',
    'two turns use call_3',
    () =>
      withMessages((m) => {
        m[12]!.toolCalls![0]!.id = 'call_3';
        m[13]!.toolCallId = 'call_3';
      }),
  ],
  ['first_not_system', 'no system prompt', () => withMessages((m) => m.splice(0, 1))],
  ['no_user_turn', 'assistant speaks first', () => withMessages((m) => m.splice(1, 0, { role: 'assistant', content: 'Hello! How can I help?' }))],
  ['system_not_first', 'system in the middle', () => withMessages((m) => m.splice(3, 0, { role: 'system', content: 'Be brief.' }))],
  ['after_user_or_tool_not_assistant', 'user after user', () => withMessages((m) => m.splice(2, 0, { role: 'user', content: 'Hello?' }))],
  ['after_user_or_tool_not_assistant', 'tool after user', () => withMessages((m) => m.splice(12, 0, toolReply('call_9', 'get_order')))],
  ['consecutive_assistant', 'assistant after assistant answer', () => withMessages((m) => m.splice(3, 0, { role: 'assistant', content: 'Take your time.' }))],
  [
    'tool_after_text_assistant',
    'tool after an assistant without calls',
    () => withMessages((m) => m.splice(3, 0, toolReply('call_9', 'get_order'), { role: 'assistant', content: 'Sorry, which email was it?' })),
  ],
  ['tool_reply_unmatched', 'reply to a call never made', () => withMessages((m) => m.splice(6, 0, toolReply('call_9', 'find_customer')))],
  ['missing_tool_reply', 'reply removed', () => withMessages((m) => m.splice(5, 1))],
  ['missing_tool_reply', 'reply names another tool', () => withMessages((m) => (m[5]!.name = 'list_orders'))],
  ['missing_tool_reply', 'call answered twice', () => withMessages((m) => m.splice(6, 0, { ...m[5]! }))],
  [
    'missing_tool_reply',
    'replies out of call order',
    () =>
      withMessages((m) => {
        m[4]!.toolCalls!.push({ id: 'call_1b', name: 'get_order', arguments: { order_id: 'ORD-1' } });
        m.splice(5, 0, toolReply('call_1b', 'get_order'));
      }),
  ],
  ['user_after_tool', 'user interrupts after a reply', () => withMessages((m) => m.splice(14, 0, { role: 'user', content: 'Is it approved?' }))],
  ['last_not_assistant', 'ends with the user', () => withMessages((m) => m.push({ role: 'user', content: 'Thanks!' }))],
  [
    'last_not_assistant',
    'ends with a call turn',
    () => withMessages((m) => (m[14] = { role: 'assistant', content: '', toolCalls: [{ id: 'call_5', name: 'get_order', arguments: { order_id: 'ORD-77310' } }] })),
  ],
  ['empty_content', 'blank user message', () => withMessages((m) => (m[3]!.content = '   '))],
  ['empty_content', 'blank assistant answer', () => withMessages((m) => (m[14]!.content = ''))],
  ['tool_reply_not_json', 'truncated JSON', () => withMessages((m) => (m[5]!.content = '{"customer_id":"CUS-4821"'))],
];

describe('validateTrajectory', () => {
  it('accepts the realistic fixture', () => {
    expect(validateTrajectory(validTrajectory())).toEqual([]);
  });

  it.each(cases)('rejects with %s: %s', (rule, _what, make) => {
    const violations = validateTrajectory(make());
    expect(violations.map((v) => v.rule)).toEqual([rule]);
    expect(violations[0]!.message.length).toBeGreaterThan(0);
  });

  it('covers every rule id with a case', () => {
    expect(new Set(cases.map(([rule]) => rule))).toEqual(new Set(VIOLATION_RULES));
  });

  it('points at the offending message and lists the schema errors', () => {
    const t = withMessages((m) => {
      const args = m[8]!.toolCalls![0]!.arguments as { items: { quantity: number }[]; reason: { code: string } };
      args.items[0]!.quantity = 0;
      args.reason.code = 'bored';
    });
    const [v] = validateTrajectory(t);
    expect(v).toMatchObject({ rule: 'arguments_invalid', messageIndex: 8 });
    // allErrors: both failures are in the message.
    expect(v!.message).toContain('/items/0/quantity must be >= 1');
    expect(v!.message).toContain('/reason/code must be equal to one of the allowed values');
  });

  it('reports several defects, tool-level first, then by message index', () => {
    const t = withMessages((m) => {
      m[0]!.content = '';
      m[3]!.content = '';
      m[9]!.content = 'not json';
      m.splice(1, 0, { role: 'assistant', content: 'Hi!' });
    });
    t.tools.push({ ...t.tools[0]! });
    expect(validateTrajectory(t).map((v) => [v.rule, v.messageIndex])).toEqual([
      ['tool_duplicate_name', undefined],
      ['empty_content', 0],
      ['no_user_turn', 1],
      ['empty_content', 4],
      ['tool_reply_not_json', 10],
    ]);
  });

  it('treats an empty toolCalls array as an assistant answer', () => {
    const t = withMessages((m) => (m[14]!.toolCalls = []));
    expect(validateTrajectory(t)).toEqual([]);
  });
});

describe('sloppy LLM-written tool schemas', () => {
  const sloppy: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['no top-level type', { properties: { q: { type: 'string' } } }, { q: 'x' }],
    ['required names an undeclared property', { type: 'object', properties: { q: { type: 'string' } }, required: ['q', 'limit'] }, { q: 'x', limit: 3 }],
    ['example/examples/unknown keywords', { type: 'object', properties: { q: { type: 'string', example: 'abc', examples: ['x'], 'x-ui': 'textbox' } } }, { q: 'x' }],
    ['unknown format', { type: 'object', properties: { amount: { type: 'string', format: 'currency' } } }, { amount: '12 EUR' }],
    ['format on a non-string type', { type: 'object', properties: { n: { type: 'integer', format: 'date' } } }, { n: 4 }],
    ['draft 2020-12 $schema and an $id', { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'search', type: 'object' }, {}],
    ['type list with null', { type: 'object', properties: { note: { type: ['string', 'null'] } } }, { note: null }],
    ['OpenAPI nullable with a type', { type: 'object', properties: { note: { type: 'string', nullable: true } } }, { note: null }],
    ['default of the wrong type', { type: 'object', properties: { page: { type: 'integer', default: '1' } } }, { page: 2 }],
    ['local $defs reference', { type: 'object', $defs: { id: { type: 'string' } }, properties: { a: { $ref: '#/$defs/id' } } }, { a: 'x' }],
    ['type ["object"]', { type: ['object'], properties: {} }, {}],
  ];

  it.each(sloppy)('accepts %s', (_what, parameters, args) => {
    const t: Trajectory = {
      tools: [{ name: 'search', description: 'search', parameters }],
      messages: [
        { role: 'system', content: 'You help.' },
        { role: 'user', content: 'Find it.' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'search', arguments: args }] },
        { role: 'tool', toolCallId: 'c1', name: 'search', content: '[]' },
        { role: 'assistant', content: 'Nothing found.' },
      ],
      patterns: [],
    };
    expect(validateTrajectory(t)).toEqual([]);
  });
});
