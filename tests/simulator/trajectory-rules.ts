import { Ajv } from 'ajv';
import type { Trajectory } from '../../src/trajectory.js';

/**
 * The trajectory rules gemflow's validator enforces, written out independently for the simulator's
 * tests: turn grammar, call/reply pairing, unique ids, known tools, arguments valid against each
 * tool's JSON Schema (ajv), tool replies that parse as JSON. Returns the problems found.
 */
export function trajectoryProblems(t: Trajectory): string[] {
  const problems: string[] = [];
  const ajv = new Ajv({ strict: false, allErrors: true });
  const tools = new Map(t.tools.map((tool) => [tool.name, ajv.compile(tool.parameters)]));
  const m = t.messages;
  if (m[0]?.role !== 'system') problems.push('messages[0] is not system');
  if (m[1]?.role !== 'user') problems.push('messages[1] is not user');
  const ids = new Set<string>();
  let pending: { id: string; name: string }[] = [];
  for (let i = 1; i < m.length; i++) {
    const prev = m[i - 1]!;
    const cur = m[i]!;
    const at = `messages[${i}] (${cur.role})`;
    if (pending.length > 0) {
      const expected = pending.shift()!;
      if (cur.role !== 'tool' || cur.toolCallId !== expected.id || cur.name !== expected.name) {
        problems.push(`${at}: expected the tool reply to ${expected.id} (${expected.name})`);
        pending = [];
      }
      if (cur.role === 'tool') {
        try {
          JSON.parse(cur.content);
        } catch {
          problems.push(`${at}: tool content is not JSON`);
        }
      }
      continue;
    }
    if (cur.role === 'tool') problems.push(`${at}: tool message without a pending call`);
    if (cur.role === 'system') problems.push(`${at}: second system message`);
    if ((prev.role === 'user' || prev.role === 'tool') && cur.role !== 'assistant') problems.push(`${at}: after ${prev.role} must come assistant`);
    if (prev.role === 'assistant' && !prev.toolCalls?.length && cur.role !== 'user') problems.push(`${at}: after a final assistant turn must come user`);
    if (cur.role === 'assistant' && cur.toolCalls?.length) {
      for (const c of cur.toolCalls) {
        if (ids.has(c.id)) problems.push(`${at}: call id ${c.id} reused`);
        ids.add(c.id);
        const validate = tools.get(c.name);
        if (!validate) problems.push(`${at}: call to unknown tool ${c.name}`);
        else if (!validate(c.arguments)) problems.push(`${at}: ${c.name} arguments invalid: ${ajv.errorsText(validate.errors)}`);
        pending.push({ id: c.id, name: c.name });
      }
    }
  }
  if (pending.length > 0) problems.push('conversation ends with calls unanswered');
  const last = m.at(-1);
  if (last?.role !== 'assistant' || last.toolCalls?.length) problems.push('last message is not an assistant turn without calls');
  return problems;
}

/** Names of the tools the trajectory calls. */
export function calledTools(t: Trajectory): string[] {
  return [...new Set(t.messages.flatMap((m) => (m.toolCalls ?? []).map((c) => c.name)))];
}
