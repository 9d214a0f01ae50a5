import { GemflowError } from '../errors.js';
import { hashUnit } from './hash.js';
import { FAULT_KINDS, type FaultConfig, type FaultKind } from './options.js';

/**
 * Decides which fault (if any) a chat request gets. The roll is a hash of the seed, the replica, the
 * request's key and how many times this replica has seen that key, so a run is reproducible whatever
 * the arrival order, and a retry of a failed call rolls again instead of failing forever.
 */
export class FaultPlan {
  private bands: { kind: FaultKind; upTo: number }[] = [];
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly seed: number,
    private readonly replica: number,
    config: FaultConfig,
  ) {
    this.configure(config);
  }

  configure(config: FaultConfig): void {
    const rates = new Map<FaultKind, number>();
    for (const [kind, rate] of Object.entries(config.rates ?? {}) as [FaultKind, number][]) {
      if (!FAULT_KINDS.includes(kind)) throw new GemflowError('invalid_fault_config', `unknown fault kind "${kind}"; known: ${FAULT_KINDS.join(', ')}`);
      rates.set(kind, rate);
    }
    const total = config.totalRate ?? 0;
    const kinds = config.kinds ?? FAULT_KINDS;
    if (kinds.length === 0 && total > 0) throw new GemflowError('invalid_fault_config', 'totalRate needs at least one fault kind');
    for (const kind of kinds) {
      if (!FAULT_KINDS.includes(kind)) throw new GemflowError('invalid_fault_config', `unknown fault kind "${kind}"; known: ${FAULT_KINDS.join(', ')}`);
      rates.set(kind, (rates.get(kind) ?? 0) + total / kinds.length);
    }
    let upTo = 0;
    const bands: { kind: FaultKind; upTo: number }[] = [];
    for (const kind of FAULT_KINDS) {
      const rate = rates.get(kind) ?? 0;
      if (!(rate >= 0)) throw new GemflowError('invalid_fault_config', `fault rate of ${kind} must be a number >= 0, got ${rate}`);
      if (rate === 0) continue;
      upTo += rate;
      bands.push({ kind, upTo });
    }
    if (upTo > 1 + 1e-9) throw new GemflowError('invalid_fault_config', `fault rates add up to ${upTo}; at most 1`);
    this.bands = bands;
  }

  /** The fault for this attempt of the request with `key`, or undefined. */
  roll(key: string): FaultKind | undefined {
    const attempt = this.attempts.get(key) ?? 0;
    this.attempts.set(key, attempt + 1);
    if (this.bands.length === 0) return undefined;
    const u = hashUnit('fault', this.seed, this.replica, key, attempt);
    return this.bands.find((b) => u < b.upTo)?.kind;
  }
}
