// Usage: node bench/reliability/gen-corpus.mjs <out.jsonl> <n> <seed> [--with-samples]
// Writes bench/corpus.ts's generated corpus (writeCorpus) and optionally appends examples/corpus.jsonl.
import { appendFile, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
const root = resolve(import.meta.dirname, '../..');
const { writeCorpus } = await import(resolve(root, 'dist/bench/corpus.js'));
const [out, n, seed] = process.argv.slice(2);
const stats = await writeCorpus(out, Number(n), Number(seed));
if (process.argv.includes('--with-samples')) {
  await appendFile(out, await readFile(resolve(root, 'examples/corpus.jsonl'), 'utf8'));
}
console.log(JSON.stringify(stats));
