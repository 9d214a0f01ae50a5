import type { ChatMessage } from '../../src/llm/types.js';
import type { Trajectory, Workflow } from '../../src/trajectory.js';
import { jsonSection, textSection } from '../extract/safe-section.js';
import { CONVERSATION_RULES, MESSAGE_FORMAT_EXAMPLE, PATTERN_DEFINITIONS } from '../ground/conversation-format.js';

/** Bump whenever the text below (or ground/conversation-format.ts) changes: it is written into every output row. */
export const PROMPT_VERSION = 'refine.v1';

export interface RefineInput {
  text: string;
  domain: string;
  rules: string[];
  workflow: Workflow;
  trajectory: Trajectory;
}

const REQUIREMENTS = [
  'Structured policy: turn the rules into policy.rules, specific and checkable (limits with numbers, required verification, ordering constraints, what needs confirmation). policy.dataSchema describes the entities the tools read and write: an object mapping each entity name to its fields and their types. The system message states this policy.',
  'User profile: userProfile holds the user\'s stable facts the conversation draws on (name, account or customer ids, attributes, preferences). The user reveals them only when it is natural, and the conversation never contradicts them.',
  'At least one user turn sets several constraints at once (for example a budget, a time window and a preference); the assistant checks every one of them against tool results before it acts.',
  'The assistant reasons across earlier tool outputs: at least one decision or argument combines values from two or more earlier tool replies.',
  'Add one or two pitfalls and list them in pitfalls, one sentence each naming the trap and the right behaviour: a plausible wrong path such as an action the policy forbids that the user pushes for, a similar-looking or outdated id, a unit or time-zone mismatch, a partial success. The assistant avoids each of them in the conversation.',
  'Richer arguments: at least one call passes a nested object or a list as an argument value (line items, an address, a set of filters); the tool\'s parameters schema describes that structure.',
  'Unique, realistic ids in formats a real system would use, each naming exactly one entity and reused exactly wherever that entity appears.',
  'Realistic errors: at least one tool reply is a failure a real system produces (validation error, conflict, not found, permission denied, limit exceeded), and the assistant recovers from it.',
  'Keep the source of every argument: said by the user, returned by an earlier tool reply, stated in the system message, or following from these without doubt; otherwise the assistant asks. It confirms with the user before irreversible or state-changing actions and never claims a result no tool returned.',
  'You may add tools and change or extend their parameters; every call must match the definitions in tools. Keep the workflow\'s goal and the persona of the user.',
  ...CONVERSATION_RULES,
  'patterns lists at least three distinct interaction patterns from the list below, exactly the ones the refined conversation shows.',
];

const SYSTEM = `You refine multi-turn tool-use conversations between a user and an AI assistant so they become harder and more realistic training data, without breaking them. You receive the source document, its domain and rules, the workflow, and a conversation (a trajectory: tools, messages, patterns). You return a longer, more demanding version of the same conversation.

Return one JSON object with these fields:
- policy: {rules: the structured policy as a list of strings, dataSchema: the entities and their fields}.
- userProfile: an object with the user's facts.
- pitfalls: the one or two traps the conversation contains.
- trajectory: the refined conversation: tools, messages, patterns.

Requirements:
${REQUIREMENTS.map((r, i) => `${i + 1}. ${r}`).join('\n')}

Interaction patterns:
${PATTERN_DEFINITIONS}

Format of messages (placeholders in angle brackets; it shows the structure, not content):
${MESSAGE_FORMAT_EXAMPLE}

The inputs are in the <document>, <domain>, <rules>, <workflow> and <trajectory> sections of the user message. Answer with the JSON object only.`;

export function renderRefinePrompt(input: RefineInput): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: [
        'Refine the conversation below for complexity, keeping it consistent with the document, the rules and the workflow.',
        textSection('document', input.text),
        textSection('domain', input.domain),
        jsonSection('rules', input.rules, { shared: true }),
        jsonSection('workflow', input.workflow, { shared: true }),
        jsonSection('trajectory', input.trajectory),
      ].join('\n\n'),
    },
  ];
}
