import { argumentsJson } from '../../src/chat-format.js';
import type { TrajectoryStats } from '../../src/sinks/types.js';
import { contentJson, NOT_JSON, type Message, type ToolCall, type Trajectory } from '../../src/trajectory.js';

/**
 * complexityScore = Σ weight × clamp((value - floor) / (cap - floor), 0, 1). The weights sum to 1, so
 * the score is in 0..1; a value at or above its cap earns the whole weight. Floors leave out what
 * every trajectory has anyway (one user turn, flat arguments, a single call in a chain).
 */
export const COMPLEXITY_WEIGHTS = [
  /** Multi-hop reasoning: calls fed by values from earlier tool results (GEM's core difficulty). */
  { field: 'longestDependencyChain', weight: 0.25, floor: 1, cap: 4 },
  /** Amount of tool use. */
  { field: 'toolCalls', weight: 0.15, floor: 0, cap: 8 },
  /** Breadth: different tools combined in one task. */
  { field: 'distinctTools', weight: 0.15, floor: 0, cap: 4 },
  /** Recovering from failed tool calls instead of giving up or inventing results. */
  { field: 'errorRecoveryTurns', weight: 0.15, floor: 0, cap: 2 },
  /** Structured arguments: objects and arrays inside the arguments. */
  { field: 'maxArgDepth', weight: 0.1, floor: 1, cap: 3 },
  /** Asking the user for missing information instead of guessing it. */
  { field: 'clarificationTurns', weight: 0.1, floor: 0, cap: 2 },
  /** Multi-turn interaction: the user speaks more than once. */
  { field: 'userTurns', weight: 0.1, floor: 1, cap: 4 },
] as const satisfies readonly { field: keyof TrajectoryStats; weight: number; floor: number; cap: number }[];

/** The complexity statistics of one trajectory (see TrajectoryStats for the fields). */
export function trajectoryStats(t: Trajectory): TrajectoryStats {
  const msgs = t.messages;
  // Each tool reply is parsed once (and validation has usually parsed it already).
  const parseReply = (m: Message): unknown => {
    const v = contentJson(m);
    return v === NOT_JSON ? undefined : v;
  };
  const calls = msgs.flatMap((m) => (m.role === 'assistant' ? (m.toolCalls ?? []) : []));
  let chars = 0;
  for (const m of msgs) chars += m.content.length;
  for (const c of calls) chars += argumentsJson(c).length;

  const stats: TrajectoryStats = {
    messages: msgs.length,
    userTurns: msgs.filter((m) => m.role === 'user').length,
    assistantTurns: msgs.filter((m) => m.role === 'assistant').length,
    toolTurns: msgs.filter((m) => m.role === 'tool').length,
    toolCalls: calls.length,
    distinctTools: new Set(calls.map((c) => c.name)).size,
    toolsDefined: t.tools.length,
    maxArgDepth: calls.reduce((max, c) => Math.max(max, nestingDepth(c.arguments)), 0),
    longestDependencyChain: longestDependencyChain(msgs, parseReply),
    clarificationTurns: msgs.filter((m, i) => isClarification(m, msgs[i + 1])).length,
    errorRecoveryTurns: msgs.filter((m, i) => m.role === 'assistant' && followsErrorReply(msgs, i, parseReply)).length,
    tokens: Math.ceil(chars / 4),
    complexityScore: 0,
  };
  stats.complexityScore = complexityScore(stats);
  return stats;
}

export interface FieldSummary {
  mean: number;
  p50: number;
  p90: number;
  max: number;
}

/** Per-field distribution over a run, for the run manifest. */
export interface StatsSummary {
  count: number;
  fields: Record<keyof TrajectoryStats, FieldSummary>;
}

// A Record literal, so the compiler insists on every field of TrajectoryStats.
const FIELDS = Object.keys({
  messages: true, userTurns: true, assistantTurns: true, toolTurns: true, toolCalls: true,
  distinctTools: true, toolsDefined: true, maxArgDepth: true, longestDependencyChain: true,
  clarificationTurns: true, errorRecoveryTurns: true, tokens: true, complexityScore: true,
} satisfies Record<keyof TrajectoryStats, true>) as (keyof TrajectoryStats)[];

/** mean / p50 / p90 / max of each field; percentiles by nearest rank; all zeros for no rows. */
export function summarizeStats(rows: TrajectoryStats[]): StatsSummary {
  const fields = {} as Record<keyof TrajectoryStats, FieldSummary>;
  for (const f of FIELDS) {
    const sorted = rows.map((r) => r[f]).sort((a, b) => a - b);
    const n = sorted.length;
    const rank = (p: number): number => (n === 0 ? 0 : sorted[Math.max(0, Math.ceil(p * n) - 1)]!);
    fields[f] = {
      mean: n === 0 ? 0 : round4(sorted.reduce((s, v) => s + v, 0) / n),
      p50: rank(0.5),
      p90: rank(0.9),
      max: n === 0 ? 0 : sorted[n - 1]!,
    };
  }
  return { count: rows.length, fields };
}

function complexityScore(s: TrajectoryStats): number {
  let score = 0;
  for (const { field, weight, floor, cap } of COMPLEXITY_WEIGHTS) {
    score += weight * Math.min(1, Math.max(0, (s[field] - floor) / (cap - floor)));
  }
  return round4(score);
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** Objects/arrays nesting: a scalar is 0, `{a: 1}` is 1, `{a: [1]}` is 2. */
function nestingDepth(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  let deepest = 0;
  for (const child of Array.isArray(v) ? v : Object.values(v)) deepest = Math.max(deepest, nestingDepth(child));
  return 1 + deepest;
}

/** A question to the user: ends with '?' or has a sentence ending in '?', and the user answers next. */
function isClarification(m: Message, next: Message | undefined): boolean {
  if (m.role !== 'assistant' || (m.toolCalls?.length ?? 0) > 0 || next?.role !== 'user') return false;
  return /\?["')\]]*(\s|$)/.test(m.content.trim());
}

/** The assistant message at i comes right after a run of tool replies, one of which reports an error. */
function followsErrorReply(msgs: Message[], i: number, parseReply: (m: Message) => unknown): boolean {
  for (let j = i - 1; j >= 0 && msgs[j]!.role === 'tool'; j--) {
    if (isErrorReply(parseReply(msgs[j]!))) return true;
  }
  return false;
}

/** A JSON object with a non-null `error`, a `status` >= 400, or `ok: false` (`v`: the parsed reply, undefined when not JSON). */
function isErrorReply(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const status = typeof o.status === 'string' ? Number(o.status) : o.status;
  return (o.error !== undefined && o.error !== null && o.error !== false) || (typeof status === 'number' && status >= 400) || o.ok === false;
}

/**
 * Longest path in the dependency graph of calls: call B depends on a call A made in an earlier
 * assistant turn when one of B's argument values appeared in A's tool reply: a string argument of
 * >= 3 chars occurring inside one of the reply's scalars, or a number argument equal to one of them.
 * A single call is a chain of 1; no calls, 0.
 */
function longestDependencyChain(msgs: Message[], parseReply: (m: Message) => unknown): number {
  const replies = new Map<string, string[]>();
  for (const m of msgs) {
    if (m.role === 'tool' && m.toolCallId !== undefined && !replies.has(m.toolCallId)) {
      replies.set(m.toolCallId, replyScalars(m.content, parseReply(m)));
    }
  }
  const calls: { turn: number; call: ToolCall; chain: number }[] = [];
  let longest = 0;
  msgs.forEach((m, turn) => {
    if (m.role !== 'assistant') return;
    for (const call of m.toolCalls ?? []) {
      const args = argValues(call.arguments);
      let chain = 1;
      for (const earlier of calls) {
        const reply = replies.get(earlier.call.id);
        if (earlier.turn < turn && reply && args.some((v) => appearsIn(v, reply))) chain = Math.max(chain, earlier.chain + 1);
      }
      calls.push({ turn, call, chain });
      longest = Math.max(longest, chain);
    }
  });
  return longest;
}

function appearsIn(v: string | number, replyScalars: string[]): boolean {
  if (typeof v === 'number') return replyScalars.includes(String(v));
  return replyScalars.some((s) => s.includes(v));
}

/** Argument scalars that can carry a value between calls: strings of >= 3 chars and numbers. */
function argValues(v: unknown, out: (string | number)[] = []): (string | number)[] {
  if (typeof v === 'string') {
    if (v.length >= 3) out.push(v);
  } else if (typeof v === 'number') {
    out.push(v);
  } else if (v !== null && typeof v === 'object') {
    for (const child of Array.isArray(v) ? v : Object.values(v)) argValues(child, out);
  }
  return out;
}

/** The string and number scalars of a tool reply (`parsed`: its content parsed, undefined when not JSON), as text; a reply that is not JSON is one text. */
function replyScalars(content: string, parsed: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown): void => {
    if (typeof v === 'string' || typeof v === 'number') out.push(String(v));
    else if (v !== null && typeof v === 'object') for (const child of Array.isArray(v) ? v : Object.values(v)) visit(child);
  };
  visit(parsed === undefined ? content : parsed);
  return out;
}
