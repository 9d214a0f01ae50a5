// Table of drain.mjs trials: node bench/reliability/drain-summary.mjs <drain.jsonl> <workdir of those trials>
// Documents already past the LLM at the signal (finished, waiting for their shard) are not known directly:
// P = trajectories generated at the signal / trajectories per written document (exact when every written
// document has the same number, as here: 3). Then of the L documents in the LLM stage at the signal,
// the drain finished W - P (W = written by the run; nothing was written before the signal) and abandoned
// L - (W - P); the other abandoned documents had not started their LLM work (left uncommitted by design).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const [jsonl, work] = process.argv.slice(2);
console.log('| trial | burners | load at signal (1m) | in flight at signal | in LLM stage (requests) | past LLM at signal | written by drain | LLM docs finished / abandoned | fraction finished | abandoned (total) | exit | s to exit | books |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))) {
  const m = JSON.parse(readFileSync(join(work, `trial-${r.trial}`, 'out', '_gemflow', 'manifest.json'), 'utf8'));
  const W = r.after.written;
  const perDoc = W > 0 ? m.funnel.trajectories.generated / W : NaN;
  const P = Math.round(r.atSignal.trajectoriesGenerated / perDoc);
  const L = r.atSignal.llmDocs;
  const fin = W - P;
  const load = r.loadAtSignal.match(/load average: ([\d.]+)/)[1];
  console.log(`| ${r.trial} | ${r.burners} | ${load} | ${r.atSignal.inFlight} | ${L} (${r.atSignal.llmRequests}) | ${P} (${r.atSignal.trajectoriesGenerated} traj / ${perDoc.toFixed(2)}) | ${W} | ${fin} / ${L - fin} | ${(fin / L).toFixed(3)} | ${r.after.abandoned} | ${r.exit} | ${r.exitAfterSignalS} | ${r.after.balanced ? 'balance' : 'UNBALANCED'} |`);
}
