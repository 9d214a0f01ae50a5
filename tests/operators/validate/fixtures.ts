import type { ToolDef, Trajectory } from '../../../src/trajectory.js';

/**
 * Test fixtures shared across the operator tests: a realistic valid trajectory (a bookstore return)
 * with a clarification question, an error reply the assistant recovers from, and ids found by one
 * call and reused by the next (customer id -> order id -> return).
 *
 * Its known statistics: 15 messages, 3 user / 7 assistant / 4 tool turns, 4 calls to 3 distinct tools
 * of 4 defined, argument depth 3 (request_return.items[].sku), dependency chain 4 (find_customer ->
 * list_orders -> request_return (error) -> request_return (retry: the error reply names the order),
 * 2 clarification turns (messages 2 and 10), 1 error-recovery turn (message 10).
 */
export function validTrajectory(): Trajectory {
  return {
    tools: bookstoreTools(),
    messages: [
      {
        role: 'system',
        content:
          'You are the support assistant of Bookhaven. Rules: returns are accepted within 30 days of delivery; ' +
          'damaged items may be returned later only with a photo of the damage. Never invent order data.',
      },
      { role: 'user', content: 'Hi, the book I ordered arrived with a torn cover and I would like to return it.' },
      { role: 'assistant', content: "I'm sorry to hear that. Which email address is on your Bookhaven account?" },
      { role: 'user', content: "It's maya.ortiz@example.com" },
      {
        role: 'assistant',
        content: '',
        toolCalls: [{ id: 'call_1', name: 'find_customer', arguments: { email: 'maya.ortiz@example.com' } }],
      },
      { role: 'tool', toolCallId: 'call_1', name: 'find_customer', content: '{"customer_id":"CUS-4821","name":"Maya Ortiz"}' },
      {
        role: 'assistant',
        content: 'Let me find your delivered orders.',
        toolCalls: [{ id: 'call_2', name: 'list_orders', arguments: { customer_id: 'CUS-4821', status: 'delivered' } }],
      },
      {
        role: 'tool',
        toolCallId: 'call_2',
        name: 'list_orders',
        content:
          '{"orders":[{"order_id":"ORD-77310","delivered":"2025-05-02","items":[{"sku":"BK-1093","title":"The Salt Path","quantity":1}]}]}',
      },
      {
        role: 'assistant',
        content: '',
        toolCalls: [
          {
            id: 'call_3',
            name: 'request_return',
            arguments: {
              order_id: 'ORD-77310',
              items: [{ sku: 'BK-1093', quantity: 1 }],
              reason: { code: 'damaged', note: 'cover arrived torn' },
            },
          },
        ],
      },
      {
        role: 'tool',
        toolCallId: 'call_3',
        name: 'request_return',
        content:
          '{"error":"return_window_closed","message":"Order ORD-77310 was delivered 31 days ago; a late return of a damaged item needs photo_confirmed=true"}',
      },
      {
        role: 'assistant',
        content:
          'Your order ORD-77310 is one day past the 30-day window, but damaged books can still be returned with a photo. ' +
          'Do you have a photo of the torn cover?',
      },
      { role: 'user', content: 'Yes, I took one when it arrived.' },
      {
        role: 'assistant',
        content: '',
        toolCalls: [
          {
            id: 'call_4',
            name: 'request_return',
            arguments: {
              order_id: 'ORD-77310',
              items: [{ sku: 'BK-1093', quantity: 1 }],
              reason: { code: 'damaged', note: 'cover arrived torn' },
              photo_confirmed: true,
            },
          },
        ],
      },
      {
        role: 'tool',
        toolCallId: 'call_4',
        name: 'request_return',
        content: '{"return_id":"RET-5531","status":"approved","label_url":"https://bookhaven.example/labels/RET-5531.pdf"}',
      },
      {
        role: 'assistant',
        content:
          'Your return RET-5531 is approved. Print the label at https://bookhaven.example/labels/RET-5531.pdf and ' +
          'attach the photo when you drop off the parcel. Anything else I can help with?',
      },
    ],
    patterns: ['clarification', 'error_recovery', 'multi_hop_reasoning', 'rule_awareness'],
  };
}

export function bookstoreTools(): ToolDef[] {
  return [
    {
      name: 'find_customer',
      description: 'Look up a customer account by email address.',
      parameters: {
        type: 'object',
        properties: { email: { type: 'string', format: 'email', description: 'account email' } },
        required: ['email'],
      },
    },
    {
      name: 'list_orders',
      description: "List a customer's orders, optionally filtered by status.",
      parameters: {
        type: 'object',
        properties: {
          customer_id: { type: 'string', pattern: '^CUS-\\d+$' },
          status: { type: 'string', enum: ['processing', 'shipped', 'delivered', 'returned'] },
        },
        required: ['customer_id'],
      },
    },
    {
      name: 'get_order',
      description: 'Get one order with its items and delivery date.',
      parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
    },
    {
      name: 'request_return',
      description: 'Open a return for items of a delivered order.',
      parameters: {
        type: 'object',
        properties: {
          order_id: { type: 'string' },
          items: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              properties: { sku: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } },
              required: ['sku', 'quantity'],
            },
          },
          reason: {
            type: 'object',
            properties: {
              code: { type: 'string', enum: ['damaged', 'wrong_item', 'not_needed'] },
              note: { type: 'string' },
            },
            required: ['code'],
          },
          photo_confirmed: { type: 'boolean' },
        },
        required: ['order_id', 'items', 'reason'],
      },
    },
  ];
}
