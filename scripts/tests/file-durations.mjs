// Writes tests/file-durations.json: each test file's duration (s) in the last `npm test`, from vitest's own
// result cache (node_modules/.vite/vitest/<hash>/results.json: the file's whole time, its beforeAll /
// afterAll hooks included; a JSON report's per-file times leave the hooks out, e.g. the 2 min `npm ci` of
// tests/deploy/image-replay.test.ts). tests/sequencer.ts starts the longest files first, so that on 2
// workers the short ones fill the end.
//   npm test && node scripts/tests/file-durations.mjs [results.json]
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
let path = process.argv[2];
if (!path) {
  // One folder per vitest config hash: the most recently written cache is the last run's.
  const dir = join(root, 'node_modules/.vite/vitest');
  const caches = readdirSync(dir).map((h) => join(dir, h, 'results.json')).filter((p) => existsSync(p));
  path = caches.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!path) throw new Error(`no vitest result cache under ${dir}: run npm test first`);
}
const { results } = JSON.parse(readFileSync(path, 'utf8'));
const out = {};
for (const [key, r] of results.sort((a, b) => b[1].duration - a[1].duration)) out[key.replace(/^[^:]*:/, '')] = Math.round(r.duration / 100) / 10;
writeFileSync(join(root, 'tests/file-durations.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`tests/file-durations.json from ${path}: ${Object.keys(out).length} files, ${Object.values(out).reduce((a, b) => a + b, 0).toFixed(0)} s in all`);
