import { describe, expect, it } from 'vitest';
import type { ChatMessage, ChatTool } from '../../src/chat-format.js';
import { FastLines, Out } from '../../src/export/chat-bytes.js';
import { chatMessagesOf, chatToolsOf } from '../../src/export/chat-rows.js';
import { toHermes, toOpenAi, toShareGpt, type ChatRow, type Converted } from '../../src/export/formats.js';
import { mulberry32 } from '../mulberry32.js';

/**
 * The fast path (src/export/chat-bytes.ts) against the slow one (parse, convert, JSON.stringify) on
 * random rows: whenever the scan accepts a row's text, the line it writes is byte for byte the slow
 * path's (or it skips for the same reason); the sink's text (JSON.stringify of chat-format shapes) is
 * accepted unless it holds what the scan leaves to the slow path: a lone surrogate's escape, or a key
 * starting with a digit in tools' parameters (JSON.parse may reorder such keys).
 */

const PIECES = ['a', 'Zq', ' ', '"', '\\', '\n', '\t', '\r', '\b', '\f', '\u0001', '\u001f', '\u007f', 'é', '日本', '😀', '\u2028', '/', '<tool_call>', '{"x":1}', '0', '-', 'true', 'null', '[', '}'];

function gen(r: () => number) {
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const text = (max = 6) => Array.from({ length: Math.floor(r() * max) }, () => pick(PIECES)).join('');
  const key = () => pick(['a', 'b', 'city', 'é', '1st', '2', '__proto__', 'x y', 'q"k']);
  const value = (d: number): unknown => {
    const k = r();
    if (d > 2 || k < 0.3) return pick([0, 1, -2, 1.5, 1e21, 1e-7, 123456789012, true, false, null, text(3)]);
    if (k < 0.65) return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, () => [key(), value(d + 1)]));
    return Array.from({ length: Math.floor(r() * 3) }, () => value(d + 1));
  };
  // JSON text as a row might hold it: canonical, spaced, not JSON at all, or odd numbers.
  const jsonText = () => {
    const k = r();
    if (k < 0.55) return JSON.stringify(value(0));
    if (k < 0.65) return JSON.stringify(value(0), null, 1);
    if (k < 0.75) return pick(['{"x":1.0}', '{"a":1,"a":2}', '{"2":1,"1":0}', '[1, 2]', ' 42', '"s"', '-0', '1E3']);
    return text(5);
  };
  const tools: ChatTool[] = Array.from({ length: Math.floor(r() * 3) }, (_, i) => ({ type: 'function', function: { name: `t${i}${pick(['', 'é', '"q'])}`, description: text(4), parameters: Object.fromEntries(Array.from({ length: Math.floor(r() * 3) }, () => [key(), value(1)])) as Record<string, unknown> } }));
  const messages: ChatMessage[] = [];
  let call = 0;
  for (let n = Math.floor(r() * 9); n > 0; n--) {
    const k = r();
    if (k < 0.1) messages.push({ role: 'system', content: text() });
    else if (k < 0.35) messages.push({ role: 'user', content: text() });
    else if (k < 0.75) {
      const calls = r() < 0.5 ? [] : Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({ id: `c${call++}`, type: 'function' as const, function: { name: pick(['f', 'g', 'é"']), arguments: jsonText() } }));
      messages.push(calls.length > 0 ? { role: 'assistant', content: r() < 0.5 ? '' : text(), tool_calls: calls } : { role: 'assistant', content: text() });
    } else {
      const m: ChatMessage = { role: 'tool', content: jsonText() };
      if (r() < 0.8) m.tool_call_id = `c${Math.floor(r() * (call + 1))}`;
      if (r() < 0.7) m.name = pick(['f', 'g', 'n\\']);
      messages.push(m);
    }
  }
  return { messages, tools };
}

/** The value parseArgs makes of a text (kept as the string when not JSON). */
const parseArgsOrText = (s: string): unknown => {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
};

const slowOf = (format: 'sharegpt' | 'hermes', row: ChatRow): Converted => (format === 'sharegpt' ? toShareGpt(row) : toHermes(row));

describe('export fast path', () => {
  it('writes exactly the slow path line (or skip) for every row its scan accepts, sharegpt and hermes, and accepts the sink text', () => {
    const r = mulberry32(11);
    const fast = new FastLines();
    const out = new Out(1 << 16);
    let accepted = 0;
    let total = 0;
    let left = 0;
    for (let k = 0; k < 3000; k++) {
      const { messages, tools } = gen(r);
      const mt = JSON.stringify(messages);
      const tt = JSON.stringify(tools);
      total++;
      if (!fast.scan.scan(Buffer.from(mt), Buffer.from(tt))) {
        expect(/\\ud[89a-f]/.test(mt + tt) || /[{,]"\d/.test(tt), mt + tt).toBe(true);
        left++;
        continue;
      }
      accepted++;
      const row: ChatRow = { trajectoryId: `tr"${k}`, documentId: 'd', messages: chatMessagesOf(mt), tools: chatToolsOf(tt) };
      for (const format of ['sharegpt', 'hermes'] as const) {
        fast.scan.scan(Buffer.from(mt), Buffer.from(tt));
        out.at = 0;
        const reason = format === 'sharegpt' ? fast.sharegpt(out) : fast.hermes(out, row.trajectoryId);
        const slow = slowOf(format, row);
        if ('skip' in slow) expect(reason, `${format} ${mt}`).toBe(slow.skip);
        else expect(out.buf.toString('utf8', 0, out.at), `${format} ${mt} ${tt}`).toBe(JSON.stringify(slow.record));
      }
    }
    expect(accepted + left).toBe(total);
    expect(accepted).toBeGreaterThan(total * 0.6);
  });

  it('copies tool-call arguments and tool replies only when they are what parse + JSON.stringify give, else converts them: the slow path\'s line on tricky JSON texts', () => {
    // Arguments / replies as text: canonical JSON with escapes inside strings at every depth, and texts
    // that re-serialise differently (spaces, duplicate and numeric keys, escapes JSON.stringify does not
    // write, numbers in another form), or are not JSON at all.
    const texts = [
      '{"q":"say \\"hi\\" \\\\ back","n":[1,-2.5,1e+21,true,null,{"k":"é ✓ 😀"}],"e":{}}',
      '{"a":{"b":{"c":["x\\ny","\\t","\\u0001","\\b\\f\\r"]}},"z":""}',
      '{"k\\"q":"v","k\\\\":"\\\\\\""}',
      '["\\"",{"x":"\\\\"},"\\u001f"]',
      '{"nested":"{\\"inner\\":\\"json as a string\\"}"}',
      '"just a string"',
      '42',
      '-0',
      '{"x":1.0}',
      '{"a":1,"a":2}',
      '{"2":1,"1":0}',
      '{"a": 1}',
      '{"u":"\\u00e9"}',
      '{"s":"\\/"}',
      '{"lone":"\\ud800"}',
      '{"U":"\\u001F"}',
      '{"bad":',
      'plain text, "quoted" \\ and all',
      '',
      '\\',
      '{"x":"\\"}',
    ];
    const fast = new FastLines();
    const out = new Out(1 << 12);
    let copied = 0;
    for (const [i, a] of texts.entries()) {
      for (const reply of [a, '{"ok":true}']) {
        const b = texts[(i + 7) % texts.length]!;
        const messages: ChatMessage[] = [
          { role: 'system', content: '' },
          { role: 'user', content: 'é "x" \\ ✓' },
          { role: 'assistant', content: i % 2 ? '' : 'calling', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: a } }, { id: 'c2', type: 'function', function: { name: 'g"', arguments: b } }] },
          { role: 'tool', content: reply, tool_call_id: 'c1', name: 'f' },
          { role: 'tool', content: b, tool_call_id: 'c2', name: 'g"' },
          { role: 'assistant', content: 'done' },
        ];
        const tools: ChatTool[] = [{ type: 'function', function: { name: 'f', description: 'd "q"', parameters: { type: 'object', properties: { q: { type: 'string', enum: ['a"b', 'c\\d'] } } } } }];
        const mt = JSON.stringify(messages);
        const tt = JSON.stringify(tools);
        const row: ChatRow = { trajectoryId: `t${i}`, documentId: 'd', messages: chatMessagesOf(mt), tools: chatToolsOf(tt) };
        for (const format of ['sharegpt', 'hermes'] as const) {
          const ok = fast.scan.scan(Buffer.from(mt), Buffer.from(tt));
          if (!ok) {
            expect(/\\\\ud8/.test(mt), mt).toBe(true); // a lone surrogate's escape: left to the slow path
            continue;
          }
          out.at = 0;
          expect(format === 'sharegpt' ? fast.sharegpt(out) : fast.hermes(out, row.trajectoryId)).toBeUndefined();
          const slow = slowOf(format, row);
          expect('record' in slow && JSON.stringify(slow.record), `${format} ${a}`).toBe(out.buf.toString('utf8', 0, out.at));
          // A canonical text is copied as it is (its literal's body appears in the line).
          if (JSON.stringify(JSON.parse(JSON.stringify(parseArgsOrText(a)))) === JSON.stringify(parseArgsOrText(a)) && out.buf.includes(Buffer.from(JSON.stringify(a).slice(1, -1)))) copied++;
        }
      }
    }
    expect(copied).toBeGreaterThan(10);
  });

  it('scans bytes at any offset of their buffer the same, and finds a bad byte at every position modulo 16', () => {
    const r = mulberry32(5);
    const fast = new FastLines();
    const out = new Out(1 << 16);
    /** b's bytes at byte offset `at` of a fresh buffer (a reader's view of a page is anywhere in it). */
    const at = (b: Buffer, off: number) => {
      const u = new Uint8Array(b.length + 8).subarray(off, off + b.length);
      u.set(b);
      return u;
    };
    const lineAt = (mt: Buffer, tt: Buffer, off: number) => {
      if (!fast.scan.scan(at(mt, off), at(tt, (off * 3) % 4))) return undefined;
      out.at = 0;
      fast.hermes(out, 't');
      const h = out.buf.toString('utf8', 0, out.at);
      fast.scan.scan(at(mt, off), at(tt, (off * 3) % 4));
      out.at = 0;
      return `${String(fast.sharegpt(out))} ${out.buf.toString('utf8', 0, out.at)} ${h}`;
    };
    for (let k = 0; k < 400; k++) {
      const { messages, tools } = gen(r);
      const mt = Buffer.from(JSON.stringify(messages));
      const tt = Buffer.from(JSON.stringify(tools));
      const want = lineAt(mt, tt, 0);
      for (let off = 1; off < 4; off++) expect(lineAt(mt, tt, off), `offset ${off}: ${mt.toString()}`).toBe(want);
    }
    // A raw control character, or an escape JSON.stringify does not write, at every position modulo 16 and
    // across word boundaries, is found.
    const tools = Buffer.from('[]');
    for (const bad of ['\\n', '\\u00e9', '\\/', '\\u001F', '\\u000a', '\\x']) {
      for (let pad = 0; pad < 16; pad++) {
        const mt = Buffer.from(`[{"role":"user","content":"${'a'.repeat(pad)}${bad}${'b'.repeat(9)}"}]`);
        for (let off = 0; off < 4; off++) expect(fast.scan.scan(at(mt, off), tools), `${mt.toString()} at ${off}`).toBe(bad === '\\n');
      }
    }
    for (let pad = 0; pad < 16; pad++) {
      const ok = Buffer.from(`[{"role":"user","content":"${'a'.repeat(pad)}\\"\\\\\\u001f\\t${'b'.repeat(9)}"}]`);
      const raw = Buffer.from(`[{"role":"user","content":"${'a'.repeat(pad)}\u0001${'b'.repeat(9)}"}]`);
      for (let off = 0; off < 4; off++) {
        expect(fast.scan.scan(at(ok, off), tools), `${ok.toString()} at ${off}`).toBe(true);
        expect(fast.scan.scan(at(raw, off), tools), `raw control at ${pad} ${off}`).toBe(false);
      }
    }
  });

  it('escapes text as JSON.stringify does, short runs in JS and long ones in WebAssembly, at any offset', () => {
    const r = mulberry32(3);
    const out = new Out(16);
    const pieces = PIECES.filter((p) => !/[\u0000-\u001f]/.test(p));
    for (const len of [0, 1, 15, 16, 17, 127, 128, 129, 200, 1000, 5000, 40000]) {
      let text = '';
      while (Buffer.byteLength(text) < len) text += pieces[Math.floor(r() * pieces.length)]!;
      const bytes = Buffer.from(text);
      for (const off of [0, 1, 5]) {
        const big = new Uint8Array(bytes.length + 10);
        big.set(bytes, off);
        out.at = 3;
        out.esc(big, off, off + bytes.length);
        expect(out.buf.toString('utf8', 3, out.at), `${len} at ${off}`).toBe(JSON.stringify(text).slice(1, -1));
      }
    }
  });

  it('leaves to the slow path text that is not the sink\'s: spacing, other escapes, key orders, raw control characters', () => {
    const fast = new FastLines();
    const tools = Buffer.from('[]');
    const good = '[{"role":"user","content":"hi"},{"role":"assistant","content":"","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"r","tool_call_id":"c","name":"f"}]';
    expect(fast.scan.scan(Buffer.from(good), tools)).toBe(true);
    for (const bad of [
      '[{"role": "user","content":"hi"}]',
      '[{"role":"user","content":"\\u00e9"}]',
      '[{"role":"user","content":"\\/"}]',
      '[{"role":"user","content":"\\u001F"}]',
      '[{"role":"user","content":"a\nb"}]',
      '[{"content":"hi","role":"user"}]',
      '[{"role":"user","content":"hi","extra":1}]',
      '[{"role":"developer","content":"hi"}]',
      '[{"role":"user","content":null}]',
      '[{"role":"tool","content":"r","name":"f","tool_call_id":"c"}]',
      '[{"role":"assistant","content":"","tool_calls":[{"id":"c","type":"other","function":{"name":"f","arguments":"{}"}}]}]',
      '[{"role":"assistant","content":"","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]',
      '[{"role":"user","content":"hi"}] ',
      '[{"role":"user","content":"hi"}',
    ]) {
      expect(fast.scan.scan(Buffer.from(bad), tools), bad).toBe(false);
    }
    for (const badTools of ['[{"type":"function","function":{"name":"f","description":"d","parameters":{"a":1,"a":2}}}]', '[{"type":"function","function":{"name":"f","description":"d","parameters":{"1":1}}}]', '[{"type":"function","function":{"name":"f","description":"d","parameters":{"x":1.0}}}]', '[{"type":"function","function":{"name":"f","parameters":{}}}]', '[{"name":"f","description":"d","parameters":{}}]']) {
      expect(fast.scan.scan(Buffer.from(good), Buffer.from(badTools)), badTools).toBe(false);
    }
  });
});

describe('roles sharegpt and hermes do not know', () => {
  it('skip the row as unknown_role (the converters used to loop forever on one); openai keeps the role', () => {
    const row: ChatRow = { trajectoryId: 't', documentId: 'd', messages: [{ role: 'developer' as never, content: 'd' }, { role: 'user', content: 'u' }, { role: 'assistant', content: 'a' }], tools: [] };
    expect(toShareGpt(row)).toEqual({ skip: 'unknown_role' });
    expect(toHermes(row)).toEqual({ skip: 'unknown_role' });
    expect(toOpenAi(row)).toEqual({ record: { messages: [{ role: 'developer', content: 'd' }, { role: 'user', content: 'u' }, { role: 'assistant', content: 'a' }], tools: [] } });
  });
});
