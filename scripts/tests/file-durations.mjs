// Writes tests/file-durations.json from a vitest JSON report: each test file's wall time (s) in that run.
// tests/sequencer.ts starts the longest files first, so that on 2 workers the short ones fill the end.
//   npx vitest run --reporter=json --outputFile=/tmp/vitest.json && node scripts/tests/file-durations.mjs /tmp/vitest.json
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const report = JSON.parse(readFileSync(process.argv[2] ?? '/tmp/vitest.json', 'utf8'));
const out = {};
for (const t of [...report.testResults].sort((a, b) => b.endTime - b.startTime - (a.endTime - a.startTime))) {
  out[relative(root, t.name)] = Math.round((t.endTime - t.startTime) / 100) / 10;
}
writeFileSync(resolve(root, 'tests/file-durations.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`tests/file-durations.json: ${Object.keys(out).length} files, ${Object.values(out).reduce((a, b) => a + b, 0).toFixed(0)} s in all`);
