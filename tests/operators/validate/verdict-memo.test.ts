import { describe, expect, it } from 'vitest';
import { trajectoryViolations } from '../../../operators/ground/trajectory-checks.js';
import { SchemaValidatorCache } from '../../../operators/validate/schema-validator-cache.js';
import { validateTrajectory } from '../../../operators/validate/validate.js';
import { Trajectory } from '../../../src/trajectory.js';
import { validTrajectory } from './fixtures.js';

/** A trajectory with two defects: a call to an undefined tool and a user turn right after a tool reply. */
function defective(): Trajectory {
  const t = validTrajectory();
  const call = t.messages.find((m) => m.toolCalls?.length)!.toolCalls![0]!;
  call.name = 'no_such_tool';
  return t;
}

describe('validateTrajectory verdicts by object', () => {
  it('a second check of the same object gives the same violations as a fresh check of an equal copy, as independent arrays', () => {
    const t = defective();
    const first = validateTrajectory(t);
    expect(first.map((v) => v.rule)).toContain('unknown_tool');
    const again = validateTrajectory(t);
    expect(again).toEqual(first);
    expect(again).not.toBe(first);
    again[0]!.message = 'changed by a caller';
    again.push({ rule: 'schema', message: 'added by a caller' });
    expect(validateTrajectory(t)).toEqual(first);
    // An equal copy (another object) and a private cache (never remembered) give the same verdict.
    expect(validateTrajectory(structuredClone(t))).toEqual(first);
    expect(validateTrajectory(t, new SchemaValidatorCache())).toEqual(first);
  });

  it('a changed trajectory is a new object and gets its own verdict', () => {
    const t = validTrajectory();
    expect(validateTrajectory(t)).toEqual([]);
    const changed = structuredClone(t);
    changed.messages.find((m) => m.toolCalls?.length)!.toolCalls![0]!.name = 'no_such_tool';
    expect(validateTrajectory(changed).map((v) => v.rule)).toContain('unknown_tool');
    expect(validateTrajectory(t)).toEqual([]);
  });

  it('a stage check (shape already parsed by zod) gives the verdict of the full check', () => {
    for (const make of [validTrajectory, defective]) {
      const parsed = Trajectory.parse(make());
      const full = validateTrajectory(make(), new SchemaValidatorCache()).map((v) => v.rule);
      const fromCheck = trajectoryViolations(parsed, 'trajectory');
      expect(fromCheck.length).toBe(full.length);
      full.forEach((rule, i) => expect(fromCheck[i]).toContain(`[${rule}]`));
    }
  });
});
