import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const ROOT = resolve(import.meta.dirname, '..');
/** A file not in tests/file-durations.json (new since it was written) is assumed to take this long. */
const UNKNOWN_S = 10;

/**
 * Longest test files first, by tests/file-durations.json (each file's measured time, hooks included; after
 * `npm test`, scripts/tests/file-durations.mjs copies it from vitest's result cache). vitest's own order
 * needs that cache, which a clean clone (CI) does not have: it then runs larger files first, and a short
 * file with a long test or hook (a Kafka broker restart, 90 s; the image replay's `npm ci`, 2 min) could
 * start last and run alone on one of the 2 workers. Longest first, the short files fill the end on both.
 */
export class LongestFirstSequencer extends BaseSequencer {
  #durations: Record<string, number> = JSON.parse(readFileSync(resolve(ROOT, 'tests/file-durations.json'), 'utf8'));

  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cost = (f: TestSpecification) => this.#durations[relative(ROOT, f.moduleId)] ?? UNKNOWN_S;
    return [...files].sort((a, b) => cost(b) - cost(a));
  }
}
