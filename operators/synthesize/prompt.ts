import type { ChatMessage } from '../../src/llm/types.js';
import { textSection } from '../extract/safe-section.js';
import { CONVERSATION_RULES, MESSAGE_FORMAT_EXAMPLE, PATTERN_DEFINITIONS } from '../ground/conversation-format.js';

/** Bump whenever the text below (or ground/conversation-format.ts) changes: it is written into every output row. */
export const PROMPT_VERSION = 'synthesize.v1';

export interface SynthesizeInput {
  text: string;
  maxWorkflows: number;
}

const WORKFLOW_REQUIREMENTS = [
  'Extract only what the text supports. When it describes no multi-step work (news, fiction, opinion, poetry, product impressions, history), return "items": [] and invent nothing. Return at most the number of items the request allows; prefer complete, clearly different workflows.',
  'A workflow has a name (snake_case), a description (goal and what counts as done), at least three steps (short imperative sentences, labelled a, b, c, ... by position; do not write the labels), an executionGraph of step-label groups joined by "->" (labels in one group run in parallel, e.g. (a)->(b,c)->(d); every step once, dependencies respected), exampleActions (two to four tool calls with plausible values) and its tools.',
  'Each tool does one job and has a short, general snake_case name of the form verb_object (no brand names, no details of this text), unique within the workflow. For every kind of state the workflow changes, define a tool that writes it and one that reads it.',
  'Tool parameters are a JSON Schema object {"type": "object", "properties": {...}, "required": [...]}, each property with a type and a description. Required parameters mirror the real logic (the id of the entity acted on, the credentials the real system demands); options are optional. Every required name is a property.',
];

const CONVERSATION_REQUIREMENTS = [
  'The first message is the system message: the assistant\'s role and the domain rules as a numbered, checkable policy (limits with numbers, required verification, what needs confirmation).',
  'The user has a persona: natural, sometimes vague, unaware of tool names, giving information over several turns; one user turn sets several constraints at once, which the assistant checks against tool results.',
  'The assistant checks preconditions with tools before acting; takes every argument value from the dialogue (said by the user, returned by an earlier tool reply, stated in the system message) and asks when one is missing or ambiguous; confirms with the user before any irreversible or state-changing action; keeps to the policy when the user wants otherwise; never claims a result no tool returned.',
  'Complexity: at least one decision combines values from two or more earlier tool replies; at least one call passes a nested object or a list as an argument; at least one tool reply is a realistic failure the assistant recovers from; the conversation contains one or two plausible traps (a forbidden action the user pushes for, a similar-looking id, a unit mismatch) that the assistant avoids. Ids are realistic and unique.',
  'The trajectory\'s tools contain all of its workflow\'s tools with names and parameters unchanged; extra tools are defined the same way. Every call matches the definitions in tools.',
  ...CONVERSATION_RULES,
  'patterns lists at least three distinct interaction patterns from the list below, exactly the ones the conversation shows.',
];

const SYSTEM = `You turn text into training data for tool-use assistants. Texts often record how people get multi-step work done. You recover that implicit experience as workflows with tool definitions, and for each workflow you write one realistic, demanding multi-turn conversation in which an AI assistant carries it out with those tools for a user.

Return one JSON object with these fields:
- domain: a short noun phrase naming the text's field of work.
- items: one entry per workflow, each {workflow, trajectory}:
  - workflow: name, description, steps, executionGraph, exampleActions, tools (name, description, parameters as JSON Schema).
  - trajectory: tools (the definitions the assistant may call), messages (the conversation), patterns (the interaction patterns it shows).

Requirements for workflows:
${WORKFLOW_REQUIREMENTS.map((r, i) => `${i + 1}. ${r}`).join('\n')}

Requirements for conversations:
${CONVERSATION_REQUIREMENTS.map((r, i) => `${i + 1 + WORKFLOW_REQUIREMENTS.length}. ${r}`).join('\n')}

Interaction patterns:
${PATTERN_DEFINITIONS}

Format of messages (placeholders in angle brackets; it shows the structure, not content):
${MESSAGE_FORMAT_EXAMPLE}

The text to work on is in the <document> section of the user message. Answer with the JSON object only.`;

export function renderSynthesizePrompt(input: SynthesizeInput): ChatMessage[] {
  const limit = input.maxWorkflows === 1 ? 'at most 1 workflow' : `at most ${input.maxWorkflows} workflows`;
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: `Synthesize ${limit}, each with its refined conversation, from the document below. If it describes no multi-step work, return an empty items list.\n\n${textSection('document', input.text)}`,
    },
  ];
}
