/**
 * Hashed features of a text for the trained relevance classifier (model.ts). One pass over the UTF-16
 * code units of the examined part (the same bounded part as the hand-weighted scorer: the first
 * HEAD_CHARS plus SAMPLE_WINDOWS windows of the rest); no regex, no split, no string is allocated. Each
 * feature is written as a bucket index into `out`; the score is the sum of the buckets' weights over
 * the square root of their number (a length-normalised bag of hashed features).
 *
 * Features (FEATURE_VERSION 1):
 * - word unigrams: a word is a run of letters, marks, digits and connector punctuation of any script
 *   (Unicode classes L, M, N, Pc), case-folded (per code unit, `toLowerCase`), every decimal digit of
 *   any script folded to `0`;
 * - word bigrams, where a line start and a sentence start are words of their own, so "line starts
 *   with `run`" and "sentence starts with `click`" are bigrams;
 * - character 3-grams at both ends of words longer than 4 code units (prefix and suffix: inflection in
 *   any language, e.g. `-ieren`, `-ez`, `-ться`);
 * - scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan): each
 *   character is a token, so their unigrams and bigrams are character 1- and 2-grams;
 * - punctuation and symbols, one per run of the same character (`{`, `$`, `=`, `->`, `。`);
 * - the shape of each line start: indentation (none, 1-3, 4+ or tab) with its first character class
 *   (letter, digit, or the punctuation itself: `-`, `*`, `$`, `#`, `>`, `•`, ...);
 * - the text's length in powers of two.
 *
 * Code points beyond the BMP (surrogate pairs: CJK extensions, historic scripts, emoji) are word
 * characters; their pair is hashed like any other code units. Nothing is dropped for its script.
 */
import { HEAD_CHARS, MAX_CHARS_EXAMINED, SAMPLE_WINDOWS, WINDOW_CHARS } from './score.js';

/** Bump whenever the features change: a model trained on other features is refused. */
export const FEATURE_VERSION = 1;

/** Most features one text can produce (4 per examined code unit, plus the document-level ones). */
export const MAX_FEATURES = 4 * MAX_CHARS_EXAMINED + 16;

const enum K {
  Other = 0,
  Space = 1,
  Newline = 2,
  Word = 3,
  /** A character of a script written without spaces: a token by itself. */
  Char = 4,
}

/** Character class of every BMP code unit. */
const CLASS = new Uint8Array(65_536);
/** Case-folded code unit (digits of any script -> '0'). */
const FOLD = new Uint16Array(65_536);
(() => {
  const word = /[\p{L}\p{M}\p{N}\p{Pc}]/u;
  const nospace = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\p{Script=Tibetan}]/u;
  const digit = /\p{Nd}/u;
  const space = /\s/u;
  for (let c = 0; c < 65_536; c++) {
    FOLD[c] = c;
    if (c >= 0xd800 && c <= 0xdfff) {
      CLASS[c] = K.Word;
      continue;
    }
    const s = String.fromCharCode(c);
    if (c === 10) CLASS[c] = K.Newline;
    else if (space.test(s)) CLASS[c] = K.Space;
    else if (nospace.test(s) && word.test(s)) CLASS[c] = K.Char;
    else if (word.test(s)) CLASS[c] = K.Word;
    if (digit.test(s)) FOLD[c] = 48;
    else {
      const l = s.toLowerCase();
      if (l.length === 1) FOLD[c] = l.charCodeAt(0);
    }
  }
})();

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
// Namespaces: each feature family is hashed apart.
const NS_UNI = 0x2f6b1a3d;
const NS_BI = 0x5bd1e995;
const NS_PRE = 0x68e31da4;
const NS_SUF = 0x1b873593;
const NS_PUNCT = 0x7feb352d;
const NS_LINE = 0x3c6ef372;
const NS_LEN = 0x4cf5ad43;
/** Pseudo-words: the previous "word" at a line start and at a sentence start. */
const LINE_START = 0x12345679;
const SENTENCE_START = 0x2468ace1;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Sentence-ending punctuation: ASCII `. ! ? : ;` (when followed by a space) and the full-width/CJK/Devanagari ones (always). */
function isSentenceEnd(c: number): boolean {
  return c === 46 || c === 33 || c === 63 || c === 58 || c === 59;
}
function isWideSentenceEnd(c: number): boolean {
  return c === 0x3002 || c === 0xff01 || c === 0xff1f || c === 0xff1a || c === 0xff1b || c === 0x0964 || c === 0x061f || c === 0x06d4;
}

/**
 * Writes the feature bucket indices of `text` (buckets = mask + 1, a power of two) into `out` (at least
 * MAX_FEATURES long) and returns how many were written.
 */
export function featureIndices(text: string, mask: number, out: Int32Array): number {
  let n = 0;
  const len = text.length;
  // Document level: length in powers of two.
  out[n++] = fmix(NS_LEN ^ (31 - Math.clz32(len + 1))) & mask;
  if (len <= MAX_CHARS_EXAMINED) return scan(text, 0, len, mask, out, n);
  n = scan(text, 0, HEAD_CHARS, mask, out, n);
  const stride = Math.floor((len - HEAD_CHARS) / SAMPLE_WINDOWS);
  for (let k = 0; k < SAMPLE_WINDOWS; k++) {
    const lo = HEAD_CHARS + k * stride;
    const hi = Math.min(lo + WINDOW_CHARS, len);
    // Start the window at a line start when there is one in it.
    let from = lo;
    while (from < hi && text.charCodeAt(from - 1) !== 10) from++;
    if (from >= hi) from = lo;
    n = scan(text, from, hi, mask, out, n);
  }
  return n;
}

function scan(text: string, from: number, end: number, mask: number, out: Int32Array, n: number): number {
  let prev = LINE_START;
  let atLineStart = true;
  let indent = 0;
  let lastPunct = -1;
  let i = from;
  while (i < end) {
    const c = text.charCodeAt(i);
    const k = CLASS[c]!;
    if (k === K.Space) {
      if (atLineStart) indent += c === 9 ? 4 : 1;
      lastPunct = -1;
      i++;
      continue;
    }
    if (k === K.Newline) {
      atLineStart = true;
      indent = 0;
      prev = LINE_START;
      lastPunct = -1;
      i++;
      continue;
    }
    if (atLineStart) {
      atLineStart = false;
      const first = k === K.Word || k === K.Char ? (FOLD[c] === 48 ? 48 : 97) : c;
      const ib = indent === 0 ? 0 : indent < 4 ? 1 : 2;
      out[n++] = fmix(NS_LINE ^ Math.imul(first, 4) ^ ib) & mask;
    }
    if (k === K.Word) {
      const start = i;
      // Each code unit is read once: FNV-1a over the folded units, the hash after three of them (the
      // prefix) and the last three (the suffix).
      let d = FOLD[c]!;
      let h = Math.imul(FNV_OFFSET ^ d, FNV_PRIME);
      let a = 0;
      let b = 0;
      let pre = 0;
      let u = 0;
      i++;
      while (i < end && CLASS[(u = text.charCodeAt(i))] === K.Word) {
        const f = FOLD[u]!;
        h = Math.imul(h ^ f, FNV_PRIME);
        a = b;
        b = d;
        d = f;
        i++;
        if (i - start === 3) pre = h;
      }
      out[n++] = fmix(h ^ NS_UNI) & mask;
      out[n++] = fmix(Math.imul(prev ^ NS_BI, FNV_PRIME) ^ h) & mask;
      if (i - start > 4) {
        out[n++] = fmix(pre ^ NS_PRE) & mask;
        out[n++] = fmix(Math.imul(Math.imul(Math.imul(NS_SUF, FNV_PRIME) ^ a, FNV_PRIME) ^ b, FNV_PRIME) ^ d) & mask;
      }
      prev = h;
      lastPunct = -1;
      continue;
    }
    if (k === K.Char) {
      const h = Math.imul(FNV_OFFSET ^ FOLD[c]!, FNV_PRIME);
      out[n++] = fmix(h ^ NS_UNI) & mask;
      out[n++] = fmix(Math.imul(prev ^ NS_BI, FNV_PRIME) ^ h) & mask;
      prev = h;
      lastPunct = -1;
      i++;
      continue;
    }
    // Punctuation or symbol: one feature per run of the same character.
    if (c !== lastPunct) out[n++] = fmix(NS_PUNCT ^ c) & mask;
    lastPunct = c;
    if (isWideSentenceEnd(c) || (isSentenceEnd(c) && (i + 1 >= end || CLASS[text.charCodeAt(i + 1)]! <= K.Newline))) prev = SENTENCE_START;
    i++;
  }
  return n;
}
