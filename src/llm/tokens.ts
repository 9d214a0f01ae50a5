import type { ChatMessage } from './types.js';

/** Tokens a chat template adds around each message (role markers, separators); generous for common templates. */
export const MESSAGE_OVERHEAD_TOKENS = 8;

/**
 * A conservative (high) estimate of how many tokens `text` takes: ceil(UTF-8 bytes / 3), at least 1
 * for non-empty text. Real BPE tokenizers (Llama 3, Qwen, GPT-4o) average about 4 bytes per token on
 * English prose and 2.5-3.5 on code, digits or non-Latin scripts, so this overestimates most text and
 * seldom underestimates; it is also always >= the bundled simulator's own count (ceil(chars / 4),
 * since UTF-8 takes at least one byte per UTF-16 unit). Use it to decide whether a document fits a
 * model's context (`HttpInferenceClient.contextTokens`), leaving room for the completion's max_tokens.
 */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 3);
}

/** {@link estimateTokens} over a chat request's messages, plus {@link MESSAGE_OVERHEAD_TOKENS} per message. */
export function estimatePromptTokens(messages: readonly Pick<ChatMessage, 'content'>[]): number {
  return messages.reduce((n, m) => n + estimateTokens(m.content) + MESSAGE_OVERHEAD_TOKENS, 0);
}
