import { forEachNgram, hashWords, NgramFilter, wholeKey } from './ngrams.js';

/** A reference item: which benchmark and its id there. */
export interface BenchmarkItem {
  benchmark: string;
  id: string;
}

export interface IndexOptions {
  /** n-gram length in words (13: the common choice). */
  ngram: number;
  /** Reference texts shorter than `ngram` words but at least this long match as a whole message. */
  minWords: number;
  /** Tool sets smaller than this are not indexed (too common to mean anything). */
  minTools: number;
}

/** What a trajectory hit. */
export interface Contamination {
  kind: 'ngram' | 'tool_set';
  /** The benchmark items hit, most hits first (at most 10). */
  items: BenchmarkItem[];
  /** Matching n-grams (or whole messages) in the trajectory; 1 for a tool set. */
  hits: number;
  /** The first matching span of the trajectory's text (or the tool names). */
  sample: string;
}

/**
 * The reference benchmarks, indexed once: n-gram keys of every reference text, whole-text keys of
 * short ones, and exact tool-name sets. A lookup costs O(words of the trajectory): one pass hashing
 * its text, one Map probe per n-gram, no scan of the reference.
 */
export class ContaminationIndex {
  readonly items: BenchmarkItem[] = [];
  /** n-gram key -> item index, or the list of them when several items share it. */
  readonly #grams = new Map<number, number | number[]>();
  /** The keys of #grams, approximately: most n-grams of a clean text are ruled out without a Map probe. */
  readonly #gramFilter = new NgramFilter();
  readonly #whole = new Map<number, number | number[]>();
  readonly #toolSets = new Map<string, number[]>();

  constructor(readonly opts: IndexOptions) {}

  get size(): { items: number; ngrams: number; shortTexts: number; toolSets: number } {
    return { items: this.items.length, ngrams: this.#grams.size, shortTexts: this.#whole.size, toolSets: this.#toolSets.size };
  }

  /** Registers an item; returns its index for addText / addToolSet. */
  addItem(item: BenchmarkItem): number {
    this.items.push(item);
    return this.items.length - 1;
  }

  addText(item: number, text: string): void {
    const w = hashWords(text);
    if (w.n >= this.opts.ngram) {
      forEachNgram(w, this.opts.ngram, (k) => {
        add(this.#grams, k, item);
        this.#gramFilter.add(k);
      });
    }
    else if (w.n >= this.opts.minWords) add(this.#whole, wholeKey(w), item);
  }

  addToolSet(item: number, names: Iterable<string>): void {
    const k = toolSetKey(names);
    if (k.count < this.opts.minTools) return;
    const list = this.#toolSets.get(k.key);
    if (!list) this.#toolSets.set(k.key, [item]);
    else if (list.at(-1) !== item) list.push(item);
  }

  /** The first contamination found in a trajectory's texts (user and assistant messages) and tool names. */
  check(texts: readonly string[], toolNames: readonly string[], minMatches: number): Contamination | undefined {
    if (this.#toolSets.size > 0) {
      const k = toolSetKey(toolNames);
      const hit = this.#toolSets.get(k.key);
      if (hit) return { kind: 'tool_set', items: hit.slice(0, 10).map((i) => this.items[i]!), hits: 1, sample: [...new Set(toolNames)].sort().join(', ') };
    }
    let hits = 0;
    let sample = '';
    let counts: Map<number, number> | undefined;
    const n = this.opts.ngram;
    for (const t of texts) {
      const w = hashWords(t);
      if (w.n >= n) {
        forEachNgram(w, n, (k, at) => {
          const v = this.#grams.get(k);
          if (v === undefined) return;
          hits++;
          if (sample === '') sample = w.text.slice(w.start[at], w.end[at + n - 1]);
          counts = tally(counts, v);
        }, this.#gramFilter);
      } else if (w.n >= this.opts.minWords && this.#whole.size > 0) {
        const v = this.#whole.get(wholeKey(w));
        if (v === undefined) continue;
        hits++;
        if (sample === '') sample = w.text.slice(w.start[0], w.end[w.n - 1]);
        counts = tally(counts, v);
      }
    }
    if (hits < minMatches || !counts) return undefined;
    const items = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 10).map(([i]) => this.items[i]!);
    return { kind: 'ngram', items, hits, sample };
  }
}

function add(m: Map<number, number | number[]>, k: number, item: number): void {
  const v = m.get(k);
  if (v === undefined) m.set(k, item);
  else if (typeof v === 'number') {
    if (v !== item) m.set(k, [v, item]);
  } else if (v.at(-1) !== item) v.push(item);
}

function tally(counts: Map<number, number> | undefined, v: number | number[]): Map<number, number> {
  const c = counts ?? new Map<number, number>();
  if (typeof v === 'number') c.set(v, (c.get(v) ?? 0) + 1);
  else for (const i of v) c.set(i, (c.get(i) ?? 0) + 1);
  return c;
}

/** Tool names, lower-cased and de-duplicated, sorted: one key per set. */
function toolSetKey(names: Iterable<string>): { key: string; count: number } {
  const set = [...new Set([...names].map((s) => s.trim().toLowerCase()))].sort();
  return { key: set.join('\u0000'), count: set.length };
}
