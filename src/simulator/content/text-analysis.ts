/**
 * Rule-based reading of a document for the simulator: salient words, step lists, rule sentences and
 * what each step does. Heuristics, not NLP: good enough to make answers that follow the input.
 */

/** How a tool behaves, which decides its parameters and its replies. */
export type ToolCategory = 'login' | 'create' | 'read' | 'list' | 'search' | 'update' | 'delete';

export type StepAction =
  | { kind: 'tool'; verb: string; noun: string; category: ToolCategory }
  /** A step that supplies a value ("Enter a bucket name") to a neighbouring tool step. */
  | { kind: 'input'; param: string }
  | { kind: 'none' };

/** Synonyms folded into one tool-name verb. */
const VERB_ALIASES: Record<string, string> = {
  make: 'create', new: 'create', generate: 'create', build: 'create',
  erase: 'delete', drop: 'delete',
  view: 'get', see: 'get', show: 'get', display: 'get', check: 'get', inspect: 'get', review: 'get', fetch: 'get', look: 'get', read: 'get',
  edit: 'update', modify: 'update', change: 'update', adjust: 'update',
  browse: 'list',
  find: 'search', lookup: 'search', filter: 'search',
  signup: 'register',
};

const CATEGORY_OF_VERB: Record<string, ToolCategory> = {
  login: 'login',
  create: 'create', add: 'create', register: 'create', book: 'create', reserve: 'create', order: 'create', schedule: 'create', upload: 'create', invite: 'create',
  get: 'read', verify: 'read', track: 'read', monitor: 'read', download: 'read', export: 'read',
  list: 'list',
  search: 'search',
  delete: 'delete', remove: 'delete', cancel: 'delete', archive: 'delete',
  update: 'update', set: 'update', rename: 'update', configure: 'update', enable: 'update', disable: 'update', assign: 'update',
  mark: 'update', tag: 'update', label: 'update', move: 'update', attach: 'update', connect: 'update', approve: 'update', reject: 'update',
  activate: 'update', deactivate: 'update', renew: 'update', restore: 'update', reset: 'update', start: 'update', stop: 'update',
  restart: 'update', run: 'update', deploy: 'update', install: 'update', publish: 'update', share: 'update', send: 'update',
  submit: 'update', pay: 'update', refund: 'update', transfer: 'update', confirm: 'update', print: 'update', ship: 'update',
  return: 'update', withdraw: 'update', deposit: 'update', copy: 'update', import: 'update', backup: 'update', apply: 'update',
};

/** Verbs that name a place to click or go, not an operation: the operation is further on in the step. */
const UI_VERBS = new Set(['click', 'tap', 'press', 'hit', 'go', 'navigate', 'visit', 'open', 'scroll', 'use', 'wait', 'return']);
/** Verbs whose object is a value the user supplies. */
const INPUT_VERBS = new Set(['enter', 'type', 'fill', 'provide', 'specify', 'select', 'choose', 'pick', 'input', 'write']);
/** Leading words that do not carry the step's verb. */
const CONNECTORS = new Set(['first', 'then', 'next', 'finally', 'now', 'and', 'optionally', 'also', 'please', 'afterwards', 'lastly', 'second', 'third', 'after', 'that', 'once', 'step']);

const STOPWORDS = new Set(
  ('a an the your you my our their its this that these those it them to on in into onto for of from with by at as and or ' +
    'is are be was were will can should must may not no all any each every some new existing other same then than there here ' +
    'button tab page menu link icon field option options screen window dialog box list section panel form ' +
    'when which what who how if so do does did have has had up out about over under again also only just very more most ' +
    'such own both few many much we us he she his her they i me').split(' '),
);

/** Every imperative verb the simulator recognises at the start of a step. */
const KNOWN_VERBS = new Set([...Object.keys(VERB_ALIASES), ...Object.keys(CATEGORY_OF_VERB), ...UI_VERBS, ...INPUT_VERBS, 'log', 'sign', 'save']);
/** Verbs that end an object phrase ("the bucket list" -> bucket); other verbs double as nouns (label, order). */
const PHRASE_BREAKS = new Set([...UI_VERBS, ...INPUT_VERBS, 'list']);

export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z][a-z0-9]*(?:['-][a-z0-9]+)*/g) ?? [];
}

/** Naive English singular: "orders" -> "order", "policies" -> "policy". */
export function singular(w: string): string {
  if (w.length > 4 && w.endsWith('ies')) return w.slice(0, -3) + 'y';
  if (w.length > 4 && /(ches|shes|sses|xes)$/.test(w)) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !/(ss|us|is)$/.test(w)) return w.slice(0, -1);
  return w;
}

export function plural(w: string): string {
  if (/[^aeiou]y$/.test(w)) return w.slice(0, -1) + 'ies';
  if (/(s|x|ch|sh)$/.test(w)) return w + 'es';
  return w + 's';
}

/** Lower snake_case of the words; empty when there are none. */
export function snake(text: string): string {
  return words(text).map((w) => w.replace(/[^a-z0-9]/g, '')).filter(Boolean).join('_');
}

/**
 * The most frequent content words (4+ letters), singular, most frequent first, ties by first use. A
 * sentence's leading verb ("Delete the bucket") is not counted; the same word elsewhere is ("the order").
 */
export function salientWords(text: string, n: number): string[] {
  const counts = new Map<string, number>();
  for (const sentence of sentences(text)) {
    const ws = stripConnectors(words(sentence));
    ws.forEach((w, i) => {
      if (w.length < 4 || STOPWORDS.has(w) || CONNECTORS.has(w) || UI_VERBS.has(w) || INPUT_VERBS.has(w) || (i === 0 && KNOWN_VERBS.has(w))) return;
      const s = singular(w.replace(/['-].*$/, ''));
      counts.set(s, (counts.get(s) ?? 0) + 1);
    });
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([w]) => w);
}

/** Sentences that state a rule: obligations, prohibitions, limits, preconditions. */
export function ruleSentences(text: string, max: number): string[] {
  const rule = /\b(must|never|always|only|cannot|can't|required|requires|not allowed|at least|at most|no more than|before)\b/i;
  return sentences(text)
    .filter((s) => rule.test(s) && s.length <= 240)
    .slice(0, max);
}

/** True when the text involves signing in or an account, so the real system would demand credentials. */
export function mentionsAuth(text: string): boolean {
  return /\b(log ?in|logged in|sign(ed)? ?in|account|password|credentials?|authenticat\w*)\b/i.test(text);
}

function sentences(text: string): string[] {
  return text
    .replace(/^\s*(#+|[-*\u2022]|\d+[.)])\s*/gm, '')
    .split(/(?<=[.!?])\s+|\n{2,}|\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface StepBlock {
  /** The heading or lead-in line before the list, if any. */
  title?: string;
  steps: string[];
}

const LIST_ITEM = /^\s*(?:\d+[.)]|[-*\u2022]|step\s+\d+\s*[:.)-]?)\s+(.+?)\s*$/i;

/**
 * Step lists in the document: runs of numbered or bulleted lines (blank lines allowed inside a
 * run), kept when at least half their items start with an imperative verb. When there are none,
 * the imperative sentences of the prose form one block if there are at least three.
 */
export function findStepBlocks(text: string): StepBlock[] {
  const lines = text.split(/\r?\n/);
  const blocks: StepBlock[] = [];
  let current: StepBlock | undefined;
  let lastText: string | undefined;
  for (const line of lines) {
    const m = LIST_ITEM.exec(line);
    if (m) {
      if (!current) {
        current = { title: lastText, steps: [] };
        blocks.push(current);
      }
      current.steps.push(m[1]!);
    } else if (line.trim() !== '') {
      current = undefined;
      lastText = line.trim().replace(/^#+\s*/, '').replace(/:$/, '');
    }
  }
  const kept = blocks.filter((b) => b.steps.filter(isImperative).length * 2 >= b.steps.length && b.steps.length >= 3);
  if (kept.length > 0) return kept;
  const prose = sentences(text).filter(isImperative);
  return prose.length >= 3 ? [{ steps: prose }] : [];
}

function stripConnectors(ws: string[]): string[] {
  let i = 0;
  while (i < ws.length - 1 && CONNECTORS.has(ws[i]!)) i++;
  return ws.slice(i);
}

export function isImperative(step: string): boolean {
  const ws = stripConnectors(words(step));
  return ws.length > 0 && KNOWN_VERBS.has(ws[0]!);
}

/** The content words right after `from` (at most two, stopping at a stopword or verb), singular. */
function nounPhrase(ws: string[], from: number): string[] {
  let i = from;
  while (i < ws.length && (STOPWORDS.has(ws[i]!) || /^\d/.test(ws[i]!))) i++;
  const phrase: string[] = [];
  for (; i < ws.length && phrase.length < 2; i++) {
    const w = ws[i]!.replace(/['-].*$/, '');
    if (STOPWORDS.has(w) || CONNECTORS.has(w) || w.length < 3 || (phrase.length > 0 && PHRASE_BREAKS.has(w))) break;
    phrase.push(w);
  }
  return phrase.map(singular);
}

/** What one step does. `fallbackNoun` names the object when the step has none ("Click Create."). */
export function classifyStep(step: string, fallbackNoun: string): StepAction {
  const ws = stripConnectors(words(step));
  if (ws.length === 0) return { kind: 'none' };
  const [w0, w1] = [ws[0]!, ws[1]];
  if (w0 === 'login' || w0 === 'signin' || w0 === 'authenticate' || ((w0 === 'log' || w0 === 'sign') && (w1 === 'in' || w1 === 'into' || w1 === 'on'))) {
    return { kind: 'tool', verb: 'login', noun: '', category: 'login' };
  }
  if (w0 === 'sign' && w1 === 'up') return { kind: 'tool', verb: 'register', noun: 'account', category: 'create' };
  if (INPUT_VERBS.has(w0)) {
    const phrase = nounPhrase(ws, 1);
    return phrase.length > 0 ? { kind: 'input', param: snake(phrase.join(' ')) } : { kind: 'none' };
  }
  let at = 0;
  if (UI_VERBS.has(w0)) {
    // "Click Create bucket": the operation is named further on.
    at = ws.findIndex((w, i) => i > 0 && CATEGORY_OF_VERB[VERB_ALIASES[w] ?? w] !== undefined);
    if (at < 0) {
      const phrase = nounPhrase(ws, 1);
      const goes = w0 === 'open' || w0 === 'go' || w0 === 'navigate' || w0 === 'visit';
      return goes && phrase.length > 0 ? { kind: 'tool', verb: 'get', noun: phrase.at(-1)!, category: 'read' } : { kind: 'none' };
    }
  }
  const verb = VERB_ALIASES[ws[at]!] ?? ws[at]!;
  const category = CATEGORY_OF_VERB[verb];
  if (category === undefined) return { kind: 'none' };
  // Without an object ("Click Create.") the step completes the operation the previous steps set up.
  return { kind: 'tool', verb, noun: nounPhrase(ws, at + 1).at(-1) ?? fallbackNoun, category };
}

/** The tool name a step maps to, e.g. create_bucket; "login" for signing in. */
export function toolNameOf(a: Extract<StepAction, { kind: 'tool' }>): string {
  return a.category === 'login' ? 'login' : `${a.verb}_${a.noun}`;
}

/** A tool's category from its name's first word (unknown verbs act like updates). */
export function categoryOfToolName(name: string): ToolCategory {
  const verb = name.split('_')[0]!;
  return CATEGORY_OF_VERB[VERB_ALIASES[verb] ?? verb] ?? 'update';
}

/** The object noun of a tool name: create_bucket -> bucket; "" for login. */
export function nounOfToolName(name: string): string {
  return name.split('_').slice(1).join('_');
}

export function isWriteCategory(c: ToolCategory): boolean {
  return c === 'create' || c === 'update' || c === 'delete';
}
