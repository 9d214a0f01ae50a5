import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIndex, decontaminateStep, DecontaminateConfig } from '../../../operators/decontaminate/step.js';
import type { ContaminationIndex } from '../../../operators/decontaminate/contamination-index.js';
import { hashWords } from '../../../operators/decontaminate/ngrams.js';
import type { Envelope } from '../../../src/envelope.js';
import { chatMessagesOf } from '../../../src/export/chat-rows.js';
import { readRows } from '../../../src/export/read-rows.js';
import type { StepContext, TrajectoryItem } from '../../../src/steps/step.js';
import type { Message, ToolDef } from '../../../src/trajectory.js';
import { CORPUS, readManifest, ROOT, runCli, tempDir, writePipeline } from '../../e2e/harness.js';

/** BFCL multi-turn as scripts/bfcl/fetch.sh extracts it (fetched by scripts/deps.sh before the suite). */
const BFCL = join(ROOT, '.cache/bfcl/data');

interface BfclItem {
  id: string;
  question: Array<Array<{ role: string; content: string }>>;
}

async function bfclItems(): Promise<BfclItem[]> {
  const text = await readFile(join(BFCL, 'BFCL_v4_multi_turn_base.json'), 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as BfclItem);
}

const userTurns = (it: BfclItem) => it.question.flat().filter((m) => m.role === 'user').map((m) => m.content);

/** A trajectory around the given user texts: system, then each user turn answered by the assistant. */
function trajectory(users: string[], tools: string[] = ['lookup_order', 'update_order', 'notify_customer']): { messages: Message[]; tools: ToolDef[] } {
  const messages: Message[] = [{ role: 'system', content: 'You are a support assistant for an online shop.' }];
  for (const u of users) messages.push({ role: 'user', content: u }, { role: 'assistant', content: 'Done; anything else I can help with?' });
  return { messages, tools: tools.map((name) => ({ name, description: `${name} tool`, parameters: { type: 'object', properties: {} } })) };
}

/** A light edit a copier makes: case, punctuation and spacing changed, and (swap) one word swapped in the middle. */
function lightlyEdited(text: string, seed: number, swap = true): string {
  const words = text.split(/\s+/);
  const at = Math.floor(words.length / 2) + (seed % 3) - 1;
  if (swap && words.length > 6) words[at] = 'quickly';
  return words.join('  ').toUpperCase().replace(/[.,?!']/g, ' ');
}

describe('decontamination against BFCL multi-turn', () => {
  let index: ContaminationIndex;
  let items: BfclItem[];
  beforeAll(async () => {
    ({ index } = await buildIndex(DecontaminateConfig.parse({ benchmarks: [{ type: 'bfcl', path: BFCL }] })));
    items = await bfclItems();
  });

  it('indexes every multi-turn category and the APIs', () => {
    const ids = new Set(index.items.map((i) => i.id));
    expect(ids.has('multi_turn_base_0')).toBe(true);
    expect(ids.has('multi_turn_miss_func_199')).toBe(true);
    expect(ids.has('multi_turn_long_context_0')).toBe(true);
    expect(ids.has('api:GorillaFileSystem')).toBe(true);
    expect(index.size.items).toBeGreaterThanOrEqual(800);
  });

  it('catches every planted question verbatim and names its item', () => {
    for (const it of items) {
      const t = trajectory(userTurns(it));
      const hit = index.check(t.messages.filter((m) => m.role !== 'system').map((m) => m.content), t.tools.map((x) => x.name), 1);
      expect(hit, it.id).toBeDefined();
      expect(hit!.kind).toBe('ngram');
      expect(hit!.items.map((i) => i.id)).toContain(it.id);
    }
  });

  it('catches lightly edited questions: all with case, punctuation and spacing changed; most with a word swapped in every turn', () => {
    const caught = (swap: boolean) =>
      items.filter((it, k) => {
        const t = trajectory(userTurns(it).map((u) => lightlyEdited(u, k, swap)));
        const hit = index.check(t.messages.filter((m) => m.role !== 'system').map((m) => m.content), [], 1);
        return hit?.items.some((i) => i.id === it.id);
      }).length / items.length;
    expect(caught(false)).toBe(1);
    // A swapped word breaks every 13-gram across it: what survives are the 13-word runs on either side
    // (measured 0.895 on the 200 base questions; turns under 26 words lose all of theirs).
    expect(caught(true)).toBeGreaterThanOrEqual(0.85);
  });

  it('catches a planted turn inside a longer message of its own', () => {
    const turn = userTurns(items[7]!).sort((a, b) => b.length - a.length)[0]!;
    const t = trajectory([`Hello there. ${turn} Thanks a lot for your help with this.`]);
    const hit = index.check([t.messages[1]!.content], [], 1);
    expect(hit?.items.map((i) => i.id)).toContain(items[7]!.id);
    expect(hit!.sample.length).toBeGreaterThan(20);
  });

  it('catches a copied BFCL tool set exactly, not a partial one', async () => {
    const docs = (await readFile(join(BFCL, 'multi_turn_func_doc/gorilla_file_system.json'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { name: string }).name);
    const hit = index.check(['Please tidy my documents folder.'], docs, 1);
    expect(hit?.kind).toBe('tool_set');
    expect(hit?.items.map((i) => i.id)).toContain('api:GorillaFileSystem');
    expect(index.check(['Please tidy my documents folder.'], docs.slice(0, 4), 1)).toBeUndefined();
  });

  it('passes ordinary text: every document of the sample corpus, and lightly related requests', async () => {
    const docs = (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean).map((l) => String((JSON.parse(l) as { text: string }).text));
    for (const d of docs) expect(index.check(d.split(/\n+/), ['get_booking', 'update_booking', 'send_email'], 1)).toBeUndefined();
    // Same topic as BFCL's file-system questions, own words.
    expect(index.check(['Could you move the quarterly report into a new folder called temp and then compare it with last year\'s version?'], [], 1)).toBeUndefined();
  });

  it('normalises text: NFKC, case, punctuation and spacing do not change the words', () => {
    const a = hashWords('Ｍove ‘final_report.pdf’ — NOW!');
    const a1 = Array.from(a.h1.subarray(0, a.n));
    const b = hashWords('move final report pdf now');
    expect(a1).toEqual(Array.from(b.h1.subarray(0, b.n)));
  });

  it('as a step: drops planted trajectories as contaminated and reports the benchmark ids; passes the others', async () => {
    const dir = await tempDir('decon-step');
    const step = await decontaminateStep.create(DecontaminateConfig.parse({ benchmarks: [{ type: 'bfcl', path: BFCL }] }), {
      id: 'decontaminate',
      stateDir: dir,
      log: { info() {}, warn() {}, error() {}, debug() {} } as never,
      state: () => ({ get: () => undefined, put() {} }),
      onClose() {},
    });
    const doc: Envelope = { id: 'doc-1', text: 'a document', origin: { kind: 'file', partition: 'f', offset: 0, file: 'f', line: 0 }, meta: {}, bytes: 10 };
    const item = (i: number, users: string[]): TrajectoryItem => ({
      kind: 'trajectory',
      doc,
      docNotes: {},
      index: i,
      producer: 'ground',
      text: doc.text,
      workflow: { name: 'w', description: 'd', steps: ['a'], executionGraph: '(a)', exampleActions: [], tools: [] },
      trajectory: { ...trajectory(users), patterns: [] },
      notes: {},
      provenance: { promptVersions: {}, models: {}, promptTokens: 0, completionTokens: 0 },
    });
    const ctx = {} as StepContext;
    const planted = await step.process(item(0, userTurns(items[3]!)), ctx);
    const edited = await step.process(item(1, userTurns(items[42]!).map((u, k) => lightlyEdited(u, 1, k === 0))), ctx);
    const ordinary = await step.process(item(2, ['I need to change the shipping address of order 8812 to my office in Lyon before it ships.']), ctx);
    expect(planted).toEqual({ outcome: 'dropped', reason: 'contaminated' });
    expect(edited).toEqual({ outcome: 'dropped', reason: 'contaminated' });
    expect(Array.isArray(ordinary) && ordinary.length).toBe(1);
    const report = (await readFile(join(dir, 'contamination.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { documentId: string; itemIds: string[]; benchmark: string; kind: string });
    expect(report).toHaveLength(2);
    expect(report[0]!.itemIds).toContain(items[3]!.id);
    expect(report[1]!.itemIds).toContain(items[42]!.id);
    expect(report.every((r) => r.benchmark === 'bfcl' && r.kind === 'ngram' && r.documentId === 'doc-1')).toBe(true);
  });
});

describe('decontamination in a run (generic JSONL reference)', () => {
  it('drops the trajectories whose text is in the reference, books balanced, report naming the reference ids', async () => {
    const dir = await tempDir('decon-run');
    const base = { source: { type: 'files', paths: [CORPUS] }, relevance: { threshold: 0.35, threads: 1 }, llm: { simulate: true } };
    const clean = join(dir, 'clean');
    expect((await runCli(['run', await writePipeline(dir, { ...base, sink: { dir: clean } }, 'clean.yaml'), '--quiet'])).code).toBe(0);
    // The reference: one long user message of each of two written trajectories (a "leaked" test set).
    const rows: Array<{ trajectory_id: string; document_id: string; messages: unknown }> = [];
    for await (const r of readRows(clean)) rows.push(r as never);
    const leaked = rows.slice(0, 2).map((r, i) => {
      const user = chatMessagesOf(r.messages).filter((m) => m.role === 'user').sort((a, b) => b.content.length - a.content.length)[0]!;
      return { id: `leak-${i}`, text: user.content, document_id: r.document_id };
    });
    expect(leaked.every((l) => l.text.split(/\s+/).length >= 13)).toBe(true);
    const ref = join(dir, 'reference.jsonl');
    await writeFile(ref, leaked.map((l) => JSON.stringify({ id: l.id, text: l.text })).join('\n') + '\n');

    const out = join(dir, 'out');
    const run = await runCli(['run', await writePipeline(dir, { ...base, decontaminate: { benchmarks: [{ type: 'jsonl', name: 'leaked', path: ref }] }, sink: { dir: out } }, 'decon.yaml'), '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    const st = m.stages.decontaminate!;
    expect(st.dropped.contaminated).toBeGreaterThanOrEqual(2);
    expect(st.received).toBe(st.sent + st.dropped.contaminated!);
    const report = (await readFile(join(out, '.gemflow', 'contamination.jsonl'), 'utf8').catch(async () => {
      const { readdir } = await import('node:fs/promises');
      const state = (await readdir(out)).find((n) => n.startsWith('_') || n.startsWith('.'))!;
      return readFile(join(out, state, 'contamination.jsonl'), 'utf8');
    })).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { itemIds: string[]; documentId: string; trajectoryId: string });
    for (const l of leaked) expect(report.some((r) => r.itemIds.includes(l.id) && r.documentId === l.document_id)).toBe(true);
    const written = new Set<string>();
    for await (const r of readRows(out)) written.add(String(r.trajectory_id));
    for (const r of report) expect(written.has(r.trajectoryId)).toBe(false);
    expect(written.size).toBe(rows.length - st.dropped.contaminated!);
  }, 120_000);
});

describe('n-gram filter', () => {
  it('lets through every n-gram added to it, and rules out most others', async () => {
    const { forEachNgram, NgramFilter } = await import('../../../operators/decontaminate/ngrams.js');
    const items = await bfclItems();
    const filter = new NgramFilter();
    const added = new Set<number>();
    for (const it of items.slice(0, 60)) {
      for (const u of userTurns(it)) forEachNgram(hashWords(u), 13, (k) => void (added.add(k), filter.add(k)));
    }
    expect(added.size).toBeGreaterThan(500);
    let all = 0;
    let passed = 0;
    for (const it of items.slice(0, 120)) {
      for (const u of userTurns(it)) {
        const w = hashWords(u);
        const every: Array<[number, number]> = [];
        forEachNgram(w, 13, (k, at) => void every.push([k, at]));
        const filtered: Array<[number, number]> = [];
        forEachNgram(w, 13, (k, at) => void filtered.push([k, at]), filter);
        // Every n-gram that is in the set still reaches the callback, in order, with its position.
        expect(filtered.filter(([k]) => added.has(k))).toEqual(every.filter(([k]) => added.has(k)));
        expect(filtered.every(([k, at]) => every.some(([k2, at2]) => k2 === k && at2 === at))).toBe(true);
        all += every.filter(([k]) => !added.has(k)).length;
        passed += filtered.filter(([k]) => !added.has(k)).length;
      }
    }
    expect(all).toBeGreaterThan(500);
    expect(passed / all).toBeLessThan(0.05);
  });
});
