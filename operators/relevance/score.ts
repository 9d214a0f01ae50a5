/**
 * The relevance scorer: a cheap estimate of "this text describes multi-step work a tool-using agent
 * could do". It sees every document of the corpus, so it is built for speed:
 *
 * - one pass over the UTF-16 code units of the text (no regex, no split, no lowercased copy);
 * - each word is hashed while it is scanned (FNV-1a over its ASCII-lowercased letters) and looked up
 *   in a Map from hash to keyword; only on a hit are the characters compared, so no word is
 *   ever allocated as a string;
 * - on huge texts only a bounded part is examined: the first HEAD_CHARS plus SAMPLE_WINDOWS windows of
 *   WINDOW_CHARS spread evenly over the rest (see `charsExamined`).
 *
 * The features are counts and ratios over the examined part; `scoreFeatures` combines them with a
 * simple weighted logistic (see `DEFAULT_WEIGHTS`).
 */

/** A type alias (not an interface) so it is assignable to Record<string, number>. */
export type RelevanceFeatures = {
  /** Length of the whole text in UTF-16 code units. */
  chars: number;
  /** Code units actually scanned (bounded whatever the text length). */
  charsExamined: number;
  /** Words (runs of letters) in the examined part. */
  words: number;
  /** Sentence starts: the first word of the text, of a line, or after `.`, `!`, `?`, `:`, `;`. */
  sentences: number;
  /** Non-empty lines. */
  lines: number;
  /** Lines starting with a list marker: `1.`, `2)`, `-`, `*`, `+`, `•`. */
  listItems: number;
  /** "Step" followed by a number ("Step 1", "step 2:"). */
  stepMarkers: number;
  /** Sentence starts that are an imperative verb (click, run, open, install, stir ...). */
  imperativeStarts: number;
  /** Sequencing words anywhere: first, then, next, after, finally, once ... */
  sequenceWords: number;
  /** UI vocabulary: button, menu, tab, dialog, checkbox, settings ... */
  uiMentions: number;
  /** API vocabulary (endpoint, json, header ...) and HTTP calls such as `GET /v1/items`. */
  apiMentions: number;
  /** Shell prompts at line start (`$ cmd`) and CLI tool names (npm, pip, git, docker ...). */
  commandMentions: number;
  /** `http://` and `https://` URLs. */
  urls: number;
  /** Fenced code blocks (pairs of ``` lines; an unclosed fence counts as one). */
  codeBlocks: number;
  /** Inline code spans: pairs of single backticks. */
  inlineCode: number;
  /** Site boilerplate: privacy, cookies, copyright, subscribe, newsletter ..., and `©`. */
  boilerplateWords: number;
  /** News-style reporting words: said, told, reported, according, officials ... */
  reportingWords: number;
  /** First-person singular pronouns (I, me, my, mine, myself), typical of reviews and stories. */
  firstPerson: number;
  /** Letters / non-whitespace code units in the examined part (0 when there are none). */
  letterRatio: number;
};

export interface RelevanceResult {
  /** 0..1; higher means more likely to describe tool-usable multi-step work. */
  score: number;
  features: RelevanceFeatures;
}

/** First code units always scanned. */
export const HEAD_CHARS = 16_384;
/** Windows sampled from the rest of a long text. */
export const SAMPLE_WINDOWS = 4;
export const WINDOW_CHARS = 2_048;
/** Upper bound of `charsExamined`. */
export const MAX_CHARS_EXAMINED = HEAD_CHARS + SAMPLE_WINDOWS * WINDOW_CHARS;

/**
 * Weights of the logistic: score = 1 / (1 + exp(-z)), z = bias + sum(weight * signal). Every signal
 * is scaled to 0..1 (rates saturate at a cap, counts through x / (x + k)), so a weight reads as "how
 * much this signal can move z at most".
 */
export const DEFAULT_WEIGHTS = {
  bias: -2.6,
  /** imperativeStarts / sentences. */
  imperative: 5.0,
  /** listItems / (listItems + 3). */
  list: 2.5,
  /** stepMarkers / (stepMarkers + 1). */
  step: 1.0,
  /** Sequencing words per 100 words, saturating at 2. */
  sequence: 1.5,
  /** UI + API + command + URL + inline-code mentions per 100 words, saturating at 3. */
  technical: 2.0,
  /** codeBlocks / (codeBlocks + 1). */
  codeBlock: 1.0,
  /** (40 - words) / 40 below 40 words. */
  tooShort: -4.0,
  /** Text longer than TOO_LONG_CHARS (dumps, concatenated pages). */
  tooLong: -1.0,
  /** (0.5 - letterRatio) / 0.5 below a letter ratio of 0.5. */
  nonLetters: -3.0,
  /** Boilerplate words per 100 words, saturating at 4. */
  boilerplate: -4.0,
  /** Reporting words per 100 words, saturating at 1.5. */
  reporting: -1.5,
  /** First-person pronouns per 100 words, saturating at 4. */
  firstPerson: -1.5,
} as const;

export type RelevanceWeights = { readonly [K in keyof typeof DEFAULT_WEIGHTS]: number };

/** Texts above this length get the `tooLong` weight. */
export const TOO_LONG_CHARS = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Vocabulary. A word belongs to at most one category.

const enum Cat {
  Imperative = 1,
  Sequence,
  Ui,
  Api,
  Command,
  Boilerplate,
  Reporting,
  FirstPerson,
  /** get/post/put/patch/delete: an API call only when upper case and followed by " /". */
  HttpMethod,
  /** http/https: a URL when followed by "://". */
  UrlScheme,
  /** "step": a step marker when followed by a number. */
  Step,
}

const VOCABULARY: ReadonlyArray<[Cat, string]> = [
  [Cat.Imperative, `click tap press run open close create select choose install uninstall configure set
    send enter type navigate add remove edit update upgrade download upload save copy paste move
    drag drop check uncheck enable disable restart reboot start stop launch connect disconnect insert
    replace write use make take find locate scroll expand collapse toggle switch fill submit confirm verify
    ensure wait repeat clone build deploy compile import export extract unzip mount attach define call
    invoke specify provide apply visit access review test rename share assign schedule register login
    logout reset print sort filter search browse pick append mix stir preheat bake whisk pour combine
    heat chop slice dice place serve cook boil simmer season spread cut fold knead cover drain rinse
    grease sprinkle transfer bring reduce measure tighten loosen unscrew align fasten plug unplug hold
    release turn sign log go`],
  [Cat.Sequence, 'first firstly then next after afterwards afterward finally once lastly subsequently second secondly third thirdly'],
  [Cat.Ui, `button buttons menu menus tab tabs dialog toolbar sidebar dropdown checkbox textbox field fields
    icon icons panel settings preferences popup modal wizard dashboard console terminal folder directory
    shortcut keyboard ctrl alt cmd`],
  [Cat.Api, 'api apis endpoint endpoints json header headers payload webhook oauth sdk query parameter parameters'],
  [Cat.Command, 'npm npx pip sudo apt brew git docker kubectl yarn pnpm mkdir chmod ssh curl wget cargo bash powershell'],
  [Cat.Boilerplate, `privacy cookie cookies copyright reserved subscribe unsubscribe newsletter sitemap advertisement
    advertise disclaimer trademark trademarks affiliate sponsored careers`],
  [Cat.Reporting, 'said says told reported according announced spokesman spokeswoman spokesperson officials percent yesterday'],
  [Cat.FirstPerson, 'i me my mine myself'],
  [Cat.HttpMethod, 'get post put patch delete'],
  [Cat.UrlScheme, 'http https'],
  [Cat.Step, 'step'],
];

const enum Ch {
  Tab = 9, Lf = 10, Cr = 13, Space = 32, Bang = 33, Dollar = 36, Paren = 41, Star = 42, Plus = 43,
  Dash = 45, Dot = 46, Slash = 47, D0 = 48, D9 = 57, Colon = 58, Semi = 59, Question = 63,
  UpperA = 65, UpperZ = 90, Backtick = 96, LowerA = 97, LowerZ = 122, Nbsp = 160, Copyright = 169,
  Bullet = 0x2022,
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnv1a(word: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), FNV_PRIME);
  return h;
}

interface Keyword {
  word: string;
  cat: Cat;
}

/**
 * Keyword lookup by word hash: an open-addressing table (linear probing) in typed arrays, a little
 * faster than a Map in the per-word hot path. A collision between two keywords is a programming error.
 */
const TABLE_SIZE = 2048;
const TABLE_MASK = TABLE_SIZE - 1;
const SLOT_HASH = new Int32Array(TABLE_SIZE);
/** Index + 1 into KEYWORD_LIST; 0 marks an empty slot. */
const SLOT_KEYWORD = new Uint16Array(TABLE_SIZE);
const KEYWORD_LIST: Keyword[] = [];

function slotOf(h: number): number {
  return (h ^ (h >>> 16)) & TABLE_MASK;
}

function lookup(h: number): Keyword | undefined {
  for (let s = slotOf(h); ; s = (s + 1) & TABLE_MASK) {
    const k = SLOT_KEYWORD[s]!;
    if (k === 0) return undefined;
    if (SLOT_HASH[s] === h) return KEYWORD_LIST[k - 1];
  }
}

for (const [cat, list] of VOCABULARY) {
  for (const word of list.split(/\s+/).filter(Boolean)) {
    const h = fnv1a(word);
    const prev = lookup(h);
    if (prev) throw new Error(prev.word === word ? `relevance vocabulary lists "${word}" twice` : `relevance vocabulary hash collision: ${prev.word} / ${word}`);
    let s = slotOf(h);
    while (SLOT_KEYWORD[s] !== 0) s = (s + 1) & TABLE_MASK;
    KEYWORD_LIST.push({ word, cat });
    SLOT_HASH[s] = h;
    SLOT_KEYWORD[s] = KEYWORD_LIST.length;
  }
}

const MAX_KEYWORD_LENGTH = Math.max(...KEYWORD_LIST.map((k) => k.word.length));

// ---------------------------------------------------------------------------------------------

/** Counters filled by `scan`; turned into RelevanceFeatures at the end. */
interface Counts {
  examined: number;
  words: number;
  sentences: number;
  lines: number;
  listItems: number;
  stepMarkers: number;
  imperativeStarts: number;
  sequenceWords: number;
  uiMentions: number;
  apiMentions: number;
  commandMentions: number;
  urls: number;
  codeFences: number;
  backticks: number;
  boilerplateWords: number;
  reportingWords: number;
  firstPerson: number;
  letters: number;
  nonSpace: number;
}

/** Character classes of ASCII code units, so the hot loop does one table load instead of comparisons. */
const enum Cls { Other = 0, Space, Newline, Letter, SentenceEnd, Backtick }

const ASCII_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = Ch.UpperA; c <= Ch.UpperZ; c++) t[c] = Cls.Letter;
  for (let c = Ch.LowerA; c <= Ch.LowerZ; c++) t[c] = Cls.Letter;
  for (const c of [Ch.Space, Ch.Tab, Ch.Cr]) t[c] = Cls.Space;
  t[Ch.Lf] = Cls.Newline;
  for (const c of [Ch.Dot, Ch.Bang, Ch.Question, Ch.Colon, Ch.Semi]) t[c] = Cls.SentenceEnd;
  t[Ch.Backtick] = Cls.Backtick;
  return t;
})();

function isLetter(c: number): boolean {
  return c < 128 ? ASCII_CLASS[c] === Cls.Letter : isOtherLetter(c);
}

/** Letters beyond ASCII: Latin-1 letters and everything from Latin Extended up, minus punctuation blocks. */
function isOtherLetter(c: number): boolean {
  return c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && !(c >= 0x2000 && c <= 0x2bff) && !(c >= 0x3000 && c <= 0x303f);
}

function isSpace(c: number): boolean {
  return c === Ch.Space || c === Ch.Tab || c === Ch.Lf || c === Ch.Cr || c === Ch.Nbsp;
}

function isDigit(c: number): boolean {
  return c >= Ch.D0 && c <= Ch.D9;
}

/** True when `text` at `at` (within `end`) equals the ASCII string `s`. */
function matchesAt(text: string, at: number, end: number, s: string): boolean {
  if (at + s.length > end) return false;
  for (let i = 0; i < s.length; i++) if (text.charCodeAt(at + i) !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * Inspect the start of a line at `i` (first non-blank code unit): list markers, shell prompts, code
 * fences. Returns the index to continue scanning from.
 */
function scanLineStart(text: string, i: number, end: number, n: Counts): number {
  const c = text.charCodeAt(i);
  const next = i + 1 < end ? text.charCodeAt(i + 1) : 0;
  if (c === Ch.Backtick && matchesAt(text, i, end, '```')) {
    n.codeFences++;
    return i + 3;
  }
  if ((c === Ch.Dash || c === Ch.Star || c === Ch.Plus || c === Ch.Bullet) && isSpace(next)) {
    n.listItems++;
    return i + 1;
  }
  if (c === Ch.Dollar && next === Ch.Space) {
    n.commandMentions++;
    return i + 1;
  }
  if (isDigit(c)) {
    let j = i + 1;
    while (j < end && j < i + 3 && isDigit(text.charCodeAt(j))) j++;
    const m = j < end ? text.charCodeAt(j) : 0;
    if ((m === Ch.Dot || m === Ch.Paren) && j + 1 < end && isSpace(text.charCodeAt(j + 1))) n.listItems++;
    return j;
  }
  return i;
}

/**
 * Count one finished word text[start, wordEnd) whose hash is `h` if it is a keyword. `upper`: all its
 * letters are upper case; `end` bounds the look-ahead ("://", " /", " 1"). Returns true when the next
 * word still starts the sentence: after a leading sequencing word ("Then run ...", "First, open ...").
 */
function onWord(text: string, start: number, wordEnd: number, end: number, h: number, upper: boolean, sentenceStart: boolean, n: Counts): boolean {
  const len = wordEnd - start;
  if (len > MAX_KEYWORD_LENGTH) return false;
  const kw = lookup(h);
  if (kw === undefined || kw.word.length !== len) return false;
  for (let k = 0; k < len; k++) if ((text.charCodeAt(start + k) | 0x20) !== kw.word.charCodeAt(k)) return false;
  switch (kw.cat) {
    case Cat.Imperative:
      if (sentenceStart) n.imperativeStarts++;
      break;
    case Cat.Sequence:
      n.sequenceWords++;
      return sentenceStart;
    case Cat.Ui:
      n.uiMentions++;
      break;
    case Cat.Api:
      n.apiMentions++;
      break;
    case Cat.Command:
      n.commandMentions++;
      break;
    case Cat.Boilerplate:
      n.boilerplateWords++;
      break;
    case Cat.Reporting:
      n.reportingWords++;
      break;
    case Cat.FirstPerson:
      // "I" only in upper case: a lone lower-case "i" is usually a list label or a variable.
      if (len > 1 || upper) n.firstPerson++;
      break;
    case Cat.HttpMethod:
      if (upper && wordEnd + 1 < end && text.charCodeAt(wordEnd) === Ch.Space && text.charCodeAt(wordEnd + 1) === Ch.Slash) n.apiMentions++;
      // "Put the pan ...", "Delete the file ...": these two are also imperative verbs.
      else if (sentenceStart && (kw.word === 'put' || kw.word === 'delete')) n.imperativeStarts++;
      break;
    case Cat.UrlScheme:
      if (matchesAt(text, wordEnd, end, '://')) n.urls++;
      break;
    case Cat.Step: {
      let j = wordEnd;
      if (j < end && text.charCodeAt(j) === Ch.Space) j++;
      if (j < end && isDigit(text.charCodeAt(j))) n.stepMarkers++;
      break;
    }
  }
  return false;
}

/**
 * Scan text[from, end) and add to `n`. `from` is taken as a line start. Nothing at or after `end` is
 * read, not even for look-ahead, so the work is exactly end - from code units (a word cut by `end`
 * counts as a word; at window edges that is a negligible error).
 */
function scan(text: string, from: number, end: number, n: Counts): void {
  let atLineStart = true;
  let sentenceStart = true;
  /** The sentence started with a sequencing word, so the next word is still at its start. */
  let afterSequenceWord = false;
  let i = from;
  while (i < end) {
    let c = text.charCodeAt(i);
    const cls = c < 128 ? ASCII_CLASS[c]! : c === Ch.Nbsp ? Cls.Space : Cls.Other;
    if (cls === Cls.Space) {
      i++;
      continue;
    }
    if (cls === Cls.Newline) {
      atLineStart = true;
      sentenceStart = true;
      afterSequenceWord = false;
      i++;
      continue;
    }
    if (atLineStart) {
      atLineStart = false;
      n.lines++;
      const j = scanLineStart(text, i, end, n);
      if (j !== i) {
        n.nonSpace += j - i;
        i = j;
        continue;
      }
    }
    n.nonSpace++;
    if (cls === Cls.Letter || (c >= 128 && isOtherLetter(c))) {
      // A word: hash ASCII-lowercased letters; non-ASCII letters make it a non-keyword.
      const start = i;
      let h = FNV_OFFSET;
      let ascii = true;
      let upper = true;
      do {
        if (c < 128) {
          if (c >= Ch.LowerA) upper = false;
          h = Math.imul(h ^ (c | 0x20), FNV_PRIME);
        } else ascii = false;
        i++;
        c = i < end ? text.charCodeAt(i) : 0;
      } while (i < end && isLetter(c));
      n.letters += i - start;
      n.nonSpace += i - start - 1;
      n.words++;
      if (sentenceStart && !afterSequenceWord) n.sentences++;
      sentenceStart = afterSequenceWord = ascii && onWord(text, start, i, end, h, upper, sentenceStart, n);
      continue;
    }
    if (cls === Cls.SentenceEnd) {
      // End of sentence only when followed by a space or the end ("3.5", "a.b.c" and "https:" are not).
      const next = i + 1 < end ? text.charCodeAt(i + 1) : Ch.Space;
      if (isSpace(next)) {
        sentenceStart = true;
        afterSequenceWord = false;
      }
    } else if (cls === Cls.Backtick) {
      n.backticks++;
    } else if (c === Ch.Copyright) {
      n.boilerplateWords++;
    }
    i++;
  }
  n.examined += end - from;
}

/**
 * Where a sample window [i, limit) should begin: its first line start, else the first code unit after
 * a blank (a text without newlines), else `limit` (nothing to scan). Looks at no more than the window.
 */
function windowStart(text: string, i: number, limit: number): number {
  let afterBlank = -1;
  for (let j = i; j < limit; j++) {
    const prev = text.charCodeAt(j - 1);
    if (prev === Ch.Lf) return j;
    if (afterBlank < 0 && isSpace(prev)) afterBlank = j;
  }
  return afterBlank < 0 ? limit : afterBlank;
}

function saturate(x: number, k: number): number {
  return x / (x + k);
}

function capRate(count: number, words: number, cap: number): number {
  return words === 0 ? 0 : Math.min((100 * count) / words / cap, 1);
}

/** Combine features into a 0..1 score with the weighted logistic described at DEFAULT_WEIGHTS. */
export function scoreFeatures(f: RelevanceFeatures, w: RelevanceWeights = DEFAULT_WEIGHTS): number {
  const technical = f.uiMentions + f.apiMentions + f.commandMentions + f.urls + f.inlineCode;
  const z =
    w.bias +
    w.imperative * (f.sentences === 0 ? 0 : Math.min(f.imperativeStarts / f.sentences, 1)) +
    w.list * saturate(f.listItems, 3) +
    w.step * saturate(f.stepMarkers, 1) +
    w.sequence * capRate(f.sequenceWords, f.words, 2) +
    w.technical * capRate(technical, f.words, 3) +
    w.codeBlock * saturate(f.codeBlocks, 1) +
    w.tooShort * Math.max(0, (40 - f.words) / 40) +
    w.tooLong * (f.chars > TOO_LONG_CHARS ? 1 : 0) +
    w.nonLetters * Math.max(0, (0.5 - f.letterRatio) / 0.5) +
    w.boilerplate * capRate(f.boilerplateWords, f.words, 4) +
    w.reporting * capRate(f.reportingWords, f.words, 1.5) +
    w.firstPerson * capRate(f.firstPerson, f.words, 4);
  return 1 / (1 + Math.exp(-z));
}

/** Extract the features of `text` (bounded work, see MAX_CHARS_EXAMINED). */
export function extractFeatures(text: string): RelevanceFeatures {
  const n: Counts = {
    examined: 0, words: 0, sentences: 0, lines: 0, listItems: 0, stepMarkers: 0, imperativeStarts: 0,
    sequenceWords: 0, uiMentions: 0, apiMentions: 0, commandMentions: 0, urls: 0, codeFences: 0,
    backticks: 0, boilerplateWords: 0, reportingWords: 0, firstPerson: 0, letters: 0, nonSpace: 0,
  };
  const len = text.length;
  if (len <= MAX_CHARS_EXAMINED) {
    scan(text, 0, len, n);
  } else {
    scan(text, 0, HEAD_CHARS, n);
    // Windows evenly spaced over the rest.
    const stride = Math.floor((len - HEAD_CHARS) / SAMPLE_WINDOWS);
    for (let k = 0; k < SAMPLE_WINDOWS; k++) {
      const lo = HEAD_CHARS + k * stride;
      const hi = Math.min(lo + WINDOW_CHARS, len);
      const from = windowStart(text, lo, hi);
      if (from < hi) scan(text, from, hi, n);
    }
  }
  return {
    chars: len,
    charsExamined: n.examined,
    words: n.words,
    sentences: n.sentences,
    lines: n.lines,
    listItems: n.listItems,
    stepMarkers: n.stepMarkers,
    imperativeStarts: n.imperativeStarts,
    sequenceWords: n.sequenceWords,
    uiMentions: n.uiMentions,
    apiMentions: n.apiMentions,
    commandMentions: n.commandMentions,
    urls: n.urls,
    codeBlocks: Math.ceil(n.codeFences / 2),
    inlineCode: Math.floor(n.backticks / 2),
    boilerplateWords: n.boilerplateWords,
    reportingWords: n.reportingWords,
    firstPerson: n.firstPerson,
    letterRatio: n.nonSpace === 0 ? 0 : n.letters / n.nonSpace,
  };
}

export function scoreText(text: string): RelevanceResult {
  const features = extractFeatures(text);
  return { score: scoreFeatures(features), features };
}
