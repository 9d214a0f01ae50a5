// Markdown table of loaded-runs.sh results: node bench/reliability/table.mjs <results.jsonl>
import { readFileSync } from 'node:fs';
const rows = readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const t = (o) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
console.log('| run | load 1m mean / max | wall s | exit | ejections | received | written | dropped | dead-lettered | abandoned | balanced | rows (DuckDB) | not written nor dead (by kind) | lost |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const { run, load, result: r } of rows) {
  console.log(`| ${run} | ${load.loadAvg1mMean} / ${load.loadAvg1mMax} | ${r.wallS.toFixed(0)} | ${r.exit} | ${r.ejections} | ${r.received} | ${r.written} (${r.writtenInShards} in shards) | ${r.dropped} (${t(r.droppedBy)}) | ${r.deadLettered} | ${r.abandoned} | ${r.balanced} | ${r.rowsInShards} | ${r.notWrittenNorDead} (${t(r.notWrittenByKind)}) | ${r.lost} |`);
}
const s = (k) => rows.reduce((a, x) => a + x.result[k], 0);
console.log(`\nTotals over ${rows.length} runs: ejections ${s('ejections')}, lost ${s('lost')}, dead-lettered ${s('deadLettered')}, abandoned ${s('abandoned')}, non-zero exits ${rows.filter((x) => x.result.exit !== 0).length}, unbalanced ${rows.filter((x) => !x.result.balanced).length}.`);
