import type { ChatMessage } from '../../src/llm/types.js';
import type { Workflow } from '../../src/trajectory.js';
import { jsonSection, textSection } from '../extract/safe-section.js';
import { CONVERSATION_RULES, MESSAGE_FORMAT_EXAMPLE, PATTERN_DEFINITIONS } from './conversation-format.js';

/** Bump whenever the text below (or conversation-format.ts) changes: it is written into every output row. */
export const PROMPT_VERSION = 'ground.v1';

export interface GroundInput {
  text: string;
  domain: string;
  rules: string[];
  workflow: Workflow;
}

const REQUIREMENTS = [
  'The system message gives the assistant its role in the domain and states the domain rules as a numbered policy: the rules section, plus any the document implies that the conversation depends on. It does not list the tools; they are given separately.',
  'The user is a person with the persona: natural language, sometimes vague or incomplete, unaware of tool names and data formats. They give information over several turns rather than all at once, and may change their mind.',
  'The assistant checks preconditions before it acts: who the user is where the policy requires it, that the entity exists, that its current state allows the action. It reads state with tools rather than assuming it.',
  'Every argument value comes from the dialogue: said by the user, returned by an earlier tool reply, stated in the system message, or following from these without doubt. When a required value is missing or ambiguous, the assistant asks; it never guesses an id, amount, date or name.',
  'Before an irreversible or state-changing action (delete, pay, send, submit, cancel, overwrite), the assistant sums up exactly what it will do and waits for the user to confirm in a user turn.',
  'The assistant keeps to the policy even when the user wants otherwise and is honest about limits: it never claims a result no tool returned, nor an ability it does not have.',
  'The conversation carries out the workflow: its steps in the order of the execution graph, with the workflow\'s tools. The trajectory\'s tools contain all of the workflow\'s tools with their names and parameters unchanged; add a tool only if the conversation needs it, defined the same way.',
  ...CONVERSATION_RULES,
  'The conversation shows at least three distinct interaction patterns from the list below, and patterns lists exactly the ones it shows.',
  'Make it substantial: at least four user turns and six tool calls. Invent names, ids and figures that are plausible; do not copy personal data from the document.',
];

const SYSTEM = `You write realistic multi-turn conversations between a user and an AI assistant that gets work done with tools. They are training data for tool-use assistants, so every detail must be consistent and executable. You receive a source document, its domain, the domain rules, and one workflow extracted from the document with its tool definitions; you turn the workflow into one conversation.

Return one JSON object with these fields:
- persona: one or two sentences on the user: who they are, their situation, how they communicate.
- trajectory: an object with
  - tools: the tool definitions the assistant may call (name, description, parameters as JSON Schema).
  - messages: the conversation, in order.
  - patterns: the interaction patterns the conversation shows.

Requirements:
${REQUIREMENTS.map((r, i) => `${i + 1}. ${r}`).join('\n')}

Interaction patterns:
${PATTERN_DEFINITIONS}

Format of messages (placeholders in angle brackets; it shows the structure, not content):
${MESSAGE_FORMAT_EXAMPLE}

The inputs are in the <document>, <domain>, <rules> and <workflow> sections of the user message. Answer with the JSON object only.`;

export function renderGroundPrompt(input: GroundInput): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: [
        'Write one conversation that carries out the workflow below, grounded in the document, its domain and its rules.',
        textSection('document', input.text),
        textSection('domain', input.domain),
        jsonSection('rules', input.rules, { shared: true }),
        jsonSection('workflow', input.workflow, { shared: true }),
      ].join('\n\n'),
    },
  ];
}
