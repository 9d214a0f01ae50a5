import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { GemflowError } from '../../src/errors.js';
import type { ContaminationIndex } from './contamination-index.js';

/**
 * BFCL's multi-turn API classes and the function-doc file of each (bfcl_eval/constants:
 * MULTI_TURN_FUNC_DOC_FILE_MAPPING).
 */
export const BFCL_FUNC_DOCS: Record<string, string> = {
  GorillaFileSystem: 'gorilla_file_system.json',
  MathAPI: 'math_api.json',
  MessageAPI: 'message_api.json',
  TwitterAPI: 'posting_api.json',
  TicketAPI: 'ticket_api.json',
  TradingBot: 'trading_bot.json',
  TravelAPI: 'travel_booking.json',
  VehicleControlAPI: 'vehicle_control.json',
  WebSearchAPI: 'web_search.json',
  MemoryAPI_kv: 'memory_kv.json',
  MemoryAPI_vector: 'memory_vector.json',
  MemoryAPI_rec_sum: 'memory_rec_sum.json',
};

const BFCL_MULTI_TURN = /^BFCL_v\d+_multi_turn_[a-z_]+\.json$/;

/**
 * Indexes BFCL multi-turn from `dir` (bfcl_eval/data of the bfcl-eval package, or what
 * scripts/bfcl/fetch.sh extracts): every user turn of every question file `BFCL_v*_multi_turn_*.json`
 * as text, and as tool sets each item's functions (its involved classes' function docs from
 * `multi_turn_func_doc/`, less its excluded functions) and each class's whole API.
 * Items are named `<id>` (e.g. multi_turn_base_0) under benchmark `bfcl`.
 */
export async function indexBfcl(index: ContaminationIndex, dir: string, benchmark = 'bfcl'): Promise<number> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => BFCL_MULTI_TURN.test(f)).sort();
  } catch (e) {
    throw new GemflowError('decontaminate_no_benchmark', `cannot read the BFCL folder ${dir}: ${(e as Error).message} (fetch it with scripts/bfcl/fetch.sh, or point at bfcl_eval/data of an installed bfcl-eval)`, { cause: e });
  }
  if (files.length === 0) throw new GemflowError('decontaminate_no_benchmark', `${dir} holds no BFCL_v*_multi_turn_*.json files (fetch them with scripts/bfcl/fetch.sh, or point at bfcl_eval/data of an installed bfcl-eval)`);
  const classTools = new Map<string, string[]>();
  for (const [cls, file] of Object.entries(BFCL_FUNC_DOCS)) {
    const text = await readFile(join(dir, 'multi_turn_func_doc', file), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const names = jsonLines(text, file).map((d) => String((d as { name?: unknown }).name ?? '')).filter((s) => s !== '');
    classTools.set(cls, names);
    index.addToolSet(index.addItem({ benchmark, id: `api:${cls}` }), names);
  }
  let items = 0;
  for (const f of files) {
    for (const q of jsonLines(await readFile(join(dir, f), 'utf8'), f)) {
      const rec = q as { id?: unknown; question?: unknown; involved_classes?: unknown; excluded_function?: unknown };
      if (typeof rec.id !== 'string') throw new GemflowError('decontaminate_bad_benchmark', `${f}: an item without an id`);
      const i = index.addItem({ benchmark, id: rec.id });
      items++;
      for (const turn of Array.isArray(rec.question) ? rec.question : []) {
        for (const m of Array.isArray(turn) ? turn : []) {
          const msg = m as { role?: unknown; content?: unknown };
          if (msg.role === 'user' && typeof msg.content === 'string') index.addText(i, msg.content);
        }
      }
      const classes = Array.isArray(rec.involved_classes) ? rec.involved_classes.map(String) : [];
      if (classes.length > 0 && classes.every((c) => classTools.has(c))) {
        const excluded = new Set(Array.isArray(rec.excluded_function) ? rec.excluded_function.map(String) : []);
        index.addToolSet(i, classes.flatMap((c) => classTools.get(c)!).filter((n) => !excluded.has(n)));
      }
    }
  }
  return items;
}

/**
 * Indexes a generic JSONL of reference texts: one item per line, id from `idField` (else the line
 * number), text from `textField`: a string, or a list of strings / of messages with `content` (each a
 * text of its own).
 */
export async function indexJsonl(index: ContaminationIndex, path: string, opts: { name: string; idField: string; textField: string }): Promise<number> {
  let line = 0;
  let items = 0;
  try {
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    for await (const l of lines) {
      line++;
      if (l.trim() === '') continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(l) as Record<string, unknown>;
      } catch (e) {
        throw new GemflowError('decontaminate_bad_benchmark', `${path}:${line}: not JSON: ${(e as Error).message}`);
      }
      const id = rec[opts.idField];
      const i = index.addItem({ benchmark: opts.name, id: typeof id === 'string' || typeof id === 'number' ? String(id) : `line-${line}` });
      items++;
      const v = rec[opts.textField];
      const texts = typeof v === 'string' ? [v] : Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : typeof (x as { content?: unknown })?.content === 'string' ? (x as { content: string }).content : '')) : [];
      if (texts.length === 0) throw new GemflowError('decontaminate_bad_benchmark', `${path}:${line}: no text in field "${opts.textField}"`);
      for (const t of texts) if (t !== '') index.addText(i, t);
    }
  } catch (e) {
    if (e instanceof GemflowError) throw e;
    throw new GemflowError('decontaminate_no_benchmark', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return items;
}

function jsonLines(text: string, file: string): unknown[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as unknown;
      } catch (e) {
        throw new GemflowError('decontaminate_bad_benchmark', `${file}:${i + 1}: not JSON: ${(e as Error).message}`);
      }
    });
}
