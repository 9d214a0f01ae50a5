import { createHash } from 'node:crypto';
import { originKey, type BadRecord, type Origin, type SourceItem } from '../envelope.js';

/** How a raw record is read: which fields hold the id and the text, and the size limit. */
export interface DecodeOptions {
  idField: string;
  textField: string;
  maxRecordBytes: number;
}

/** Dead letters keep at most this many bytes of the raw record. */
export const RAW_PREVIEW_BYTES = 64 * 1024;

/** Meta keeps strings up to this length; longer values (page bodies, blobs) are dropped. */
const META_MAX_STRING_CHARS = 2048;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A string without lone UTF-16 surrogates (String.prototype.isWellFormed, Node 20). */
const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * Turns one raw record (a JSONL line, a serialized Parquet row, a Kafka message value) into an
 * envelope, or into a bad record with a stable code: record_too_large, tombstone, invalid_utf8,
 * invalid_json, not_an_object, missing_text, empty_text, invalid_id, id_invalid_unicode,
 * text_invalid_unicode.
 *
 * Valid UTF-8 can still hold a JSON escape of a lone surrogate ("\ud800"), which no UTF-8 output can
 * represent: writing it would silently turn it into U+FFFD in Parquet while the index and dead letters
 * keep the original. Ids are kept byte-exact in every output, so such an id is a bad record
 * (id_invalid_unicode); so is such a text (text_invalid_unicode): the trajectories quote the text,
 * and a silently altered quote would no longer match its source. Other fields holding one are left out
 * of the record's meta.
 */
export function decodeRecord(raw: Buffer | null, origin: Origin, opts: DecodeOptions): SourceItem {
  if (raw === null) return bad(origin, 'tombstone', 'record has no value (tombstone)', '');
  if (raw.length > opts.maxRecordBytes) return tooLargeRecord(origin, raw.length, raw, opts.maxRecordBytes);

  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return bad(origin, 'invalid_utf8', `record is not valid UTF-8 (${raw.length} bytes)`, preview(raw), raw.length);
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return bad(origin, 'invalid_json', `record is not valid JSON: ${(e as Error).message}`, preview(raw), raw.length);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return bad(origin, 'not_an_object', `record must be a JSON object, got ${jsonType(value)}`, preview(raw), raw.length);
  }
  const record = value as Record<string, unknown>;

  const body = record[opts.textField];
  if (typeof body !== 'string') {
    const found = body === undefined ? 'absent' : withArticle(jsonType(body));
    return bad(origin, 'missing_text', `text field "${opts.textField}" must be a string, it is ${found}`, preview(raw), raw.length);
  }
  if (body.trim() === '') {
    return bad(origin, 'empty_text', `text field "${opts.textField}" is blank`, preview(raw), raw.length);
  }
  if (!wellFormed(body)) {
    return bad(origin, 'text_invalid_unicode', `text field "${opts.textField}" contains a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair)`, preview(raw), raw.length);
  }

  let id: string;
  // null counts as absent: exporters write a missing value as null (pandas, DuckDB, pyarrow).
  if (Object.hasOwn(record, opts.idField) && record[opts.idField] !== null) {
    const v = record[opts.idField];
    if (!((typeof v === 'string' && v.trim() !== '') || typeof v === 'number')) {
      const got = typeof v === 'string' ? 'a blank string' : jsonType(v);
      return bad(origin, 'invalid_id', `id field "${opts.idField}" must be a non-empty string or a number, got ${got}`, preview(raw), raw.length);
    }
    // JSON.parse reads 9007199254740993 as ...992: two ids would become one. Ids are kept exact, so such a number is refused.
    if (typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v)) {
      return bad(origin, 'invalid_id', `id field "${opts.idField}" is an integer beyond 2^53 (read as ${v}), which JSON numbers cannot hold exactly; write it as a string`, preview(raw), raw.length);
    }
    id = String(v);
    if (!wellFormed(id)) {
      return bad(origin, 'id_invalid_unicode', `id field "${opts.idField}" contains a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair); ids are kept byte-exact, so it cannot be written`, preview(raw), raw.length);
    }
  } else {
    id = derivedId(origin);
  }

  return { kind: 'doc', doc: { id, text: body, origin, meta: pickMeta(record, opts), bytes: raw.length } };
}

/**
 * The bad record for a record above the size limit. Readers that never hold the whole record (a
 * 20 MB JSONL line) pass only its first bytes as `prefix`.
 */
export function tooLargeRecord(origin: Origin, bytes: number, prefix: Buffer, maxRecordBytes: number): SourceItem {
  return bad(origin, 'record_too_large', `record is ${bytes} bytes, above maxRecordBytes ${maxRecordBytes}`, preview(prefix), bytes);
}

/** Stable id for a record without one: a hash of its acknowledgement position. */
export function derivedId(origin: Origin): string {
  return createHash('sha256').update(originKey(origin)).digest('hex').slice(0, 24);
}

/** The record as text for a dead letter: lossy UTF-8 of at most RAW_PREVIEW_BYTES bytes. */
export function preview(raw: Buffer): string {
  return raw.subarray(0, RAW_PREVIEW_BYTES).toString('utf8');
}

/** `rawBytes`: the whole record's size when `raw` is only its start (see BadRecord). */
export function bad(origin: Origin, code: string, message: string, raw: string, rawBytes?: number): SourceItem {
  const record: BadRecord = { origin, code, message, raw, ...(rawBytes !== undefined && rawBytes > Buffer.byteLength(raw) && { rawBytes }) };
  return { kind: 'bad', bad: record };
}

/** The other top-level fields that are small scalars (url, title, lang, ...). */
function pickMeta(record: Record<string, unknown>, opts: DecodeOptions): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (k === opts.idField || k === opts.textField) continue;
    const small =
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v)) ||
      (typeof v === 'string' && v.length <= META_MAX_STRING_CHARS && wellFormed(v));
    if (small) meta[k] = v;
  }
  return meta;
}

/** "a number", "an array", "null". */
function withArticle(type: string): string {
  return type === 'null' ? 'null' : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}
