// Per-mark memory breakdown of rss-curve.mjs outputs (RSS_PROBE=1): one line per mark with the RSS, the main
// isolate's spaces (old: committed and used), external / arrayBuffers, smaps by kind (brk = glibc's main
// arena, anon = the other anonymous mappings: V8 pages of every isolate, thread stacks and arenas) and the
// live data after the last full GC.
//   node bench/reliability/rss-breakdown.mjs <rss-curve output.jsonl>...
import { readFileSync } from 'node:fs';

const f1 = (x) => (x ?? 0).toFixed(1).padStart(5);
for (const file of process.argv.slice(2)) {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const fin = lines.at(-1);
  console.log(`${file}: peak RSS MB up to ${JSON.stringify(fin.peakRssMbUpTo)}, cpu ${fin.cpuS} s, wall ${fin.wallS} s, books balanced ${fin.funnel?.balanced}`);
  console.log('  received   rss peak | heap  old(used)   new code |  ext   ab |  brk  anon  file | afterGc  cpu');
  for (const l of lines.filter((x) => x.progress)) {
    const p = l.probeNow ?? {};
    const sm = p.smaps ?? {};
    console.log(`  ${String(l.received).padStart(8)}  ${String(l.rssMbNow).padStart(4)} ${String(l.peakRssMbSoFar).padStart(4)} | ${f1(p.heapTotal)} ${f1(p.old)}(${f1(p.oldUsed)}) ${f1(p.new)} ${f1(p.code)} | ${f1(p.external)} ${f1(p.arrayBuffers)} | ${f1(sm.brk)} ${f1(sm.anon)} ${f1(sm.file)} | ${f1(l.heapAfterGcMbLast)} ${f1(l.cpuS)}`);
  }
}
