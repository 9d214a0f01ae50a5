/**
 * Long documents and the model's context window.
 *
 * A request is never sent when it cannot fit: its messages' estimated tokens plus the completion
 * budget (max_tokens) must stay within the model's context (vLLM's max_model_len). A document too long
 * for one request is cut into overlapping windows that each fit; every window is processed as part of
 * the same document (its workflows are merged, each keeps the window it came from) and the document
 * is acknowledged once, with all its windows.
 *
 * The estimate is conservative on purpose (see estimateTokens): a byte-level BPE tokenizer never needs
 * more tokens than UTF-8 bytes, and real ones average 3.5-4.5 bytes per token on English prose and
 * about 1 token per CJK character (3 bytes); bytes / 3 rounds that up for Latin text and stays close
 * for other scripts, at the cost of windows somewhat smaller than they could be.
 */

/** Conservative token counts: src/llm/tokens.ts (ceil(UTF-8 bytes / 3), plus a per-message overhead). */
export { estimateTokens, estimatePromptTokens as estimateMessageTokens } from '../llm/tokens.js';
import { estimateTokens } from '../llm/tokens.js';

export interface WindowOptions {
  /** Tokens of document text per window. */
  windowTokens: number;
  /** Tokens shared by consecutive windows, so a workflow cut at a boundary is whole in one of them. */
  overlapTokens: number;
}

/**
 * Cuts `text` into windows of at most `windowTokens` estimated tokens, consecutive windows sharing
 * about `overlapTokens`; cuts fall on a paragraph break, else a sentence end, else whitespace, in the
 * last fifth of a window. One window (the text itself) when it fits.
 */
export function splitWindows(text: string, o: WindowOptions): string[] {
  const total = estimateTokens(text);
  if (total <= o.windowTokens) return [text];
  // Characters per estimated token for this text (varies with the script).
  const ratio = text.length / total;
  const size = Math.max(1, Math.floor(o.windowTokens * ratio));
  const overlap = Math.min(Math.floor(size / 2), Math.max(0, Math.floor(o.overlapTokens * ratio)));
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    if (end < text.length) end = boundary(text, start + Math.floor(size * 0.8), end);
    // The estimate is per text; a window denser than average (e.g. CJK inside Latin) is cut further.
    while (end - start > 1 && estimateTokens(text.slice(start, end)) > o.windowTokens) end = start + Math.floor((end - start) * 0.9);
    out.push(text.slice(start, end));
    if (end >= text.length) break;
    const next = end - overlap;
    start = next > start ? boundaryStart(text, next, end) : end;
  }
  return out;
}

/** The best cut in [lo, hi): after a paragraph break, else after a sentence end, else at whitespace, else hi. */
function boundary(text: string, lo: number, hi: number): number {
  const para = text.lastIndexOf('\n\n', hi - 2);
  if (para >= lo) return para + 2;
  for (let i = hi - 1; i >= lo; i--) {
    const c = text[i];
    if ((c === '.' || c === '!' || c === '?' || c === '\n' || c === '。') && /\s/.test(text[i + 1] ?? ' ')) return i + 1;
  }
  for (let i = hi - 1; i >= lo; i--) if (/\s/.test(text[i]!)) return i + 1;
  // Never split a surrogate pair.
  const c = text.charCodeAt(hi - 1);
  return c >= 0xd800 && c <= 0xdbff ? hi - 1 : hi;
}

/** Where the next window starts: the next word start at or after `at` (before `end`). */
function boundaryStart(text: string, at: number, end: number): number {
  for (let i = at; i < end; i++) if (/\s/.test(text[i]!)) return i + 1;
  const c = text.charCodeAt(at);
  return c >= 0xdc00 && c <= 0xdfff ? at + 1 : at;
}
