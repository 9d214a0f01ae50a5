import type { Trajectory, Workflow } from '../../../src/trajectory.js';

/**
 * Hand-made stage inputs and outputs shared by the LLM stage tests: a small returns workflow and a
 * trajectory that carries it out, valid under validateTrajectory, with a nested (list) argument.
 */

export const returnsWorkflow: Workflow = {
  name: 'return_order_items',
  description: 'A customer returns items from a delivered order within the return window.',
  steps: ['Look up the order', 'Check the items are within the return window', 'Confirm the return with the customer', 'Create the return'],
  executionGraph: '(a)->(b)->(c)->(d)',
  exampleActions: ['get_order(order_id="ORD-1042")', 'create_return(order_id="ORD-1042", items=[{"sku": "BT-77", "quantity": 1}])'],
  tools: [
    {
      name: 'get_order',
      description: 'Returns an order with its items, delivery date and status.',
      parameters: {
        type: 'object',
        properties: { order_id: { type: 'string', description: 'Order id' } },
        required: ['order_id'],
        additionalProperties: false,
      },
    },
    {
      name: 'create_return',
      description: 'Creates a return for some items of a delivered order; returns the return id.',
      parameters: {
        type: 'object',
        properties: {
          order_id: { type: 'string' },
          items: {
            type: 'array',
            items: {
              type: 'object',
              properties: { sku: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } },
              required: ['sku', 'quantity'],
            },
          },
          reason: { type: 'string', enum: ['too_small', 'too_large', 'damaged', 'other'] },
        },
        required: ['order_id', 'items', 'reason'],
        additionalProperties: false,
      },
    },
  ],
};

export const returnsTrajectory: Trajectory = {
  tools: structuredClone(returnsWorkflow.tools),
  patterns: ['clarification', 'multi_hop_reasoning', 'rule_awareness'],
  messages: [
    { role: 'system', content: 'You help customers with returns. Policy: 1. Items can be returned within 30 days of delivery. 2. Confirm before creating a return.' },
    { role: 'user', content: 'The boots from order ORD-1042 are too small, I want to send them back.' },
    { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_order', arguments: { order_id: 'ORD-1042' } }] },
    {
      role: 'tool',
      toolCallId: 'call_1',
      name: 'get_order',
      content: JSON.stringify({ order_id: 'ORD-1042', status: 'delivered', delivered_at: '2025-03-02', items: [{ sku: 'BT-77', name: 'Hiking boots', quantity: 1 }] }),
    },
    { role: 'assistant', content: 'The boots (BT-77) were delivered on 2 March, within the 30-day window. Shall I create a return of 1 pair, reason "too small"?' },
    { role: 'user', content: 'Yes please.' },
    {
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'call_2', name: 'create_return', arguments: { order_id: 'ORD-1042', items: [{ sku: 'BT-77', quantity: 1 }], reason: 'too_small' } }],
    },
    { role: 'tool', toolCallId: 'call_2', name: 'create_return', content: JSON.stringify({ return_id: 'RET-5531', status: 'created' }) },
    { role: 'assistant', content: 'Done: return RET-5531 is created for the boots.' },
  ],
};

/** A deep copy to mutate in one test without touching the shared fixture. */
export function copy<T>(value: T): T {
  return structuredClone(value);
}
