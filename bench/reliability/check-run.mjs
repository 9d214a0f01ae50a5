// Accounts for every input record of one `gemflow run` over files, from the outside:
//   node bench/reliability/check-run.mjs <corpus.jsonl> <out dir> <run stderr log> <exit code> [wall s]
// Input records (by line) are matched against the rows in the shards (read back with DuckDB), the
// dead letters (by origin line) and the manifest's dropped / rejected counts. LOST = records that are
// neither written nor dead-lettered, beyond the number the manifest says were dropped or rejected.
// The records not written are also classified from the corpus itself (bench/corpus.ts makes news-like
// "Report N" pages, which relevance drops, and verbatim copies, of which dedupe keeps one), so a drop count
// that happens to match cannot hide a procedural page that vanished. Prints one JSON object.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const [corpus, out, logPath, exitCode, wall] = process.argv.slice(2);
const lines = (await readFile(corpus, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
const log = await readFile(logPath, 'utf8').catch(() => '');
const manifest = JSON.parse(await readFile(join(out, '_gemflow', 'manifest.json'), 'utf8'));
const dead = (await readFile(join(out, '_gemflow', 'dead-letters.jsonl'), 'utf8').catch(() => ''))
  .split('\n').filter(Boolean).map((l) => JSON.parse(l));

const db = await (await DuckDBInstance.create(':memory:')).connect();
const q = async (sql) => (await db.runAndReadAll(sql)).getRowObjects();
const glob = join(out, 'data', '*.parquet').replaceAll("'", "''");
let rows = [];
try {
  rows = await q(`SELECT origin_offset AS off, document_id AS id, count(*) AS n, count(DISTINCT trajectory_id) AS t FROM read_parquet('${glob}') GROUP BY 1, 2`);
} catch (e) {
  if (!/No files found/.test(String(e))) throw e;
}
const [dupTraj] = rows.length ? await q(`SELECT count(*) - count(DISTINCT trajectory_id) AS d FROM read_parquet('${glob}')`) : [{ d: 0n }];

const writtenAt = new Map(rows.map((r) => [Number(r.off), String(r.id)]));
const deadAt = new Map(dead.map((d) => [Number(d.origin?.offset), d]));
const f = manifest.funnel.documents;
const sum = (o) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);

// A text that occurs more than once: either copy may be the one dedupe keeps (documents reach it concurrently).
const occurrences = new Map();
for (const d of lines) occurrences.set(d.text, (occurrences.get(d.text) ?? 0) + 1);
const notWritten = { narrative: 0, copy: 0, sample: 0, procedural: 0 };
const suspects = [];
let wrongId = 0;
lines.forEach((d, off) => {
  const isGen = String(d.id).startsWith('bench-');
  const copy = occurrences.get(d.text) > 1;
  if (writtenAt.has(off)) {
    if (writtenAt.get(off) !== String(d.id)) wrongId++;
    return;
  }
  if (deadAt.has(off)) return;
  if (!isGen) notWritten.sample++;
  else if (copy) notWritten.copy++;
  else if (/^Report \d+\n/.test(d.text)) notWritten.narrative++;
  else (notWritten.procedural++, suspects.push(d.id));
});
const residual = lines.length - [...writtenAt.keys()].filter((o) => o < lines.length).length - [...deadAt.keys()].filter((o) => !writtenAt.has(o)).length;
const droppedOrRejected = sum(f.dropped) + sum(f.rejected);
const ejectLines = log.split('\n').filter((l) => l.includes('inference replica state changed'));
const result = {
  exit: Number(exitCode),
  wallS: wall === undefined ? undefined : Number(wall),
  ejections: ejectLines.filter((l) => /state=open\b/.test(l)).length,
  replicaStateChanges: ejectLines.length,
  input: lines.length,
  received: f.received,
  written: f.written,
  writtenInShards: writtenAt.size,
  dropped: sum(f.dropped),
  droppedBy: f.dropped,
  rejected: sum(f.rejected),
  deadLettered: sum(f.deadLettered),
  deadLetterFile: dead.length,
  abandoned: f.abandoned,
  balanced: manifest.funnel.balanced,
  trajectories: manifest.funnel.trajectories.written,
  rowsInShards: rows.reduce((a, r) => a + Number(r.n), 0),
  duplicateTrajectoryIds: Number(dupTraj.d),
  rowsWithWrongDocumentId: wrongId,
  notWrittenNorDead: residual,
  notWrittenByKind: notWritten,
  lost: Math.max(0, residual - droppedOrRejected),
  unexplainedProcedural: suspects.slice(0, 20),
  stoppedEarly: (log.match(/run stopped early: .*/) ?? [undefined])[0],
};
console.log(JSON.stringify(result));
