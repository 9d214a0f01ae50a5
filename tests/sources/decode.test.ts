import { describe, expect, it } from 'vitest';
import type { Origin, SourceItem } from '../../src/envelope.js';
import { decodeRecord, derivedId, RAW_PREVIEW_BYTES } from '../../src/sources/decode.js';

const origin: Origin = { kind: 'kafka', partition: 'docs/3', offset: 17, topic: 'docs', kafkaPartition: 3 };
const opts = { idField: 'id', textField: 'text', maxRecordBytes: 1024 };

function decode(raw: string | Buffer | null, o = opts): SourceItem {
  return decodeRecord(typeof raw === 'string' ? Buffer.from(raw) : raw, origin, o);
}
function badCode(item: SourceItem): string {
  if (item.kind !== 'bad') throw new Error(`expected a bad record, got doc ${JSON.stringify(item.doc)}`);
  return item.bad.code;
}

describe('decodeRecord', () => {
  it('turns a good record into an envelope with small scalar meta', () => {
    const raw = JSON.stringify({ id: 7, text: 'hello', url: 'https://x', n: 3, ok: true, nested: { a: 1 }, list: [1], nil: null, long: 'x'.repeat(5000) });
    const item = decode(raw, { ...opts, maxRecordBytes: 10_000 });
    expect(item).toEqual({
      kind: 'doc',
      doc: { id: '7', text: 'hello', origin, meta: { url: 'https://x', n: 3, ok: true }, bytes: Buffer.byteLength(raw) },
    });
  });

  it('derives a stable id from the origin when the record has none', () => {
    const a = decode('{"text": "hello"}');
    const b = decode('{"text": "other"}');
    const elsewhere = decodeRecord(Buffer.from('{"text": "hello"}'), { ...origin, offset: 18 }, opts);
    expect(a.kind === 'doc' && a.doc.id).toBe(derivedId(origin));
    expect(b.kind === 'doc' && b.doc.id).toBe(derivedId(origin));
    expect(elsewhere.kind === 'doc' && elsewhere.doc.id).not.toBe(derivedId(origin));
  });

  it('uses the configured id and text fields', () => {
    const item = decode('{"doc_id": "d1", "body": "hi", "id": "kept-as-meta"}', { ...opts, idField: 'doc_id', textField: 'body' });
    expect(item.kind === 'doc' && item.doc).toMatchObject({ id: 'd1', text: 'hi', meta: { id: 'kept-as-meta' } });
  });

  it.each([
    ['record_too_large', `{"text": "${'a'.repeat(2000)}"}`],
    ['invalid_utf8', Buffer.concat([Buffer.from('{"text": "caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])],
    ['invalid_json', '{"text": '],
    ['not_an_object', '[1, 2]'],
    ['not_an_object', '"just a string"'],
    ['not_an_object', '12.5'],
    ['not_an_object', 'null'],
    ['missing_text', '{"id": "a"}'],
    ['missing_text', '{"id": "a", "text": 5}'],
    ['empty_text', '{"id": "a", "text": " \\n\\t "}'],
    ['invalid_id', '{"id": {"x": 1}, "text": "hi"}'],
    ['invalid_id', '{"id": true, "text": "hi"}'],
    ['invalid_id', '{"id": "", "text": "hi"}'],
    ['invalid_id', '{"id": 9007199254740993, "text": "hi"}'],
    ['invalid_id', '{"id": 12345678901234567890123, "text": "hi"}'],
  ] as Array<[string, string | Buffer]>)('gives %s for %j', (code, raw) => {
    const item = decode(raw);
    expect(badCode(item)).toBe(code);
    expect(item.kind === 'bad' && item.bad.origin).toEqual(origin);
    expect(item.kind === 'bad' && item.bad.message.length).toBeGreaterThan(10);
  });

  it('gives tombstone for a null value', () => {
    expect(badCode(decode(null))).toBe('tombstone');
  });

  it('checks the size before parsing and keeps only a 64 KB prefix as raw', () => {
    const huge = Buffer.alloc(200 * 1024, 0xff); // not even UTF-8: size wins
    const item = decode(huge, { ...opts, maxRecordBytes: 100 * 1024 });
    expect(badCode(item)).toBe('record_too_large');
    expect(item.kind === 'bad' && item.bad.message).toContain(String(200 * 1024));
    expect(item.kind === 'bad' && Buffer.byteLength(item.bad.raw)).toBeLessThanOrEqual(RAW_PREVIEW_BYTES * 3);
    expect(item.kind === 'bad' && item.bad.raw.length).toBe(RAW_PREVIEW_BYTES); // each 0xff -> one U+FFFD
  });

  it('names the text field and what it found', () => {
    const item = decode('{"id": "a", "text": 5}');
    expect(item.kind === 'bad' && item.bad.message).toBe('text field "text" must be a string, it is a number');
    const arr = decode('{"id": "a", "text": [1]}');
    expect(arr.kind === 'bad' && arr.bad.message).toBe('text field "text" must be a string, it is an array');
    const blank = decode('{"id": " ", "text": "hi"}');
    expect(blank.kind === 'bad' && blank.bad.message).toContain('got a blank string');
    const big = decode('{"id": 9007199254740993, "text": "hi"}');
    expect(big.kind === 'bad' && big.bad.message).toContain('beyond 2^53');
    expect(item.kind === 'bad' && item.bad.raw).toBe('{"id": "a", "text": 5}');
  });

  it('reads a null id as absent (an id derived from the position), and keeps safe integer ids', () => {
    const nullId = decode('{"id": null, "text": "hi"}');
    const noId = decode('{"text": "hi"}');
    expect(nullId.kind === 'doc' && nullId.doc.id).toBe(noId.kind === 'doc' && noId.doc.id);
    const n = decode('{"id": 9007199254740991, "text": "hi"}');
    expect(n.kind === 'doc' && n.doc.id).toBe('9007199254740991');
  });

  it('rejects an id or a text holding a lone surrogate (kept byte-exact or rejected), and leaves such meta out', () => {
    const loneId = decode('{"id": "doc-\\ud800-x", "text": "hello"}');
    expect(badCode(loneId)).toBe('id_invalid_unicode');
    expect(loneId.kind === 'bad' && loneId.bad.message).toContain('"id"');
    expect(badCode(decode('{"id": "a", "text": "half a pair \\udc00 here"}'))).toBe('text_invalid_unicode');
    // A proper pair (an emoji written as two escapes) is fine, byte-exact.
    const pair = decode('{"id": "x-\\ud83d\\ude00", "text": "ok", "title": "bad \\ud800", "lang": "en"}');
    expect(pair.kind === 'doc' && pair.doc.id).toBe('x-\u{1F600}');
    expect(pair.kind === 'doc' && pair.doc.meta).toEqual({ lang: 'en' });
  });

  it('gives a bad record the whole size of a record it keeps only the start of', () => {
    const big = Buffer.from(JSON.stringify({ text: 'x'.repeat(RAW_PREVIEW_BYTES * 2) }).replace(/^\{/, '['));
    const item = decode(big, { ...opts, maxRecordBytes: 10 * RAW_PREVIEW_BYTES });
    expect(item.kind === 'bad' && item.bad).toMatchObject({ code: 'invalid_json', rawBytes: big.length });
    expect(item.kind === 'bad' && Buffer.byteLength(item.bad.raw)).toBe(RAW_PREVIEW_BYTES);
    const tooBig = decode(big);
    expect(tooBig.kind === 'bad' && tooBig.bad).toMatchObject({ code: 'record_too_large', rawBytes: big.length });
    const small = decode('[1]');
    expect(small.kind === 'bad' && small.bad.rawBytes).toBeUndefined(); // whole: nothing to add
  });
});
