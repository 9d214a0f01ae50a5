import type { ChatMessage } from '../../src/llm/types.js';
import { textSection } from '../extract/safe-section.js';

/** Bump whenever the text below changes: it is written into every label. */
export const PROMPT_VERSION = 'relevance-llm.v1';

export interface RelevanceLlmInput {
  text: string;
}

const SYSTEM = `You decide whether a text is worth turning into training data for tool-using assistants.

A text qualifies when it holds multi-step work an assistant could carry out with tools: a procedure, a how-to, a workflow in an application, service or device, a sequence of commands or API calls, a form to fill in step by step. It does not qualify when it only tells, describes or argues: news, fiction, poetry, opinion, reviews, history, jokes, licences, changelogs, glossaries.

Return one JSON object:
- score: a number from 0 to 1: how clearly the text holds such multi-step work (0.9 and above: explicit ordered steps an assistant could do with tools; 0.1 and below: nothing to do).
- reason: one sentence naming the work found, or why there is none.

Judge the text in whatever language it is written; answer in English.`;

export function renderRelevanceLlmPrompt(input: RelevanceLlmInput): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `Does this text hold multi-step work an assistant could do with tools?\n\n${textSection('document', input.text)}` },
  ];
}
