import { createHash } from 'node:crypto';

/** Hex sha256 of the parts joined by a NUL byte (so ["ab","c"] and ["a","bc"] differ). */
export function sha256Hex(...parts: readonly (string | number)[]): string {
  return createHash('sha256').update(parts.map(String).join('\0')).digest('hex');
}

/** A uniform number in [0, 1) determined by the parts: the simulator's only source of "randomness". */
export function hashUnit(...parts: readonly (string | number)[]): number {
  return parseInt(sha256Hex(...parts).slice(0, 13), 16) / 2 ** 52;
}

/**
 * A deterministic pseudo-random sequence seeded from a string (mulberry32 over a sha256-derived
 * seed). Content generators take one so that the same request always yields the same answer.
 */
export class Rng {
  private state: number;

  constructor(seed: string) {
    this.state = parseInt(sha256Hex(seed).slice(0, 8), 16) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick of an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `digits` decimal digits, leading zeros allowed. */
  digits(digits: number): string {
    let s = '';
    for (let i = 0; i < digits; i++) s += String(Math.floor(this.next() * 10));
    return s;
  }
}
