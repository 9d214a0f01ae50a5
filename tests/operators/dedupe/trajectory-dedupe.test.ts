import { describe, expect, it } from 'vitest';
import { TrajectoryDedupe, type DedupeStore } from '../../../operators/dedupe/trajectory-dedupe.js';
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
  it('flags the same dialogue under another id, naming the first', () => {
    const d = new TrajectoryDedupe();
    expect(d.check('t1', validTrajectory())).toEqual({ duplicate: false });
    expect(d.check('t2', validTrajectory())).toEqual({ duplicate: true, of: 't1' });
    expect(d.check('t3', cosmeticVariant())).toEqual({ duplicate: true, of: 't1' });
  });

  it('does not flag a re-check of the same id (a replay)', () => {
    const d = new TrajectoryDedupe();
    expect(d.check('t1', validTrajectory())).toEqual({ duplicate: false });
    expect(d.check('t1', validTrajectory())).toEqual({ duplicate: false });
  });

  it('tells apart dialogues that differ in content, arguments, roles or tools', () => {
    const d = new TrajectoryDedupe();
    const variants = [
      validTrajectory(),
      edited((t) => (t.messages[1]!.content += ' Please hurry.')),
      edited((t) => (t.messages[4]!.toolCalls![0]!.arguments.email = 'other@example.com')),
      edited((t) => (t.messages[4]!.toolCalls![0]!.name = 'get_order')),
      edited((t) => (t.messages[2]!.role = 'user')),
      edited((t) => t.tools.pop()),
      edited((t) => (t.tools[0]!.parameters = { type: 'object' })),
    ];
    variants.forEach((t, i) => expect(d.check(`v${i}`, t)).toEqual({ duplicate: false }));
  });

  it('persists through a store shared by instances', () => {
    const map = new Map<string, string>();
    const store: DedupeStore = { get: (k) => map.get(k), put: (k, v) => void map.set(k, v) };
    expect(new TrajectoryDedupe({ store }).check('run1-t1', validTrajectory())).toEqual({ duplicate: false });
    expect(map.size).toBe(1);
    const later = new TrajectoryDedupe({ store });
    expect(later.check('run2-t9', cosmeticVariant())).toEqual({ duplicate: true, of: 'run1-t1' });
    expect(later.check('run1-t1', validTrajectory())).toEqual({ duplicate: false });
  });
});
