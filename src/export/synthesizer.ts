import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SOURCES_FILE, SOURCES_NAMESPACE, textKey, trajectoryKey, type KeptTrajectory } from '../../operators/keep-sources/step.js';
import { synthesizeStage } from '../../operators/synthesize/index.js';
import { SynthesizeOutput } from '../../operators/synthesize/schema.js';
import type { ChatMessage as RequestMessage } from '../llm/types.js';
import type { ChatMessage, ChatTool } from '../chat-format.js';
import { GemflowError } from '../errors.js';
import { hasTable, LEGACY_TABLE } from '../store/kv-store.js';
import type { Message, ToolDef } from '../trajectory.js';
import { z } from 'zod';

/** The document texts and workflows the keep-sources step kept (read-only). */
export class SourceStore {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[{ ns: string; key: string }], { value: string }>;
  constructor(readonly path: string) {
    this.#db = new Database(path, { readonly: true, fileMustExist: true });
    // The table KvStore writes, and the one of files written before 2026-12-04 (kv-store.ts).
    const tables = ['kv_rows', LEGACY_TABLE].filter((t) => hasTable(this.#db, t));
    if (tables.length === 0) throw new GemflowError('export_no_sources', `${path} holds no kept sources (no key-value table)`);
    this.#get = this.#db.prepare(`${tables.map((t) => `SELECT value FROM ${t} WHERE ns = @ns AND key = @key`).join(' UNION ALL ')} LIMIT 1`);
  }
  trajectory(id: string): KeptTrajectory | undefined {
    const v = this.#get.get({ ns: SOURCES_NAMESPACE, key: trajectoryKey(id) })?.value;
    return v === undefined ? undefined : (JSON.parse(v) as KeptTrajectory);
  }
  text(hash: string): string | undefined {
    return this.#get.get({ ns: SOURCES_NAMESPACE, key: textKey(hash) })?.value;
  }
  close(): void {
    this.#db.close();
  }
}

/**
 * Where the keep-sources step's file is: `given`, else `sources.sqlite` in a `_`- or `.`-prefixed
 * folder of the output (its state folder). Throws `export_no_sources` saying how to get one.
 */
export async function findSourceStore(outputDir: string, given?: string): Promise<string> {
  if (given) return given;
  const names = await readdir(outputDir).catch(() => [] as string[]);
  for (const n of names.sort()) {
    if (!n.startsWith('_') && !n.startsWith('.')) continue;
    const p = join(outputDir, n, SOURCES_FILE);
    if (await stat(p).then((s) => s.isFile(), () => false)) return p;
  }
  throw new GemflowError(
    'export_no_sources',
    `${outputDir} keeps no document texts and workflows (no ${SOURCES_FILE} in its state folder): synthesizer pairs need a step ` +
      `{ id: keep_sources, type: keep-sources } among the trajectory steps of the run, or --sources <stateDir>/${SOURCES_FILE}`,
  );
}

/** The rows of one document, in chat format, with their ids. */
export interface DocRows {
  documentId: string;
  rows: Array<{ trajectoryId: string; domain: string; messages: ChatMessage[]; tools: ChatTool[]; patterns: unknown }>;
}

export type PairResult = { record: Record<string, unknown>; items: number } | { skip: string; message?: string };

/**
 * One synthesizer training pair per document: the exact request `llm.mode: synthesize` sends for the
 * document (synthesizeStage.render: system + user with the document) and, as the assistant's answer,
 * the JSON it expects back ({domain, items: [{workflow, trajectory}]}) built from the document's
 * written trajectories. The answer is checked with the synthesize stage's own schema and checks;
 * a document whose answer fails them is skipped with the reason.
 */
export function synthesizerPair(doc: DocRows, sources: SourceStore, maxWorkflows: number): PairResult {
  const items: Array<{ workflow: unknown; trajectory: unknown }> = [];
  let text: string | undefined;
  let domain = '';
  for (const r of doc.rows.slice(0, maxWorkflows)) {
    const kept = sources.trajectory(r.trajectoryId);
    if (!kept) return { skip: 'synthesizer_no_source', message: `trajectory ${r.trajectoryId} is not in the sources` };
    text ??= sources.text(kept.textKey);
    domain ||= kept.domain || r.domain;
    items.push({ workflow: kept.workflow, trajectory: { tools: r.tools.map(toolDef), messages: r.messages.map(internalMessage), patterns: r.patterns ?? [] } });
  }
  if (text === undefined) return { skip: 'synthesizer_no_source', message: `document ${doc.documentId}: its text is not in the sources` };
  const input = { text, maxWorkflows };
  const parsed = SynthesizeOutput.safeParse({ domain: domain || 'general', items });
  if (!parsed.success) return { skip: 'synthesizer_invalid_answer', message: z.prettifyError(parsed.error) };
  const problems = synthesizeStage.check?.(parsed.data, input) ?? [];
  if (problems.length > 0) return { skip: 'synthesizer_invalid_answer', message: problems.join('; ') };
  const prompt: RequestMessage[] = synthesizeStage.render(input);
  return {
    record: {
      messages: [...prompt, { role: 'assistant', content: JSON.stringify(parsed.data) }],
      document_id: doc.documentId,
      trajectory_ids: doc.rows.slice(0, maxWorkflows).map((r) => r.trajectoryId),
      prompt_version: synthesizeStage.promptVersion,
    },
    items: items.length,
  };
}

const toolDef = (t: ChatTool): ToolDef => ({ name: t.function.name, description: t.function.description, parameters: t.function.parameters });

function internalMessage(m: ChatMessage): Message {
  const out: Message = { role: m.role, content: m.content };
  if (m.role === 'assistant' && m.tool_calls) {
    out.toolCalls = m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: JSON.parse(c.function.arguments) as Record<string, unknown> }));
  }
  if (m.tool_call_id !== undefined) out.toolCallId = m.tool_call_id;
  if (m.name !== undefined) out.name = m.name;
  return out;
}
