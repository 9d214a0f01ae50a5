import { hash } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ParquetWriter, fileWriter, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { GemflowError } from '../errors.js';
import { chatMessagesOf, chatToolsOf, jsonColumn } from './chat-rows.js';
import { FastLines, Out } from './chat-bytes.js';
import { openAiLineOf, shareGptDatasetInfo, toHermes, toOpenAi, toShareGpt, type ChatRow, type Converted } from './formats.js';
import { readBatches, type RowRecord } from './read-rows.js';
import { SourceStore, findSourceStore, synthesizerPair, type DocRows } from './synthesizer.js';
import { alnum9CallIds, loadChatTemplate, TemplateDivergence, TemplateRenderer, type TemplateEngineStats } from './template.js';

export const EXPORT_FORMATS = ['openai', 'sharegpt', 'hermes', 'template', 'synthesizer'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  /** The gemflow output directory. */
  output: string;
  format: ExportFormat;
  outDir: string;
  /** template: a tokenizer_config.json or .jinja file, and the template's name in a config that has several. */
  template?: string;
  templateName?: string;
  /** template: auto (compiled when the template compiles, checked against the interpreter) or interpreter. */
  templateEngine?: 'auto' | 'interpreter';
  /** template: keep the tool-call ids, or rewrite them as 9 letters and digits (Mistral's templates need it). */
  toolCallIds?: 'keep' | 'alnum9';
  /** Keep rows with complexity_score >= / <= these. */
  minComplexity?: number;
  maxComplexity?: number;
  /** pass: keep only rows with a judge verdict passing every rule. */
  judge?: 'any' | 'pass';
  /** Share of documents (0..1) sent to validation; a document's rows all go to one side. */
  validation?: number;
  /** Seeds the split (same seed, same split). */
  seed?: string;
  /** Dataset name in dataset_info.json (sharegpt). */
  name?: string;
  /** synthesizer: the synthesize step's maxWorkflows (default 3, the step's default) and the sources file. */
  maxWorkflows?: number;
  sources?: string;
  /** Also write `<split>.parquet` (sharegpt, hermes, template, synthesizer: nested columns as the JSONL's). */
  parquet?: boolean;
  signal?: AbortSignal;
}

export interface ExportResult {
  /** Rows read from the output. */
  read: number;
  /** Records written per split (rows; documents for synthesizer). */
  written: { train: number; validation: number };
  /** Rows left out by a filter, by filter. */
  filtered: Record<string, number>;
  /** Rows (synthesizer: documents' rows) the format cannot hold, by reason, with the first message of each. */
  skipped: Record<string, number>;
  skipMessages: Record<string, string>;
  files: string[];
  /** template: how rows were rendered; and what happened when the compiled form was given up. */
  template?: TemplateEngineStats;
  notes?: string[];
}

/**
 * `gemflow export`: streams an output's rows (src/export/read-rows.ts, 128-row batches), filters them,
 * converts each to the format and appends it to `<outDir>/train.jsonl` (and `validation.jsonl`), one
 * batch in memory at a time (synthesizer: one document's rows), and `<split>.parquet` too with
 * `parquet`. sharegpt and hermes (JSONL only) assemble the line of a row in the sink's chat format from
 * its JSON bytes (src/export/chat-bytes.ts: the same bytes as the conversion below), openai splices
 * the row's JSON text (OpenAiSplice); other rows, and the other formats, are parsed and converted. Files are written under a temporary name and
 * renamed at the end, so an interrupted export leaves no half file under the final name.
 * Books: read = written rows + filtered + skipped (synthesizer: counted in rows too).
 * template: rows are rendered by TemplateRenderer (src/export/template.ts); when its compiled form differs
 * from the interpreter on a checked row, the whole export runs again with the interpreter and says so.
 */
export async function runExport(o: ExportOptions): Promise<ExportResult> {
  try {
    return await exportOnce(o);
  } catch (e) {
    if (!(e instanceof TemplateDivergence)) throw e;
    const res = await exportOnce({ ...o, templateEngine: 'interpreter' });
    res.notes = [...(res.notes ?? []), `${e.message}; the export was run again with the interpreter (please report the template)`];
    return res;
  }
}

async function exportOnce(o: ExportOptions): Promise<ExportResult> {
  const validation = o.validation ?? 0;
  if (!(validation >= 0 && validation < 1)) throw new GemflowError('usage', `--validation must be in [0, 1), got ${validation}`);
  if (o.toolCallIds === 'alnum9' && o.format !== 'template') throw new GemflowError('usage', '--tool-call-ids alnum9 applies to --format template only');
  const template = o.format === 'template' ? new TemplateRenderer(await loadTemplateOrFail(o), o.templateEngine) : undefined;
  const sources = o.format === 'synthesizer' ? new SourceStore(await findSourceStore(o.output, o.sources)) : undefined;
  const maxWorkflows = o.maxWorkflows ?? 3;
  await mkdir(o.outDir, { recursive: true });
  const res: ExportResult = { read: 0, written: { train: 0, validation: 0 }, filtered: {}, skipped: {}, skipMessages: {}, files: [], ...(template ? { template: template.stats } : {}) };
  const splits = validation > 0 ? (['train', 'validation'] as const) : (['train'] as const);
  const pq = o.parquet ? PARQUET_SCHEMAS[o.format] : undefined;
  if (o.parquet && !pq) throw new GemflowError('usage', `--parquet: OpenAI fine-tuning takes JSONL only; parquet is written for ${Object.keys(PARQUET_SCHEMAS).join(', ')}`);
  const writers = new Map(splits.map((s) => [s, new SplitWriter(join(o.outDir, s), pq)]));
  const count = (t: Record<string, number>, k: string, n = 1) => (t[k] = (t[k] ?? 0) + n);
  const skip = (reason: string, message: string | undefined, rows: number) => {
    count(res.skipped, reason, rows);
    if (message && !(reason in res.skipMessages)) res.skipMessages[reason] = message;
  };
  const splitOf = memoSplit(o.seed ?? '', validation);
  const write = async (documentId: string, record: Record<string, unknown> | string) => {
    const s = splitOf(documentId);
    await writers.get(s)!.write(record);
    res.written[s]++;
  };
  // sharegpt, hermes (JSONL only): rows in the sink's chat-format JSON text take the byte path
  // (src/export/chat-bytes.ts), any other row the slow one below. openai: the text splice (OpenAiSplice).
  const fast = !pq && (o.format === 'sharegpt' || o.format === 'hermes') ? (IDLE_FAST_LINES.pop() ?? new FastLines()) : undefined;
  const splice = o.format === 'openai' ? new OpenAiSplice() : undefined;

  let group: DocRows | undefined;
  const flushGroup = async () => {
    if (!group || group.rows.length === 0) return;
    const g = group;
    group = undefined;
    const r = synthesizerPair(g, sources!, maxWorkflows);
    if ('skip' in r) return skip(r.skip, r.message, g.rows.length);
    if (g.rows.length > r.items) count(res.filtered, 'beyond_max_workflows', g.rows.length - r.items);
    await write(g.documentId, r.record);
  };

  try {
    for await (const batch of readBatches(o.output, { columns: columnsFor(o), signal: o.signal, bytes: fast ? ['messages', 'tools'] : undefined, onFile: () => splice?.newFile() })) {
      for (const rec of batch) {
        res.read++;
        const why = filterOut(rec, o);
        if (why) {
          count(res.filtered, why);
          continue;
        }
        if (fast) {
          const mb = rec.messages;
          const tb = rec.tools;
          if (mb instanceof Uint8Array && tb instanceof Uint8Array && fast.scan.scan(mb, tb)) {
            const s = splitOf(String(rec.document_id ?? ''));
            const w = writers.get(s)!.jsonl;
            const reason = o.format === 'sharegpt' ? fast.sharegpt(w.out) : fast.hermes(w.out, String(rec.trajectory_id ?? ''));
            if (reason !== undefined) {
              skip(reason, undefined, 1);
              continue;
            }
            w.out.byte(0x0a);
            res.written[s]++;
            if (w.full) await w.flush();
            continue;
          }
          if (mb instanceof Uint8Array) rec.messages = utf8.decode(mb);
          if (tb instanceof Uint8Array) rec.tools = utf8.decode(tb);
        }
        const line = splice?.line(rec);
        if (line !== undefined) {
          await write(String(rec.document_id ?? ''), line);
          continue;
        }
        let row: ChatRow;
        try {
          row = { trajectoryId: String(rec.trajectory_id ?? ''), documentId: String(rec.document_id ?? ''), messages: chatMessagesOf(rec.messages), tools: chatToolsOf(rec.tools) };
        } catch (e) {
          skip('bad_row', (e as Error).message, 1);
          continue;
        }
        if (sources) {
          if (group && group.documentId !== row.documentId) await flushGroup();
          group ??= { documentId: row.documentId, rows: [] };
          group.rows.push({ trajectoryId: row.trajectoryId, domain: String(rec.domain ?? ''), messages: row.messages, tools: row.tools, patterns: jsonColumn(rec.patterns) });
          continue;
        }
        let c: Converted;
        if (template) {
          try {
            c = { record: { text: template.render(o.toolCallIds === 'alnum9' ? alnum9CallIds(row.messages) : row.messages, row.tools), trajectory_id: row.trajectoryId, document_id: row.documentId } };
          } catch (e) {
            if (e instanceof TemplateDivergence) throw e;
            c = { skip: 'template_render_failed' };
            if (!('template_render_failed' in res.skipMessages)) res.skipMessages.template_render_failed = (e as Error).message;
          }
        } else c = o.format === 'openai' ? toOpenAi(row) : o.format === 'sharegpt' ? toShareGpt(row) : toHermes(row);
        if ('skip' in c) skip(c.skip, undefined, 1);
        else await write(row.documentId, c.record);
      }
    }
    await flushGroup();
    for (const [s, w] of writers) res.files.push(...(await w.finish(res.written[s] > 0 || s === 'train')));
    res.files = res.files.filter((f) => f !== '');
    if (o.format === 'sharegpt') {
      const name = o.name ?? 'gemflow';
      const info: Record<string, unknown> = { [name]: shareGptDatasetInfo('train.jsonl') };
      if (res.written.validation > 0) info[`${name}_validation`] = shareGptDatasetInfo('validation.jsonl');
      const p = join(o.outDir, 'dataset_info.json');
      await writeFile(p, JSON.stringify(info, null, 2) + '\n');
      res.files.push(p);
    }
    return res;
  } catch (e) {
    for (const w of writers.values()) await w.abort();
    throw e;
  } finally {
    sources?.close();
    if (fast) IDLE_FAST_LINES.push(fast);
  }
}

/**
 * FastLines of finished exports, for the next one in this process (exports side by side each take their
 * own). A new one per export made the byte path ~35% slower from about the third export in a process
 * on: V8 re-optimised its functions for each new instance (and its WebAssembly scanners) with worse
 * code; reusing them kept 26,000-27,000 hermes rows per CPU-second over four rounds of three exports.
 */
const IDLE_FAST_LINES: FastLines[] = [];

async function loadTemplateOrFail(o: ExportOptions) {
  if (!o.template) throw new GemflowError('usage', '--format template needs --template <tokenizer_config.json | file.jinja>');
  return loadChatTemplate(o.template, o.templateName);
}

/** The columns an export reads. */
function columnsFor(o: ExportOptions): string[] {
  const cols = o.format === 'openai' || o.format === 'sharegpt' ? ['document_id', 'messages', 'tools'] : ['trajectory_id', 'document_id', 'messages', 'tools'];
  if (o.minComplexity !== undefined || o.maxComplexity !== undefined) cols.push('complexity_score');
  if (o.judge === 'pass') cols.push('judge');
  if (o.format === 'synthesizer') cols.push('domain', 'patterns');
  return cols;
}

/**
 * openai without parsing: a row's JSON text spliced into the record (openAiLineOf) when it looks like
 * the sink's chat format. The first row of every file and every 1,000th row after it are also
 * converted the slow way (parse, toOpenAi, stringify) and must give the same line; if one does not,
 * the rest of that file takes the slow way. The sink writes all rows of a file with the same code,
 * so a file's first row stands for its format.
 */
class OpenAiSplice {
  static readonly CHECK_EVERY = 1000;
  #n = 0;
  #off = false;
  newFile(): void {
    this.#n = 0;
    this.#off = false;
  }
  line(rec: RowRecord): string | undefined {
    if (this.#off) return undefined;
    const text = openAiLineOf(rec.messages, rec.tools);
    if (text === undefined || this.#n++ % OpenAiSplice.CHECK_EVERY !== 0) return text;
    try {
      const slow = toOpenAi({ trajectoryId: '', documentId: '', messages: chatMessagesOf(rec.messages), tools: chatToolsOf(rec.tools) });
      if ('record' in slow && JSON.stringify(slow.record) === text) return text;
    } catch {
      // a bad row: the slow way says why
    }
    this.#off = true;
    return undefined;
  }
}

/** Why a row is filtered out, or undefined when it is kept. */
function filterOut(rec: RowRecord, o: ExportOptions): string | undefined {
  if (o.minComplexity !== undefined || o.maxComplexity !== undefined) {
    const s = Number(rec.complexity_score);
    if (!Number.isFinite(s)) return 'no_complexity_score';
    if (o.minComplexity !== undefined && s < o.minComplexity) return 'complexity_below_min';
    if (o.maxComplexity !== undefined && s > o.maxComplexity) return 'complexity_above_max';
  }
  if (o.judge === 'pass' && !judgePassed(jsonColumn(rec.judge))) return 'judge_not_passed';
  return undefined;
}

/** A judge verdict passes when it exists and every rule in it says pass. */
export function judgePassed(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  const rules = Object.values(v as Record<string, unknown>).filter((r) => r !== null && typeof r === 'object' && 'pass' in (r as object));
  return rules.length > 0 && rules.every((r) => (r as { pass: unknown }).pass === true);
}

/**
 * Train or validation by document: a hash of (seed, document id) against the share, so every row of a
 * document lands on the same side, in every export with the same seed.
 */
export function splitOfDocument(seed: string, validation: number, documentId: string): 'train' | 'validation' {
  if (validation <= 0) return 'train';
  // The first 4 bytes of the digest, big-endian (from hex: no Buffer, no ArrayBuffer, per row).
  const h = Number.parseInt(hash('sha256', `${seed}\u0000${documentId}`, 'hex').slice(0, 8), 16);
  return h / 2 ** 32 < validation ? 'validation' : 'train';
}

function memoSplit(seed: string, validation: number): (documentId: string) => 'train' | 'validation' {
  let lastId: string | undefined;
  let last: 'train' | 'validation' = 'train';
  return (id) => {
    if (id !== lastId) {
      lastId = id;
      last = splitOfDocument(seed, validation, id);
    }
    return last;
  };
}

const utf8 = new TextDecoder();

/**
 * Appends JSON lines to `<path>.tmp`: encoded (or, on the fast path, assembled) straight into `out`, a
 * ~1 MiB buffer written in one go when full (one syscall per hundred-odd rows, not per row; no joined
 * string). Two buffers take turns: one is filled while the other is being written, and a flush waits
 * for the write before it hands that buffer back (no fresh 1 MiB buffer per flush, no stream
 * buffering); renamed into place on finish.
 */
class JsonlWriter {
  static readonly CHUNK = 1 << 20;
  readonly #tmp: string;
  #fh?: FileHandle;
  #spare?: Out;
  #writing?: Promise<void>;
  out = new Out(JsonlWriter.CHUNK + (1 << 16));
  constructor(readonly path: string) {
    this.#tmp = `${path}.tmp`;
  }
  /** The buffer holds a chunk's worth: flush it. */
  get full(): boolean {
    return this.out.at >= JsonlWriter.CHUNK;
  }
  /** Appends a record, or a record already as JSON text. */
  async write(record: unknown): Promise<void> {
    this.out.str(typeof record === 'string' ? record : JSON.stringify(record));
    this.out.byte(0x0a);
    if (this.full) await this.flush();
  }
  async flush(): Promise<void> {
    this.#fh ??= await open(this.#tmp, 'w');
    await this.#writing;
    const full = this.out;
    this.out = this.#spare ?? new Out(JsonlWriter.CHUNK + (1 << 16));
    this.out.at = 0;
    this.#spare = full;
    this.#writing = writeAll(this.#fh, full.buf, full.at);
    this.#writing.catch(() => {}); // awaited by the next flush or finish
  }
  /** Closes and renames into place; `keep` false (nothing written) removes it. Returns the path kept, or ''. */
  async finish(keep: boolean): Promise<string> {
    await this.flush();
    await this.#writing;
    await this.#fh!.close();
    this.#fh = undefined;
    if (!keep) {
      await rm(this.#tmp, { force: true });
      return '';
    }
    await rename(this.#tmp, this.path);
    return this.path;
  }
  async abort(): Promise<void> {
    await this.#writing?.catch(() => {});
    await this.#fh?.close().catch(() => {});
    this.#fh = undefined;
    await rm(this.#tmp, { force: true });
  }
}

/** Writes b[0, n) at the file's current end (a short write continues). */
async function writeAll(fh: FileHandle, b: Buffer, n: number): Promise<void> {
  for (let at = 0; at < n; ) at += (await fh.write(b, at, n - at)).bytesWritten;
}

const str = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
/** A list column (3-level LIST, as pyarrow and DuckDB write it) of strings or of structs of string fields. */
const list = (name: string, fields?: readonly string[]): SchemaElement[] => [
  { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  ...(fields ? [{ name: 'element', repetition_type: 'REQUIRED', num_children: fields.length } as SchemaElement, ...fields.map(str)] : [str('element')]),
];
/** Parquet schemas (hyparquet-writer) of the formats whose records have a fixed shape: top-level columns, each a list of schema elements. */
const PARQUET_SCHEMAS: Partial<Record<ExportFormat, SchemaElement[][]>> = {
  sharegpt: [list('conversations', ['from', 'value']), [str('system')], [str('tools')]],
  hermes: [[str('id')], list('conversations', ['from', 'value']), [str('tools')]],
  template: [[str('text')], [str('trajectory_id')], [str('document_id')]],
  synthesizer: [list('messages', ['role', 'content']), [str('document_id')], list('trajectory_ids'), [str('prompt_version')]],
};

/**
 * Records as a Parquet file (hyparquet-writer, SNAPPY): buffered by column, written as a row group
 * every ROWS records, the footer on close. Memory: one row group.
 */
class ParquetRecords {
  static readonly ROWS = 1000;
  readonly #names: string[];
  readonly #writer: ParquetWriter;
  #columns: unknown[][];
  constructor(path: string, columns: SchemaElement[][]) {
    this.#names = columns.map((c) => c[0]!.name);
    this.#columns = this.#names.map(() => []);
    this.#writer = new ParquetWriter({ writer: fileWriter(path), schema: [{ name: 'root', num_children: columns.length }, ...columns.flat()], codec: 'SNAPPY', createdBy: 'gemflow export (hyparquet-writer)' });
  }
  append(record: Record<string, unknown>): void {
    for (let i = 0; i < this.#names.length; i++) {
      const v = record[this.#names[i]!];
      if (v === undefined || v === null) throw new Error(`parquet: record has no ${this.#names[i]}`);
      this.#columns[i]!.push(v);
    }
    if (this.#columns[0]!.length >= ParquetRecords.ROWS) this.#flush();
  }
  #flush(): void {
    const n = this.#columns[0]!.length;
    if (n === 0) return;
    this.#writer.write({ columnData: this.#names.map((name, i) => ({ name, data: this.#columns[i]! as ColumnSource['data'] })), rowGroupSize: n });
    this.#columns = this.#names.map(() => []);
  }
  close(): void {
    this.#flush();
    this.#writer.finish();
  }
}

/** One split's files: `<base>.jsonl`, and `<base>.parquet` (ParquetRecords) when a schema is given. */
class SplitWriter {
  readonly jsonl: JsonlWriter;
  #pq?: ParquetRecords;
  constructor(
    readonly base: string,
    readonly schema?: SchemaElement[][],
  ) {
    this.jsonl = new JsonlWriter(`${base}.jsonl`);
  }
  /** A record, or (no Parquet) a record already as JSON text. */
  async write(record: Record<string, unknown> | string): Promise<void> {
    await this.jsonl.write(record);
    if (!this.schema) return;
    if (typeof record === 'string') throw new Error('SplitWriter: a Parquet record must be an object');
    this.#pq ??= new ParquetRecords(`${this.base}.parquet.tmp`, this.schema);
    this.#pq.append(record);
  }
  async finish(keep: boolean): Promise<string[]> {
    const files = [await this.jsonl.finish(keep)].filter((f) => f !== '');
    if (this.#pq) {
      this.#pq.close();
      if (keep) {
        await rename(`${this.base}.parquet.tmp`, `${this.base}.parquet`);
        files.push(`${this.base}.parquet`);
      } else await rm(`${this.base}.parquet.tmp`, { force: true });
    }
    return files;
  }
  async abort(): Promise<void> {
    await this.jsonl.abort();
    this.#pq = undefined;
    await rm(`${this.base}.parquet.tmp`, { force: true });
  }
}

/** The result as text for the command line. */
export function formatExportResult(o: ExportOptions, r: ExportResult): string {
  const tally = (t: Record<string, number>) => Object.entries(t).map(([k, v]) => `${k} ${v}`).join(', ') || '0';
  const unit = o.format === 'synthesizer' ? 'pairs (documents)' : 'rows';
  const lines = [
    `export ${o.format}: read ${r.read} rows; wrote ${r.written.train + r.written.validation} ${unit} (train ${r.written.train}, validation ${r.written.validation}); filtered ${tally(r.filtered)}; skipped ${tally(r.skipped)}`,
    ...Object.entries(r.skipMessages).map(([k, m]) => `  ${k}: e.g. ${m.slice(0, 300)}`),
    ...(r.template
      ? [
          r.template.engine === 'compiled'
            ? `  template compiled: ${r.template.compiledRows} rows rendered compiled (${r.template.checkedRows} of them checked against the interpreter), ${r.template.fallbackRows} by the interpreter, ${r.template.jinja2Rows} that the interpreter raises on rendered with jinja2's rules (as transformers would)`
            : `  template interpreted: ${r.template.notCompiled}${r.template.jinja2Rows > 0 ? `; ${r.template.jinja2Rows} rows that the interpreter raises on rendered with jinja2's rules (as transformers would)` : ''}`,
          ...(r.template.uncompiled ? [`  template statements left to the interpreter (a row that runs one is rendered by it): ${r.template.uncompiled.join('; ')}`] : []),
        ]
      : []),
    ...(r.notes ?? []).map((n) => `  note: ${n}`),
    ...r.files.map((f) => `  ${f}`),
  ];
  return lines.join('\n');
}
