import { describe, expect, it } from 'vitest';
import { TrajectoryDedupe } from '../../../operators/dedupe/trajectory-dedupe.js';
import { kvTables, SyncFingerprintIndex } from '../../../src/store/sqlite-state.js';
import type { Trajectory } from '../../../src/trajectory.js';
import { validTrajectory } from '../validate/fixtures.js';

/** The fixture re-rendered: other call ids, key order, case, whitespace, tool order, patterns. */
function cosmeticVariant(): Trajectory {
  const t = validTrajectory();
  t.tools.reverse();
  t.patterns = [];
  for (const m of t.messages) {
    m.content = `  ${m.content.toUpperCase().replace(/ /g, '  ')}\n`;
    for (const c of m.toolCalls ?? []) {
      c.id = `x-${c.id}`;
      c.arguments = Object.fromEntries(Object.entries(c.arguments).reverse());
    }
    if (m.toolCallId) m.toolCallId = `x-${m.toolCallId}`;
  }
  return t;
}

function edited(edit: (t: Trajectory) => unknown): Trajectory {
  const t = validTrajectory();
  edit(t);
  return t;
}

describe('TrajectoryDedupe', () => {
  it('flags the same dialogue under another id, naming the first', async () => {
    const d = new TrajectoryDedupe();
    expect(await d.check('t1', validTrajectory())).toEqual({ duplicate: false });
    expect(await d.check('t2', validTrajectory())).toEqual({ duplicate: true, kind: 'exact', of: 't1', similarity: 1 });
    expect(await d.check('t3', cosmeticVariant())).toEqual({ duplicate: true, kind: 'exact', of: 't1', similarity: 1 });
  });

  it('does not flag a re-check of the same id (a replay)', async () => {
    const d = new TrajectoryDedupe();
    expect(await d.check('t1', validTrajectory())).toEqual({ duplicate: false });
    expect(await d.check('t1', validTrajectory())).toEqual({ duplicate: false });
  });

  it('tells apart dialogues that differ in content, arguments, roles or tools (exact hash)', async () => {
    const d = new TrajectoryDedupe({ nearDuplicate: false });
    const variants = [
      validTrajectory(),
      edited((t) => (t.messages[1]!.content += ' Please hurry.')),
      edited((t) => (t.messages[4]!.toolCalls![0]!.arguments.email = 'other@example.com')),
      edited((t) => (t.messages[4]!.toolCalls![0]!.name = 'get_order')),
      edited((t) => (t.messages[2]!.role = 'user')),
      edited((t) => t.tools.pop()),
      edited((t) => (t.tools[0]!.parameters = { type: 'object' })),
    ];
    for (const [i, t] of variants.entries()) expect(await d.check(`v${i}`, t)).toEqual({ duplicate: false });
  });

  it('persists through a store shared by instances', async () => {
    const map = new Map<string, string>();
    const index = new SyncFingerprintIndex(kvTables({ get: (k) => map.get(k), put: (k, v) => void map.set(k, v) }), { threshold: 0.85 });
    expect(await new TrajectoryDedupe({ index }).check('run1-t1', validTrajectory())).toEqual({ duplicate: false });
    expect([...map.keys()].filter((k) => k.startsWith('exact:'))).toHaveLength(1);
    const later = new TrajectoryDedupe({ index });
    expect(await later.check('run2-t9', cosmeticVariant())).toEqual({ duplicate: true, kind: 'exact', of: 'run1-t1', similarity: 1 });
    expect(await later.check('run1-t1', validTrajectory())).toEqual({ duplicate: false });
  });

  it('flags a near duplicate of the user and assistant text (MinHash), and not a different dialogue', async () => {
    const d = new TrajectoryDedupe();
    expect(await d.check('t1', validTrajectory())).toEqual({ duplicate: false });
    // Another wording of one short user turn, other tool arguments: not exact, but the same conversation.
    const reworded = edited((t) => {
      t.messages[5 - 2]!.content = "It's maya.ortiz@example.org";
      t.messages[4]!.toolCalls![0]!.arguments.email = 'maya.ortiz@example.org';
    });
    const r = await d.check('t2', reworded);
    expect(r).toMatchObject({ duplicate: true, kind: 'near', of: 't1' });
    expect(r.duplicate && r.similarity).toBeGreaterThanOrEqual(0.85);
    const other = edited((t) => {
      for (const m of t.messages) if (m.role === 'user' || m.role === 'assistant') m.content = `${m.content.split('').reverse().join('')} ${m.role}`;
    });
    expect(await d.check('t3', other)).toEqual({ duplicate: false });
    // Exact only: the reworded dialogue is new.
    const exactOnly = new TrajectoryDedupe({ nearDuplicate: false });
    await exactOnly.check('t1', validTrajectory());
    expect(await exactOnly.check('t2', reworded)).toEqual({ duplicate: false });
  });
});
