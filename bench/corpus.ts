import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/**
 * The benchmark's corpus: deterministic JSONL documents, mostly procedural how-to pages (each with
 * three numbered step lists, so the simulator finds three workflows per document; with `mix`, one to
 * five lists drawn uniformly, so 1-5 workflows per document), plus a few
 * news-like pages the relevance stage drops and a few verbatim copies the document dedupe drops, so
 * every branch of the funnel is exercised. Each document draws its own product name, objects and
 * numbers, so distinct documents are far below the near-duplicate threshold.
 */

export interface CorpusStats {
  docs: number;
  bytes: number;
  procedural: number;
  narrative: number;
  copies: number;
  /** Step lists in the procedural documents (the workflows the simulator finds, before copies are dropped). */
  workflows: number;
}

/** Share of news-like documents (expected: dropped as irrelevant). */
const NARRATIVE_SHARE = 0.06;
/** Share of verbatim copies of an earlier document (expected: dropped as duplicates). */
const COPY_SHARE = 0.02;

/** mulberry32: a small deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const PRODUCTS = ['Acme', 'Nimbus', 'Orbit', 'Lumen', 'Quill', 'Harbor', 'Vertex', 'Juniper', 'Beacon', 'Cobalt', 'Tandem', 'Willow', 'Summit', 'Pioneer', 'Atlas', 'Meridian'];
const NOUNS = [
  'invoice', 'ticket', 'project', 'bucket', 'order', 'booking', 'report', 'customer', 'device', 'webhook', 'playlist', 'shipment',
  'contract', 'campaign', 'appointment', 'subscription', 'repository', 'dashboard', 'employee', 'warehouse', 'coupon', 'policy',
  'snapshot', 'pipeline', 'calendar', 'license', 'refund', 'survey', 'vehicle', 'recipe', 'course', 'listing',
];
const FIELDS = ['name', 'region', 'due date', 'quantity', 'price', 'owner email', 'priority', 'description', 'start date', 'label'];
/** Step verbs the simulator maps to tool categories (create / read / update / delete / list / search). */
const CREATE = ['Create', 'Add', 'Register', 'Schedule', 'Upload', 'Invite'];
const ACT = ['Update', 'Assign', 'Approve', 'Archive', 'Export', 'Send', 'Share', 'Publish', 'Rename', 'Cancel', 'Verify', 'Restore'];
const TAILS = ['and wait until the status turns green', 'to apply your changes', 'before you continue', 'and confirm the prompt', 'so the team sees it', 'if it is not set yet'];
const RULES = [
  'Only administrators can delete a {n}.',
  'You must confirm the {n} number before you change it.',
  'A {n} cannot be edited after it is archived.',
  'Never share the API key of a {n} with other users.',
];
const SUBJECTS = ['The council', 'Local residents', 'Investors', 'The minister', 'Researchers', 'Witnesses', 'The mayor', 'Analysts'];
const PREDICATES = ['announced a new plan on Tuesday', 'said the results were better than expected', 'reported a sharp rise in costs', 'questioned the timing of the vote'];

function stepList(rnd: () => number, noun: string, id: number): string {
  const field = pick(rnd, FIELDS);
  const other = pick(rnd, NOUNS);
  const steps = [
    `${pick(rnd, CREATE)} a ${noun} named "${noun}-${id}" in the ${pick(rnd, PRODUCTS)} console.`,
    `Enter the ${noun} ${field}, for example ${Math.floor(rnd() * 900) + 100}.`,
    `${pick(rnd, ACT)} the ${noun} ${pick(rnd, TAILS)}.`,
    `${pick(rnd, ACT)} the linked ${other} ${id % 97} ${pick(rnd, TAILS)}.`,
  ];
  if (rnd() < 0.5) steps.push(`Check the ${noun} status on the dashboard.`);
  return steps.map((s, i) => `${i + 1}. ${s}`).join('\n');
}

function proceduralDoc(rnd: () => number, i: number, lists: number): string {
  const product = `${pick(rnd, PRODUCTS)} ${pick(rnd, PRODUCTS)}`;
  const nouns = Array.from({ length: lists }, () => pick(rnd, NOUNS));
  const parts = [
    `Managing ${nouns[0]}s in ${product} (guide ${i})`,
    `This page explains how to work with ${nouns.join(', ')} records in ${product} release ${1 + (i % 9)}.${i % 13}. ` +
      `${pick(rnd, RULES).replace('{n}', nouns[0]!)} Sign in with your account first.`,
  ];
  nouns.forEach((n, k) => parts.push(`To set up a ${n} for team ${(i * 7 + k) % 1000}:`, stepList(rnd, n, i * 3 + k)));
  parts.push(`Then open Settings > ${pick(rnd, FIELDS)} and click Save if anything changed. Ticket ${i}-${Math.floor(rnd() * 1e6)}.`);
  return parts.join('\n\n');
}

function narrativeDoc(rnd: () => number, i: number): string {
  const s = Array.from({ length: 8 }, () => `${pick(rnd, SUBJECTS)} ${pick(rnd, PREDICATES)}, officials said.`);
  return `Report ${i}\n\n${s.join(' ')}`;
}

/**
 * Writes `n` documents as JSONL ({id, text}) to `paths` (document i to paths[i % paths.length]: one
 * file per worker when several share the work). `mix`: 1-5 step lists per procedural document.
 */
export async function writeCorpus(paths: string | string[], n: number, opts: { mix?: boolean; seed?: number } = {}): Promise<CorpusStats> {
  const rnd = prng(opts.seed ?? 7);
  const files = (Array.isArray(paths) ? paths : [paths]).map((p) => createWriteStream(p));
  const stats: CorpusStats = { docs: n, bytes: 0, procedural: 0, narrative: 0, copies: 0, workflows: 0 };
  const texts: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    let text: string;
    if (r < COPY_SHARE && texts.length > 0) {
      text = pick(rnd, texts);
      stats.copies++;
    } else if (r < COPY_SHARE + NARRATIVE_SHARE) {
      text = narrativeDoc(rnd, i);
      stats.narrative++;
    } else {
      const lists = opts.mix ? 1 + Math.floor(rnd() * 5) : 3;
      text = proceduralDoc(rnd, i, lists);
      stats.procedural++;
      stats.workflows += lists;
    }
    if (texts.length < 100) texts.push(text);
    const line = JSON.stringify({ id: `bench-${i}`, text }) + '\n';
    stats.bytes += Buffer.byteLength(line);
    const out = files[i % files.length]!;
    if (!out.write(line)) await once(out, 'drain');
  }
  for (const out of files) {
    out.end();
    await once(out, 'finish');
  }
  return stats;
}
