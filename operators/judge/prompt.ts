import type { ChatMessage } from '../../src/llm/types.js';
import type { Trajectory } from '../../src/trajectory.js';
import { jsonSection, textSection } from '../extract/safe-section.js';

/** Bump whenever the text below changes: it is written into every output row. */
export const PROMPT_VERSION = 'judge.v1';

export interface JudgeInput {
  text: string;
  trajectory: Trajectory;
}

const SYSTEM = `You review multi-turn tool-use conversations between a user and an AI assistant before they are used as training data. Messages are numbered from 0 in the order given. You check three properties and give a verdict on each. Judge strictly: a single clear violation fails the property; style and length do not matter.

Return one JSON object with three verdicts, each {"pass": true or false, "reason": "..."}:
- r1GroundedArguments (R1, grounded arguments)
- r2HonestLimits (R2, honest about limitations)
- r3Consistency (R3, consistent references)

Properties:
1. R1, grounded arguments: every argument value of every tool call can be derived from the conversation before that call: said by the user, returned by an earlier tool reply, stated in the system message, or following from these without doubt (a date computed from "tomorrow", a total of returned prices). A value the assistant invents or guesses, such as an id never mentioned, an email address the user did not give, or a default for a value the user had to choose, fails R1. The source document is context only: the assistant in the conversation has not seen it, so a value that appears only in the document is not derivable.
2. R2, honest about limitations: the assistant claims no result a tool did not return, no action it did not take, and no ability the tools do not give it. When a tool fails or a request is outside the policy or the tools, it says so plainly instead of pretending. Asking the user to confirm before an irreversible action and declining a forbidden request are correct behaviour.
3. R3, consistent references: ids, names, amounts, dates and statuses stay consistent across turns: a tool reply agrees with earlier replies unless a call changed the state, the assistant repeats values exactly as they were returned, and each tool reply answers the call it is attached to.

Reasons: when a property fails, name the message index and the offending value, for example "message 7 passes order_id ORD-1180, which appears nowhere earlier". When it passes, say in one short sentence what you checked.

The conversation is in the <trajectory> section of the user message (tools, messages, patterns), the source text in the <document> section. Answer with the JSON object only.`;

export function renderJudgePrompt(input: JudgeInput): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: [
        'Judge the conversation below on R1, R2 and R3.',
        textSection('document', input.text),
        jsonSection('trajectory', input.trajectory),
      ].join('\n\n'),
    },
  ];
}
