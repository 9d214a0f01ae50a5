import type { Message, Trajectory } from '../../trajectory.js';

/** The shape of operators/judge/schema.ts JudgeOutput. */
export interface JudgeAnswer {
  r1GroundedArguments: Verdict;
  r2HonestLimits: Verdict;
  r3Consistency: Verdict;
}

interface Verdict {
  pass: boolean;
  reason: string;
}

function stringLeaves(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => stringLeaves(x, out));
  else if (v !== null && typeof v === 'object') Object.values(v).forEach((x) => stringLeaves(x, out));
  return out;
}

/** R1: every string argument already appeared in the dialogue before the call. */
function groundedArguments(messages: Message[]): Verdict {
  let said = '';
  let checked = 0;
  for (const m of messages) {
    for (const call of m.toolCalls ?? []) {
      for (const value of stringLeaves(call.arguments)) {
        checked++;
        if (!said.includes(value)) return { pass: false, reason: `${call.id} (${call.name}) passes "${value}", which nothing earlier in the dialogue states.` };
      }
    }
    // Only what the user, the system or a tool said grounds a value; the assistant's own words do not.
    if (m.role !== 'assistant') said += `\n${m.content}`;
  }
  return { pass: true, reason: `All ${checked} string argument values were stated by the user or returned by an earlier tool before being used.` };
}

/** R2: every failed tool reply is acknowledged by the next assistant turn rather than glossed over. */
function honestLimits(messages: Message[]): Verdict {
  let failures = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role !== 'tool' || !/^\s*\{\s*"error"/.test(m.content)) continue;
    failures++;
    const next = messages.slice(i + 1).find((x) => x.role === 'assistant');
    if (!next || !/fail|error|could not|unable|did not/i.test(next.content)) {
      return { pass: false, reason: `The error returned to ${m.toolCallId ?? 'a call'} is not acknowledged by the following assistant turn.` };
    }
  }
  return { pass: true, reason: `The assistant claims no result a tool did not return and acknowledges ${failures === 1 ? 'the failed call' : `all ${failures} failed calls`}.` };
}

/** R3: every tool reply answers an earlier call of the same name, and no call id is reused. */
function consistency(messages: Message[]): Verdict {
  const calls = new Map<string, string>();
  for (const m of messages) {
    for (const c of m.toolCalls ?? []) {
      if (calls.has(c.id)) return { pass: false, reason: `Call id ${c.id} is used twice.` };
      calls.set(c.id, c.name);
    }
    if (m.role === 'tool' && (m.toolCallId === undefined || calls.get(m.toolCallId) !== m.name)) {
      return { pass: false, reason: `The reply to ${m.toolCallId ?? '(no id)'} does not match an earlier call of ${m.name ?? '(no name)'}.` };
    }
  }
  return { pass: true, reason: `All ${calls.size} calls have unique ids and their replies refer back to them by id and tool name.` };
}

const KEYS = ['r1GroundedArguments', 'r2HonestLimits', 'r3Consistency'] as const;

/**
 * The simulated judge: R1-R3 checked mechanically on the trajectory. `forcedFailure`, when given,
 * fails that verdict anyway (the simulator's judgeFailRate), with a reason saying so.
 */
export function judgeAnswer(t: Trajectory, forcedFailure?: 0 | 1 | 2): JudgeAnswer {
  const answer: JudgeAnswer = {
    r1GroundedArguments: groundedArguments(t.messages),
    r2HonestLimits: honestLimits(t.messages),
    r3Consistency: consistency(t.messages),
  };
  if (forcedFailure !== undefined) {
    answer[KEYS[forcedFailure]] = { pass: false, reason: 'Judged not met (simulated failure injected by the simulator judgeFailRate).' };
  }
  return answer;
}
