import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileDeadLetterSink, type DeadLetterLine } from '../../src/sinks/dead-letter-file.js';
import { fileOrigin, kafkaOrigin, tempDir } from './fixtures.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function lines(path: string): Promise<DeadLetterLine[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DeadLetterLine);
}

describe('FileDeadLetterSink', () => {
  it('appends one JSON line per dead letter, in call order, durable after flush', async () => {
    const t = await tempDir('dl');
    cleanup = t.cleanup;
    const path = join(t.dir, 'nested', 'dead-letters.jsonl');
    const sink = new FileDeadLetterSink(path);
    // Not awaited one by one: flush() must still cover all of them.
    const writes = Array.from({ length: 50 }, (_, i) =>
      sink.write({ origin: fileOrigin('/in/a.jsonl', i), stage: i % 2 ? 'decode' : 'extract', code: i % 2 ? 'bad_json' : 'llm_exhausted', message: `m${i}`, raw: `{"id":${i}` }),
    );
    await sink.flush();
    const got = await lines(path);
    expect(got.map((l) => l.origin.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(got[1]).toMatchObject({ stage: 'decode', code: 'bad_json', message: 'm1', raw: '{"id":1', rawBytes: 7, rawTruncated: false });
    expect(Number.isNaN(Date.parse(got[0]!.time))).toBe(false);
    await Promise.all(writes);

    await sink.write({ origin: kafkaOrigin('t', 1, 9), documentId: 'd9', stage: 'validate', code: 'x', message: 'y', raw: '' });
    await sink.close();
    const after = await lines(path);
    expect(after).toHaveLength(51);
    expect(after[50]).toMatchObject({ documentId: 'd9', origin: { kind: 'kafka', topic: 't', kafkaPartition: 1, offset: 9 } });
    await expect(sink.write({ origin: fileOrigin('/a', 0), stage: 's', code: 'c', message: 'm', raw: '' })).rejects.toMatchObject({ code: 'sink_closed' });

    // A second sink on the same path appends.
    const again = new FileDeadLetterSink(path);
    await again.write({ origin: fileOrigin('/in/b.jsonl', 0), stage: 'decode', code: 'bad_utf8', message: 'z', raw: 'r' });
    await again.close();
    expect(await lines(path)).toHaveLength(52);
  });

  it('truncates huge raw records on a character boundary and keeps the original length', async () => {
    const t = await tempDir('dl-trunc');
    cleanup = t.cleanup;
    const path = join(t.dir, 'dead-letters.jsonl');
    const sink = new FileDeadLetterSink(path, { maxRawBytes: 1000 });
    const raw = 'é'.repeat(2000); // 2 bytes each: 4000 bytes, and byte 1000 is not a boundary after 'x'
    await sink.write({ origin: fileOrigin('/in/a.jsonl', 0), stage: 'decode', code: 'record_too_large', message: 'too big', raw: 'x' + raw });
    await sink.close();
    const [line] = await lines(path);
    expect(line).toMatchObject({ rawTruncated: true, rawBytes: 4001 });
    expect(Buffer.byteLength(line!.raw)).toBe(999);
    expect(line!.raw).toBe('x' + 'é'.repeat(499));
  });

  it('keeps at most 64 KB of a raw record by default', async () => {
    const t = await tempDir('dl-default');
    cleanup = t.cleanup;
    const path = join(t.dir, 'dead-letters.jsonl');
    const sink = new FileDeadLetterSink(path);
    await sink.write({ origin: fileOrigin('/in/a.jsonl', 0), stage: 'decode', code: 'record_too_large', message: 'm', raw: 'a'.repeat(200_000) });
    await sink.write({ origin: fileOrigin('/in/a.jsonl', 1), stage: 'decode', code: 'bad_json', message: 'm', raw: 'a'.repeat(65_536) });
    await sink.close();
    const [big, fits] = await lines(path);
    expect(big).toMatchObject({ raw: 'a'.repeat(65_536), rawBytes: 200_000, rawTruncated: true });
    expect(fits).toMatchObject({ rawBytes: 65_536, rawTruncated: false });
  });

  it('marks a record the caller could only hold the start of as truncated, with the whole size (rawBytes)', async () => {
    const t = await tempDir('dl-prefix');
    cleanup = t.cleanup;
    const path = join(t.dir, 'dead-letters.jsonl');
    const sink = new FileDeadLetterSink(path);
    // A 20 MB line of which the source kept the first 64 KiB: nothing to cut here, yet not the whole record.
    await sink.write({ origin: fileOrigin('/in/a.jsonl', 0), stage: 'decode', code: 'record_too_large', message: 'm', raw: 'a'.repeat(65_536), rawBytes: 20_000_000 });
    // A record passed whole (the pipeline no longer cuts): cut here to 64 KiB.
    await sink.write({ origin: fileOrigin('/in/a.jsonl', 1), stage: 'extract', code: 'llm_invalid', message: 'm', raw: 'b'.repeat(100_000) });
    await sink.close();
    const [prefix, whole] = await lines(path);
    expect(prefix).toMatchObject({ rawBytes: 20_000_000, rawTruncated: true });
    expect(prefix!.raw).toHaveLength(65_536);
    expect(whole).toMatchObject({ rawBytes: 100_000, rawTruncated: true });
    expect(whole!.raw).toHaveLength(65_536);
  });
});
