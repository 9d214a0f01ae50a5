/**
 * Snappy compression for the Parquet sink: hyparquet-writer's compressor (snappyjs, MIT, Copyright (c)
 * 2016 Zhipeng Jia) with the same matching, so the same bytes, written straight into one array of the
 * format's worst-case size instead of through a growing ByteWriter one byte per call; a match is
 * extended four bytes at a time.
 * tests/sinks/snappy.test.ts compares the two byte for byte.
 */
const MAX_HASH_TABLE_BITS = 14;
const MAX_OFFSET = 0xffff;
const INPUT_MARGIN = 15;
const hashTables: (Uint32Array | undefined)[] = new Array(MAX_HASH_TABLE_BITS + 1);

const hashFunc = (key: number, shift: number): number => Math.imul(key, 0x1e35a7bd) >>> shift;

// Reads past the end give undefined, so NaN, as in the original (its hash is then 0): kept as it is.
const load32 = (a: Uint8Array, p: number): number => a[p]! + (a[p + 1]! << 8) + (a[p + 2]! << 16) + (a[p + 3]! << 24);

const equals32 = (a: Uint8Array, p: number, q: number): boolean => a[p] === a[q] && a[p + 1] === a[q + 1] && a[p + 2] === a[q + 2] && a[p + 3] === a[q + 3];

export function snappyCompress(input: Uint8Array): Uint8Array {
  // Snappy's bound: 32 + n + n/6, plus the length varint (at most 5 bytes).
  const out = new Uint8Array(37 + input.length + Math.ceil(input.length / 6));
  let o = 0;
  let v = input.length;
  while ((v & ~0x7f) !== 0) {
    out[o++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[o++] = v;

  const literal = (ip: number, len: number): void => {
    if (len <= 60) {
      out[o++] = (len - 1) << 2;
    } else {
      const value = len - 1;
      const bytes = value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
      out[o++] = (59 + bytes) << 2;
      for (let i = 0; i < bytes; i++) out[o++] = value >>> (i * 8);
    }
    // A short literal byte by byte: no subarray object for it.
    if (len <= 16) for (let i = 0; i < len; i++) out[o + i] = input[ip + i]!;
    else out.set(input.subarray(ip, ip + len), o);
    o += len;
  };
  const copyLessThan64 = (offset: number, len: number): void => {
    if (len < 12 && offset < 2048) {
      out[o++] = 1 + ((len - 4) << 2) + ((offset >>> 8) << 5);
      out[o++] = offset & 0xff;
    } else {
      out[o++] = 2 + ((len - 1) << 2);
      out[o++] = offset & 0xff;
      out[o++] = offset >>> 8;
    }
  };
  const copy = (offset: number, len: number): void => {
    while (len >= 68) {
      copyLessThan64(offset, 64);
      len -= 64;
    }
    if (len > 64) {
      copyLessThan64(offset, 60);
      len -= 60;
    }
    copyLessThan64(offset, len);
  };

  const inputSize = input.length;
  // Unaligned little-endian reads, for extending a match four bytes at a time.
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  let hashTableBits = 1;
  while (1 << hashTableBits <= inputSize && hashTableBits <= MAX_HASH_TABLE_BITS) hashTableBits++;
  hashTableBits--;
  const shift = 32 - hashTableBits;
  const hashTable = (hashTables[hashTableBits] ??= new Uint32Array(1 << hashTableBits));
  hashTable.fill(0);

  let ip = 0;
  let nextEmit = 0;
  if (inputSize >= INPUT_MARGIN) {
    const ipLimit = inputSize - INPUT_MARGIN;
    ip++;
    let nextHash = hashFunc(load32(input, ip), shift);
    let candidate = 0;
    outer: for (;;) {
      let skip = 32;
      let nextIp = ip;
      do {
        ip = nextIp;
        const hash = nextHash;
        const step = skip >>> 5;
        skip++;
        nextIp = ip + step;
        if (ip > ipLimit) break outer;
        nextHash = hashFunc(load32(input, nextIp), shift);
        candidate = hashTable[hash]!;
        hashTable[hash] = ip;
      } while (ip - candidate > MAX_OFFSET || !equals32(input, ip, candidate));

      literal(nextEmit, ip - nextEmit);
      do {
        const base = ip;
        let matched = 4;
        // Four bytes at a time while they are equal, then byte by byte to the first difference: the
        // same length as comparing byte by byte throughout.
        while (ip + matched + 4 <= inputSize && dv.getUint32(ip + matched, true) === dv.getUint32(candidate + matched, true)) matched += 4;
        while (ip + matched < inputSize && input[ip + matched] === input[candidate + matched]) matched++;
        ip += matched;
        copy(base - candidate, matched);
        nextEmit = ip;
        if (ip >= ipLimit) break outer;
        hashTable[hashFunc(load32(input, ip - 1), shift)] = ip - 1;
        const curHash = hashFunc(load32(input, ip), shift);
        candidate = hashTable[curHash]!;
        hashTable[curHash] = ip;
      } while (ip - candidate <= MAX_OFFSET && equals32(input, ip, candidate));
      ip++;
      nextHash = hashFunc(load32(input, ip), shift);
    }
  }
  if (nextEmit < inputSize) literal(nextEmit, inputSize - nextEmit);
  return out.subarray(0, o);
}
