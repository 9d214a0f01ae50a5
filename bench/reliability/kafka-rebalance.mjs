// Rebalance costs on real Kafka, two `gemflow run` workers in one consumer group, one shared simulator:
//   node bench/reliability/kafka-rebalance.mjs <checkout root> <bootstrap host:port> <join|kill> [timeScale=0.02] [workdir] [kills=1] [documents=1500]
// A fresh 6-partition topic holds a 1,500-document corpus (bench/corpus.ts, as drain.mjs); each worker
// has its own state directory (own LLM cache, as pods with an emptyDir) and they share the output.
//   join: A starts, B starts 3.1 s after A got its partitions (the issue's measurement), both run until
//         the group has committed the topic to its end (SIGTERM). Paid twice = distinct requests the
//         simulator answered usably more than once, over distinct requests answered.
//   kill: A and B start together; 20 s after both hold partitions, kill -9 A and restart it 2 s later
//         (a pod restart). Time from the kill to the first new durable shard of a partition A owned.
//         With kills > 1, the restarted A is killed the same way 20 s after the two split again, and so
//         on (a larger corpus keeps the run going: documents=4000 for 3 kills).
// Config: the checkout's defaults (session timeout, settle window, llm.maxDocsInFlight 256) but for
// sink.maxAgeMs 2000, and llm.maxDocsInFlight 16 in `kill` (so the run lasts past the kill).
// KR_SOURCE adds source settings (e.g. KR_SOURCE='sessionTimeoutMs: 6000'); KR_SINK replaces the sink's
// (default 'maxAgeMs: 2000'; e.g. KR_SINK='maxAgeMs: 60000' for the shipped shard age).
// KR_STATE sets the state store (e.g. KR_STATE='backend: redis, url: "redis://127.0.0.1:6379"': both
// workers share it; default each its own SQLite). KR_JOIN_DELAY_MS: how long after A holds partitions B
// starts in `join` (default 3100; past A's settle window, source.settleMs 5 s, A has started LLM work).
// Prints one JSON line.
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const [rootArg, bootstrap, scenario, timeScale = '0.02', workArg, killsArg = '1', docsArg = '1500'] = process.argv.slice(2);
const kills = Number(killsArg);
if (!rootArg || !bootstrap || !['join', 'kill'].includes(scenario)) throw new Error('usage: kafka-rebalance.mjs <root> <bootstrap> <join|kill> [timeScale] [workdir] [kills] [documents]');
const root = resolve(rootArg);
const here = resolve(import.meta.dirname, '../..');
const work = resolve(workArg ?? `/tmp/gemflow-rebalance/${scenario}-${Date.now()}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bin = join(root, 'bin/gemflow.js');
const { Kafka, logLevel } = await import(join(here, 'node_modules/kafkajs/index.js'));

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const corpus = join(work, 'corpus.jsonl');
execFileSync(process.execPath, [join(here, 'bench/reliability/gen-corpus.mjs'), corpus, docsArg, '7']);
const topic = `rebalance-${scenario}-${Date.now()}`;
const groupId = `${topic}-group`;
execFileSync(process.execPath, [bin, 'produce', corpus, '--topic', topic, '--partitions', '6', '--brokers', bootstrap], { stdio: 'ignore' });

const sim = spawn(process.execPath, [bin, 'simulate', '--port', '0', '--time-scale', timeScale], { stdio: ['ignore', 'pipe', 'inherit'] });
const simUrl = await new Promise((res) => {
  let text = '';
  sim.stdout.on('data', (d) => {
    text += d;
    const m = /"urls":\["([^"]+)"/.exec(text);
    if (m) res(m[1]);
  });
});
// On any exit (a throw included) take the simulator and the workers down with the script.
process.on('exit', () => {
  for (const w of workers) writeFileSync(join(work, `${w.name}.log`), w.stderr);
  for (const c of [sim, ...workers.map((w) => w.child)]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
const out = join(work, 'out');
async function pipeline(name) {
  const cfg = join(work, `${name}.yaml`);
  await writeFile(cfg, [
    `source: { type: kafka, brokers: ["${bootstrap}"], topics: [${topic}], groupId: ${groupId}, clientId: ${name}, commitIntervalMs: 500${process.env.KR_SOURCE ? `, ${process.env.KR_SOURCE}` : ''} }`,
    `relevance: { threads: 0 }`,
    `llm: { endpoints: [{ url: "${simUrl}" }]${scenario === 'kill' ? ', maxDocsInFlight: 16' : ''} }`,
    `sink: { dir: ${out}, ${process.env.KR_SINK ?? 'maxAgeMs: 2000'} }`,
    `stateDir: ${join(work, `state-${name}`)}`,
    ...(process.env.KR_STATE ? [`state: { ${process.env.KR_STATE} }`] : []),
    `logIntervalMs: 1000`,
  ].join('\n') + '\n');
  return cfg;
}
const workers = [];
function start(name, cfg) {
  const child = spawn(process.execPath, [bin, 'run', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  const w = { name, child, stderr: '', startedAt: Date.now() };
  child.stderr.on('data', (d) => (w.stderr += d));
  w.done = new Promise((res) => child.on('close', (code, signal) => res({ code, signal })));
  workers.push(w);
  return w;
}
/** Partitions a worker holds now, from its "kafka partitions changed" log lines. */
function owned(w) {
  const held = new Set();
  for (const m of w.stderr.matchAll(/kafka partitions changed .*?assigned=(\S*) revoked=(\S*)/g)) {
    for (const p of m[1].split(',').filter(Boolean)) held.add(p);
    for (const p of m[2].split(',').filter(Boolean)) held.delete(p);
  }
  return held;
}

const kafka = new Kafka({ clientId: 'bench', brokers: [bootstrap], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
async function caughtUp() {
  const ends = await admin.fetchTopicOffsets(topic);
  const [c] = await admin.fetchOffsets({ groupId, topics: [topic] }).catch(() => [undefined]);
  return ends.every((e) => Number(e.high) === 0 || Number(c?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1) >= Number(e.high));
}
async function stopAll(timeoutMs) {
  const t0 = Date.now();
  while (!(await caughtUp())) {
    if (Date.now() - t0 > timeoutMs) throw new Error('the group did not catch up in time');
    await sleep(500);
  }
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  return Promise.all(workers.map((w) => w.done));
}
const shardNames = async () => new Set((await readdir(join(out, 'data')).catch(() => [])).filter((n) => n.endsWith('.parquet')));

const result = { root, scenario, timeScale: Number(timeScale), topic };
const cfgA = await pipeline('a');
const cfgB = await pipeline('b');
if (scenario === 'join') {
  const a = start('a', cfgA);
  while (owned(a).size === 0) await sleep(50);
  await sleep(Number(process.env.KR_JOIN_DELAY_MS ?? 3100));
  start('b', cfgB);
  result.exits = await stopAll(1_200_000);
} else {
  start('a', cfgA);
  const b = start('b', cfgB);
  result.kills = [];
  for (let k = 1; k <= kills; k++) {
    const a = workers.filter((w) => w.name.startsWith('a')).at(-1);
    const t0 = Date.now();
    while (owned(a).size === 0 || owned(b).size === 0 || owned(a).size === 6) {
      if (Date.now() - t0 > 120_000) throw new Error('the two workers never split the partitions');
      await sleep(200);
    }
    await sleep(20_000);
    if (await caughtUp()) break; // nothing left to replay: a kill would measure nothing
    const lost = [...owned(a)];
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.done;
    const before = await shardNames(); // listed once A is gone: whatever appears later is another worker's
    await sleep(2000);
    const next = start(`a${k + 1}`, cfgA);
    // The shard name begins with "<topic>-<partition>-": a new one for a partition A held is its next durable write.
    const prefixes = lost.map((p) => `${p.replace('/', '-')}-`);
    let firstWriteS;
    while (firstWriteS === undefined && Date.now() - killedAt < 180_000) {
      for (const n of await shardNames()) if (!before.has(n) && prefixes.some((p) => n.startsWith(p))) firstWriteS = (Date.now() - killedAt) / 1000;
      await sleep(200);
    }
    // Where the time went, from the workers' log lines (ISO timestamps): the restarted worker's "run
    // started", and the first assignment after the kill of a partition the killed worker held.
    const at = (re, w) => {
      for (const m of w.stderr.matchAll(re)) {
        const t = Date.parse(m[1]);
        if (t > killedAt) return t;
      }
    };
    const reassigned = Math.min(...[next, b].map((w) => {
      for (const m of w.stderr.matchAll(/^(\S+) info kafka partitions changed .*?assigned=(\S*)/gm)) {
        const t = Date.parse(m[1]);
        if (t > killedAt && m[2].split(',').some((p) => lost.includes(p))) return t;
      }
      return Infinity;
    }));
    const startedAt = at(/^(\S+) info run started/gm, next);
    result.kills.push({
      partitionsOfKilled: lost, killToNextDurableWriteS: firstWriteS,
      killToRestartedRunStartedS: startedAt && +((startedAt - killedAt) / 1000).toFixed(1),
      killToReassignedS: Number.isFinite(reassigned) ? +((reassigned - killedAt) / 1000).toFixed(1) : undefined,
      load1m: Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]),
    });
  }
  result.killToNextDurableWriteS = result.kills.map((x) => x.killToNextDurableWriteS);
  result.exits = await stopAll(1_200_000);
}
const stats = await (await fetch(`${simUrl}/sim/stats`)).json();
const usable = stats.requests.byStatus['200'] ?? 0;
result.sim = { requests: stats.requests.total, answeredDistinct: stats.calls.answered, answeredRepeatedKeys: stats.calls.answeredRepeated, http200: usable, abortedGenerations: stats.abortedGenerations };
result.paidTwicePct = +((100 * stats.calls.answeredRepeated) / Math.max(1, stats.calls.answered)).toFixed(2);
const m = JSON.parse(await readFile(join(out, '_gemflow', 'manifest.json'), 'utf8'));
result.funnel = { received: m.funnel.documents.received, written: m.funnel.documents.written, abandoned: m.funnel.documents.abandoned, balanced: m.funnel.balanced };
result.assignments = Object.fromEntries(workers.map((w) => [w.name, [...w.stderr.matchAll(/kafka partitions changed .*?assigned=(\S*) revoked=(\S*)/g)].map((x) => `+${x[1]} -${x[2]}`)]));
// Rows written twice, read back by DuckDB: rows beyond the first of each trajectory id.
const { DuckDBInstance } = await import(join(here, 'node_modules/@duckdb/node-api/lib/index.js'));
const duck = await (await DuckDBInstance.create()).connect();
const dup = (await duck.runAndReadAll(`select count(*)::int as n, count(distinct trajectory_id)::int as d from read_parquet('${join(out, 'data')}/*.parquet')`)).getRowObjects()[0];
result.rows = dup.n;
result.duplicateRows = dup.n - dup.d;
for (const w of workers) await writeFile(join(work, `${w.name}.log`), w.stderr);
console.log(JSON.stringify(result));
await admin.disconnect();
sim.kill('SIGTERM');
