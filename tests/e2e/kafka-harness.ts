import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { textSection } from '../../operators/extract/safe-section.js';
import { readSection } from '../../src/llm/prompt-sections.js';
import { testKafka } from '../kafka/helpers.js';
import { CORPUS, readRows, runCli, startCli, tempDir, writePipeline, type CliRun } from './harness.js';

/**
 * Helpers for end-to-end tests of `gemflow run` over a real Kafka broker. A Kafka run never ends by
 * itself: tests end it the way an operator ends a batch-style run, with SIGTERM once the group's
 * committed offsets reach the topic's end offsets (`stopWhenCaughtUp`); the CLI then drains and exits 0.
 */

/** The sample corpus's planted copies: which one of a pair survives dedupe depends on reading order. */
const DUPLICATE_PAIRS: Array<[string, string]> = [
  ['git-feature-branch', 'git-feature-branch-copy'],
  ['bank-international-transfer', 'bank-international-transfer-mirror'],
];

/** The id that stands for a document's duplicate group (itself when it has no planted copy). */
export function canonicalId(id: string): string {
  return DUPLICATE_PAIRS.find((p) => p.includes(id))?.[0] ?? id;
}

/** id -> text of the sample corpus. */
export async function corpusTexts(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const l of (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean)) {
    const d = JSON.parse(l) as { id: string; text: string };
    out.set(d.id, d.text);
  }
  return out;
}

/** The document hash the simulator reports for repeated calls: sha256 prefix of the document section as sent. */
export function docHash(text: string): string {
  const sent = readSection(textSection('document', text), 'document')!;
  return createHash('sha256').update(sent).digest('hex').slice(0, 16);
}

let reference: Promise<Set<string>> | undefined;

/**
 * Canonical ids (see canonicalId) of the documents one uninterrupted file run writes from the sample
 * corpus: the relevant documents every Kafka run must write exactly once. Computed once per test file.
 */
export function referenceDocIds(): Promise<Set<string>> {
  reference ??= (async () => {
    const dir = await tempDir('kafka-ref');
    const cfg = await writePipeline(dir, { source: { type: 'files', paths: [CORPUS] }, relevance: { threads: 0 }, sink: { dir: join(dir, 'out') } });
    const run = await runCli(['run', cfg, '--quiet']);
    if (run.code !== 0) throw new Error(`reference run failed: ${run.stderr}`);
    return new Set((await readRows(join(dir, 'out'))).rows.map((r) => canonicalId(String(r.document_id))));
  })();
  return reference;
}

/** `gemflow produce <file> --topic T --partitions N` through the CLI. */
export async function produceWithCli(brokers: string[], topic: string, partitions: number, file = CORPUS): Promise<CliRun> {
  const run = await runCli(['produce', file, '--topic', topic, '--brokers', brokers.join(','), '--partitions', String(partitions)]);
  if (run.code !== 0) throw new Error(`gemflow produce failed (${run.code}): ${run.stderr}`);
  return run;
}

export interface KafkaRunOptions {
  brokers: string[];
  topic: string;
  groupId: string;
  out: string;
  /** llm section; default: the bundled simulator, fast. */
  llm?: Record<string, unknown>;
  source?: Record<string, unknown>;
  sink?: Record<string, unknown>;
  relevance?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/**
 * A pipeline over one topic. Defaults suit tests: a short session timeout and settle window (a killed member's
 * partitions move after seconds, not 30 s) and shards that close within a second (offsets commit
 * only after durable shards, so the group catches up promptly).
 */
export function kafkaPipeline(o: KafkaRunOptions): Record<string, unknown> {
  return {
    source: { type: 'kafka', brokers: o.brokers, topics: [o.topic], groupId: o.groupId, sessionTimeoutMs: 6000, settleMs: 1000, commitIntervalMs: 500, ...o.source },
    relevance: { threads: 0, ...o.relevance },
    llm: o.llm ?? { simulate: true, simulator: { timeScale: 0.01 } },
    sink: { dir: o.out, maxRows: 4, maxAgeMs: 1000, ...o.sink },
    ...o.extra,
  };
}

/**
 * Partition -> [committed offset, end offset] of a group on a topic (committed -1 when none).
 * Retries what the broker says is temporary (e.g. NOT_COORDINATOR while it creates __consumer_offsets).
 */
export async function groupLag(brokers: string[], groupId: string, topic: string): Promise<Map<number, [number, number]>> {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await retryRetriable(() => admin.fetchOffsets({ groupId, topics: [topic] }));
    const out = new Map<number, [number, number]>();
    for (const e of ends) {
      const c = committed?.partitions.find((p) => p.partition === e.partition);
      out.set(e.partition, [Number(c?.offset ?? -1), Number(e.high)]);
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

async function retryRetriable<T>(f: () => Promise<T>, attempts = 40): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= attempts || !(e as { retriable?: boolean }).retriable) throw e;
      await sleep(250);
    }
  }
}

/** True when the group has committed every partition of the topic up to its end (empty partitions need nothing). */
export async function caughtUp(brokers: string[], groupId: string, topic: string): Promise<boolean> {
  for (const [committed, end] of (await groupLag(brokers, groupId, topic)).values()) if (end > 0 && committed < end) return false;
  return true;
}

/** Polls `check` until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** SIGTERMs a running `gemflow run` once its group has caught up with the topic, and returns how it ended. */
export async function stopWhenCaughtUp(run: ReturnType<typeof startCli>, brokers: string[], groupId: string, topic: string, timeoutMs = 60_000): Promise<CliRun> {
  let exited: CliRun | undefined;
  void run.done.then((r) => (exited = r));
  await waitFor(`group ${groupId} to commit ${topic} to its end`, async () => exited !== undefined || (await caughtUp(brokers, groupId, topic)), timeoutMs, 300);
  if (exited) throw new Error(`gemflow run exited early (${exited.code ?? exited.signal}): ${exited.stderr}`);
  run.child.kill('SIGTERM');
  return run.done;
}

/** Members of a consumer group that hold at least one partition. */
export async function assignedMembers(brokers: string[], groupId: string): Promise<number> {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    const g = groups[0];
    if (!g || g.state !== 'Stable') return 0;
    return g.members.filter((m) => m.memberAssignment.length > 0).length;
  } finally {
    await admin.disconnect();
  }
}

export interface OutputDocs {
  /** Document id -> the distinct origins ("kafka:<topic>/<p>@<offset>") of its rows. */
  origins: Map<string, Set<string>>;
  rows: number;
  /** Trajectory ids that occur in more than one row. */
  repeatedTrajectories: string[];
}

/** The documents in the output's shards, read back by DuckDB. */
export async function outputDocs(out: string): Promise<OutputDocs> {
  const { rows } = await readRows(out);
  const origins = new Map<string, Set<string>>();
  const seen = new Set<string>();
  const repeated: string[] = [];
  for (const r of rows) {
    const id = String(r.document_id);
    if (!origins.has(id)) origins.set(id, new Set());
    origins.get(id)!.add(String(r.origin));
    const t = String(r.trajectory_id);
    if (seen.has(t)) repeated.push(t);
    seen.add(t);
  }
  return { origins, rows: rows.length, repeatedTrajectories: repeated };
}

/**
 * Checks "every relevant document exactly once": each written document comes from one record and no
 * trajectory is repeated; the written documents are the reference set (one per duplicate group).
 * Returns a list of problems (empty when the output is right), so a failure shows all of them.
 */
export function exactlyOnceProblems(docs: OutputDocs, expected: Set<string>): string[] {
  const problems: string[] = [];
  for (const [id, o] of docs.origins) if (o.size !== 1) problems.push(`${id} written from ${o.size} records: ${[...o].join(' ')}`);
  if (docs.repeatedTrajectories.length) problems.push(`trajectories written twice: ${docs.repeatedTrajectories.join(' ')}`);
  const byCanonical = new Map<string, string[]>();
  for (const id of docs.origins.keys()) byCanonical.set(canonicalId(id), [...(byCanonical.get(canonicalId(id)) ?? []), id]);
  for (const [c, ids] of byCanonical) {
    if (ids.length > 1) problems.push(`duplicates both written: ${ids.join(' ')}`);
    if (!expected.has(c)) problems.push(`unexpected document written: ${c}`);
  }
  for (const c of expected) if (!byCanonical.has(c)) problems.push(`missing: ${c}`);
  return problems;
}

const exec = promisify(execFile);

/** Resident set size of a process in kB (ps), or undefined once it has exited. */
export async function rssKb(pid: number): Promise<number | undefined> {
  try {
    const { stdout } = await exec('ps', ['-o', 'rss=', '-p', String(pid)]);
    const kb = Number(stdout.trim());
    return Number.isFinite(kb) && kb > 0 ? kb : undefined;
  } catch {
    return undefined; // ps exits 1 when the process is gone
  }
}

/** What a child has written to stderr so far, readable while it runs. */
export function liveStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr!.on('data', (d) => (text += d));
  return () => text;
}
