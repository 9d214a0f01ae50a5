export interface Line {
  /** The line without its "\n" (and without a trailing "\r"); for an oversized line, only its first bytes. */
  bytes: Buffer;
  /** Length of the whole line in bytes. */
  length: number;
  /** True when the line was longer than maxLineBytes and only a prefix was kept. */
  truncated: boolean;
}

/**
 * Splits a byte stream on "\n" without decoding it, so invalid UTF-8 reaches the decoder intact
 * (a string decode would silently turn it into U+FFFD). A line longer than `maxLineBytes` is not
 * kept whole: only its first `keepBytes` bytes are, and the rest is counted and dropped, so memory
 * stays bounded whatever the line length. A final line without "\n" is yielded; the empty
 * remainder after a final "\n" is not.
 */
export async function* splitLines(chunks: AsyncIterable<Buffer>, maxLineBytes: number, keepBytes: number): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let kept = 0; // bytes held in parts
  let length = 0; // bytes of the current line so far
  let truncated = false;

  const append = (piece: Buffer) => {
    length += piece.length;
    if (!truncated && length > maxLineBytes) {
      truncated = true;
      const held = Buffer.concat([...parts, piece]);
      parts = [held.subarray(0, Math.min(keepBytes, held.length))];
      kept = parts[0]!.length;
    } else if (!truncated) {
      parts.push(piece);
      kept += piece.length;
    } else if (kept < keepBytes) {
      const more = piece.subarray(0, keepBytes - kept);
      parts.push(more);
      kept += more.length;
    }
  };

  const finish = (): Line => {
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, kept);
    let len = length;
    if (!truncated && bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) {
      bytes = bytes.subarray(0, bytes.length - 1);
      len -= 1;
    }
    const line = { bytes, length: len, truncated };
    parts = [];
    kept = 0;
    length = 0;
    truncated = false;
    return line;
  };

  let pending = false; // bytes seen since the last "\n"
  for await (const chunk of chunks) {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl === -1) {
        append(chunk.subarray(pos));
        pending = true;
        break;
      }
      append(chunk.subarray(pos, nl));
      pending = false;
      yield finish();
      pos = nl + 1;
    }
  }
  if (pending) yield finish();
}

/** True for a line of spaces, tabs and carriage returns only. */
export function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}
