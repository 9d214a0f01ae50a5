import { stringify } from 'yaml';
import type { RunManifest, Tally } from './manifest.js';
import { OUTPUT_COLUMNS, STAT_COLUMNS, type OutputColumnType, type StatHistogram } from './output-columns.js';
import { CARD_DIR, DATA_DIR, DATASET_CONFIG_PATH, SHARD_SUFFIXES, type ShardFormat, type ShardIndex } from './shard-index.js';

/**
 * The dataset card of an output, rebuilt at the end of every run from the merged manifest and the
 * shards' indexes (which carry each shard's statistic histograms):
 *
 * - `.huggingface.yaml` (top of the output): the Hugging Face dataset config, `configs` with
 *   `data_files: data/*.<format>` and `dataset_info.features`. `datasets.load_dataset(<output>)`
 *   merges it into the card metadata, so it reads exactly the shards. It is a dot-file because
 *   pyarrow / pandas / Spark read every other top-level file as data: a `README.md` at the top would
 *   make `pyarrow.dataset.dataset(<output>)` fail (measured, see the README's Output section).
 * - `_gemflow/card/README.md`: the card itself, the same YAML as front matter, then the funnel, tokens,
 *   the complexity statistics table beside GEM's reported figures, the schema, and SVG histograms
 *   (`_gemflow/card/<column>.svg`) of the main statistics.
 */

/** GEM's reported averages per refined trajectory (arXiv 2601.10355), beside the run's figures. */
const GEM_REPORTED: Record<string, number> = { n_messages: 46.1, distinct_tools: 8.6, tool_calls: 16.3 };

/** Statistics drawn as histograms. */
const HISTOGRAMS = ['n_messages', 'tool_calls', 'distinct_tools', 'tokens', 'complexity_score'];

const FEATURE_DTYPE: Record<OutputColumnType, string> = { UTF8: 'string', INT32: 'int32', INT64: 'int64', DOUBLE: 'float64' };

export interface CardInput {
  /** A name for the title (the output directory's last part). */
  name: string;
  format: ShardFormat;
  manifest: RunManifest;
  indexes: ShardIndex[];
}

/** Path relative to the output -> content, for every file of the card. */
export function datasetCardFiles(input: CardInput): Record<string, string> {
  const config = datasetConfig(input.format);
  const merged = mergeHistograms(input.indexes);
  const files: Record<string, string> = { [DATASET_CONFIG_PATH]: stringify(config) };
  const drawn: string[] = [];
  for (const col of HISTOGRAMS) {
    const h = merged.stats[col];
    if (!h || total(h) === 0) continue;
    files[`${CARD_DIR}/${col}.svg`] = histogramSvg(col, h);
    drawn.push(col);
  }
  files[`${CARD_DIR}/README.md`] = cardMarkdown(input, config, merged, drawn);
  return files;
}

/** The Hugging Face dataset config of an output of `format`. */
export function datasetConfig(format: ShardFormat): Record<string, unknown> {
  return {
    configs: [{ config_name: 'default', data_files: [{ split: 'train', path: `${DATA_DIR}/*${SHARD_SUFFIXES[format]}` }] }],
    dataset_info: { features: OUTPUT_COLUMNS.map((c) => ({ name: c.name, dtype: FEATURE_DTYPE[c.type] })) },
  };
}

interface Merged {
  rows: number;
  shards: number;
  /** Shards whose index has no histograms (written before them). */
  shardsWithoutStats: number;
  stats: Record<string, StatHistogram>;
}

function mergeHistograms(indexes: ShardIndex[]): Merged {
  const out: Merged = { rows: 0, shards: indexes.length, shardsWithoutStats: 0, stats: {} };
  for (const i of indexes) {
    out.rows += i.rows;
    if (!i.stats) {
      out.shardsWithoutStats++;
      continue;
    }
    for (const [col, h] of Object.entries(i.stats)) {
      const m = (out.stats[col] ??= { sum: 0, counts: {} });
      m.sum += h.sum;
      for (const [k, n] of Object.entries(h.counts)) m.counts[k] = (m.counts[k] ?? 0) + n;
    }
  }
  return out;
}

const total = (h: StatHistogram) => Object.values(h.counts).reduce((a, n) => a + n, 0);

/** Sorted [value, count] pairs of a histogram. */
const entries = (h: StatHistogram) => Object.entries(h.counts).map(([k, n]) => [Number(k), n] as const).sort((a, b) => a[0] - b[0]);

/** The value at rank ceil(p x n) (the same rule as operators/stats summarizeStats). */
export function percentile(h: StatHistogram, p: number): number {
  const n = total(h);
  const rank = Math.max(1, Math.ceil(p * n));
  let seen = 0;
  for (const [v, c] of entries(h)) {
    seen += c;
    if (seen >= rank) return v;
  }
  return 0;
}

/** Mean, p50 and p90 of each statistic column. */
export function statsTable(stats: Record<string, StatHistogram>): { column: string; mean: number; p50: number; p90: number; gem?: number }[] {
  return STAT_COLUMNS.filter((c) => stats[c.name] && total(stats[c.name]!) > 0).map((c) => {
    const h = stats[c.name]!;
    return { column: c.name, mean: round(h.sum / total(h), 2), p50: percentile(h, 0.5), p90: percentile(h, 0.9), ...(GEM_REPORTED[c.name] !== undefined && { gem: GEM_REPORTED[c.name] }) };
  });
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const sumTally = (t: Tally | undefined) => Object.values(t ?? {}).reduce((a, n) => a + n, 0);
const tally = (t: Tally | undefined) => (sumTally(t) === 0 ? '0' : `${sumTally(t)} (${Object.entries(t!).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ')})`);

function cardMarkdown(input: CardInput, config: Record<string, unknown>, merged: Merged, drawn: string[]): string {
  const m = input.manifest;
  const d = m.funnel.documents;
  const t = m.funnel.trajectories;
  const front = stringify({ ...config, tags: ['tool-use', 'function-calling', 'synthetic', 'gemflow'], task_categories: ['text-generation'], pretty_name: input.name });
  const lines = [
    '---',
    front.trimEnd(),
    '---',
    '',
    `# ${input.name}`,
    '',
    `Multi-turn tool-use trajectories made by [gemflow](https://arxiv.org/abs/2601.10355) (the GEM method): ${merged.rows} rows in ${merged.shards} ${input.format === 'arrow' ? 'Arrow IPC' : 'Parquet'} shards under \`data/\`, from ${m.runs?.length ?? 1} run(s), ${m.startedAt} to ${m.finishedAt}.`,
    ...(m.simulated ? ['', '**Simulated:** at least one run used gemflow\'s bundled vLLM simulator (a test double); these trajectories are not model output.'] : []),
    '',
    'This card lives at `_gemflow/card/README.md` (a `README.md` at the top of the output would stop pyarrow and pandas from opening the directory); `.huggingface.yaml` at the top holds the same dataset config. To publish on the Hugging Face Hub, copy this file and its SVGs to the top of the repository.',
    '',
    '## Load',
    '',
    '```python',
    'import json, datasets',
    `ds = datasets.load_dataset("path/to/${input.name}", split="train")   # the output directory`,
    'row = ds[0]',
    'messages, tools = json.loads(row["messages"]), json.loads(row["tools"])   # OpenAI / Hugging Face chat format',
    '# chat templates take tool-call arguments as objects:',
    'for m in messages:',
    '    for c in m.get("tool_calls", []):',
    '        c["function"]["arguments"] = json.loads(c["function"]["arguments"])',
    'text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)',
    '```',
    '',
    '## Funnel',
    '',
    ...((m.runs?.length ?? 1) > 1
      ? [
          `Summed over the ${m.runs!.length} runs that wrote this output. A record a run left unfinished (stopped before its offset was committed) is read again by the next run and counted in both (as abandoned in the first); documents already written are not written again (dropped as already_written).`,
          ...(m.runs!.some((r) => r.provisional)
            ? ['', `${m.runs!.filter((r) => r.provisional).length} of the runs have no final record (still running, or killed): their books count the documents they had committed when the record was last refreshed; what they had not committed is counted by the run that read it again.`]
            : []),
          '',
        ]
      : []),
    '| | count |',
    '|---|---|',
    `| documents received | ${d.received} |`,
    `| documents written | ${d.written} |`,
    `| documents dropped | ${tally(d.dropped)} |`,
    `| documents rejected | ${tally(d.rejected)} |`,
    `| documents dead-lettered | ${tally(d.deadLettered)} |`,
    ...((d.abandoned ?? 0) > 0 ? [`| documents abandoned (unfinished when a run stopped; read again by the next run) | ${d.abandoned} |`] : []),
    `| trajectories generated | ${t.generated} |`,
    `| trajectories written | ${t.written} |`,
    `| trajectories rejected | ${tally(t.rejected)} |`,
    `| trajectories dropped | ${tally(t.dropped)} |`,
    ...(merged.rows > t.written
      ? [
          '',
          `The shards hold ${merged.rows} rows and the funnel counts ${t.written} trajectories written: a run killed before it finished (kill -9, out of memory) had made shards durable that it had not committed yet; the run that read those documents again found them written and counted them as dropped (already_written), or a run still going has written shards its record does not count yet.`,
        ]
      : []),
    '',
    '## Tokens',
    '',
    '| stage | LLM calls | prompt tokens | completion tokens |',
    '|---|---|---|---|',
    ...Object.entries(m.tokens).map(([stage, u]) => `| ${stage} | ${u.calls ?? ''} | ${u.promptTokens} | ${u.completionTokens} |`),
    '',
    '## Complexity statistics',
    '',
    `Per trajectory, over the rows of the shards${merged.shardsWithoutStats ? ` (${merged.shardsWithoutStats} shards written before shard statistics were kept are not counted)` : ''}; GEM's figures are its reported means per refined trajectory. Token counts above 1,000 are binned to 3 significant digits for p50 / p90.`,
    '',
    '| statistic | mean | p50 | p90 | GEM (reported mean) |',
    '|---|---|---|---|---|',
    ...statsTable(merged.stats).map((r) => `| ${r.column} | ${r.mean} | ${r.p50} | ${r.p90} | ${r.gem ?? ''} |`),
    '',
    ...drawn.flatMap((c) => [`![${c} histogram](${c}.svg)`, '']),
    '## Schema',
    '',
    'One row per trajectory. `messages` and `tools` are JSON text in OpenAI / Hugging Face chat format; see the gemflow README ("Output") for every column.',
    '',
    '| column | type |',
    '|---|---|',
    ...OUTPUT_COLUMNS.map((c) => `| ${c.name} | ${FEATURE_DTYPE[c.type]}${c.json ? ' (JSON)' : ''} |`),
    '',
  ];
  return lines.join('\n');
}

/** A bar chart of a histogram: one bar per value when there are few, else 24 equal-width bins. */
export function histogramSvg(column: string, h: StatHistogram): string {
  const pairs = entries(h);
  const lo = pairs[0]![0];
  const hi = pairs[pairs.length - 1]![0];
  const integer = pairs.every(([v]) => Number.isInteger(v));
  let bins: { label: string; count: number }[];
  if (integer && hi - lo <= 40) {
    bins = Array.from({ length: hi - lo + 1 }, (_, i) => ({ label: String(lo + i), count: h.counts[String(lo + i)] ?? 0 }));
  } else {
    const n = 24;
    const width = (hi - lo) / n || 1;
    bins = Array.from({ length: n }, (_, i) => ({ label: fmt(lo + i * width), count: 0 }));
    for (const [v, c] of pairs) bins[Math.min(n - 1, Math.floor((v - lo) / width))]!.count += c;
  }
  const W = 640;
  const H = 260;
  const left = 48;
  const bottom = 40;
  const top = 28;
  const plotW = W - left - 12;
  const plotH = H - top - bottom;
  const max = Math.max(...bins.map((b) => b.count));
  const bw = plotW / bins.length;
  const every = Math.ceil(bins.length / 12);
  const bars = bins
    .map((b, i) => {
      const bh = max === 0 ? 0 : (b.count / max) * plotH;
      const x = left + i * bw;
      const label = i % every === 0 ? `<text x="${(x + bw / 2).toFixed(1)}" y="${H - bottom + 14}" text-anchor="middle">${b.label}</text>` : '';
      return `<rect x="${(x + 1).toFixed(1)}" y="${(top + plotH - bh).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="#4c78a8"><title>${b.label}: ${b.count}</title></rect>${label}`;
    })
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${column} (trajectories: ${total(h)})</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${W - 12}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left - 4}" y="${top + 4}" text-anchor="end">${max}</text>`,
    `<text x="${left - 4}" y="${top + plotH}" text-anchor="end">0</text>`,
    bars,
    `<text x="${left + plotW / 2}" y="${H - 6}" text-anchor="middle">${column}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? String(Math.round(v)) : String(Math.round(v * 100) / 100));
