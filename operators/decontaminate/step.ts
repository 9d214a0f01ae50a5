import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { trajectoryId } from '../../src/steps/ids.js';
import { type TrajectoryItem, defineStepType, dropped, rejected } from '../../src/steps/step.js';
import { indexBfcl, indexJsonl } from './benchmarks.js';
import { ContaminationIndex } from './contamination-index.js';

const Benchmark = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('bfcl'),
    /** bfcl_eval/data of the bfcl-eval package, or .cache/bfcl/data (scripts/bfcl/fetch.sh). */
    path: z.string().min(1),
    name: z.string().min(1).default('bfcl'),
  }),
  z.strictObject({
    type: z.literal('jsonl'),
    path: z.string().min(1),
    name: z.string().min(1),
    idField: z.string().min(1).default('id'),
    textField: z.string().min(1).default('text'),
  }),
]);

export const DecontaminateConfig = z.strictObject({
  benchmarks: z.array(Benchmark).min(1),
  /** n-gram length in words, on normalised text (NFKC, lower case, letters and digits). */
  ngram: z.number().int().min(3).max(64).default(13),
  /** Matching n-grams (or whole short messages) that make a trajectory contaminated. */
  minMatches: z.number().int().positive().default(1),
  /** Reference texts shorter than `ngram` words but at least this long are matched as whole messages. */
  minWords: z.number().int().positive().default(8),
  /** Also drop a trajectory whose tool names are exactly a benchmark item's (or API's) tool set. */
  toolSets: z.boolean().default(true),
  /** Tool sets smaller than this are ignored. */
  minTools: z.number().int().positive().default(3),
  /** The report, a JSONL file in the run's state folder (or an absolute path). */
  report: z.string().min(1).default('contamination.jsonl'),
});
export type DecontaminateConfig = z.infer<typeof DecontaminateConfig>;

/** Builds the index of a step's benchmarks (once, when the step is created). */
export async function buildIndex(c: DecontaminateConfig): Promise<{ index: ContaminationIndex; items: Record<string, number> }> {
  const index = new ContaminationIndex({ ngram: c.ngram, minWords: c.minWords, minTools: c.toolSets ? c.minTools : Number.MAX_SAFE_INTEGER });
  const items: Record<string, number> = {};
  for (const b of c.benchmarks) {
    const n = b.type === 'bfcl' ? await indexBfcl(index, b.path, b.name) : await indexJsonl(index, b.path, b);
    items[b.name] = (items[b.name] ?? 0) + n;
  }
  return { index, items };
}

/**
 * Decontamination: drops (`contaminated`) a trajectory whose user or assistant text shares an n-gram
 * (13 words by default) with a reference benchmark, or whose tool names are exactly a benchmark's tool
 * set, and appends what it hit (trajectory, document, benchmark item ids, the matching span) to the
 * report in the state folder. Place it among the trajectory steps, before stats (the default list
 * puts it there when `decontaminate:` is set). The index is built once at start.
 */
export const decontaminateStep = defineStepType({
  type: 'decontaminate',
  description: 'CPU: drops trajectories overlapping reference benchmarks (n-grams, tool sets); reports them',
  input: 'trajectory',
  output: 'trajectory',
  config: DecontaminateConfig,
  async create(c, env) {
    const { index, items } = await buildIndex(c);
    const size = index.size;
    env.log.info('decontamination index built', { step: env.id, benchmarks: items, ngrams: size.ngrams, shortTexts: size.shortTexts, toolSets: size.toolSets });
    const report = isAbsolute(c.report) ? c.report : join(env.stateDir ?? '.gemflow', c.report);
    mkdirSync(dirname(report), { recursive: true });
    return {
      process(item: TrajectoryItem) {
        const t = item.trajectory;
        if (!t) return rejected('no_trajectory', `${env.id} needs a trajectory`);
        const texts: string[] = [];
        for (const m of t.messages) if ((m.role === 'user' || m.role === 'assistant') && m.content !== '') texts.push(m.content);
        const hit = index.check(texts, t.tools.map((x) => x.name), c.minMatches);
        if (!hit) return [item];
        const doc = item.doc;
        const line = {
          trajectoryId: trajectoryId(doc, item.index, item.producer),
          documentId: doc.id,
          kind: hit.kind,
          hits: hit.hits,
          benchmark: hit.items[0]!.benchmark,
          itemIds: hit.items.map((i) => i.id),
          sample: hit.sample.slice(0, 500),
          step: env.id,
          at: new Date().toISOString(),
        };
        appendFileSync(report, JSON.stringify(line) + '\n');
        return dropped('contaminated');
      },
    };
  },
});
