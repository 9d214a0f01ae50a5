/**
 * Measures the CPU cost of validateTrajectory per trajectory when every trajectory brings new tool
 * schemas (as in GEM, where each document's extract step writes its own tools), with ajv only and
 * with the subset checker. Trajectories come from the simulator's synthesize answer over the sample
 * corpus; each copy gets a top-level `description` naming its number, so no schema repeats.
 *
 *   npm run build && node dist/bench/validate-cpu-probe.js [trajectories]
 *
 * CPU time is process.cpuUsage (user + system) around the validation loop only; each engine runs
 * three times, alternating, and the best run is reported (other load on the machine only adds).
 */
import { readFileSync } from 'node:fs';
import { synthesizeAnswer } from '../src/simulator/content/synthesize-answer.js';
import type { Trajectory } from '../src/trajectory.js';
import { SchemaValidatorCache } from '../operators/validate/schema-validator-cache.js';
import { validateTrajectory } from '../operators/validate/validate.js';

const COUNT = Number(process.argv[2] ?? 3000);
const WARMUP = 300;
const ROUNDS = 3;

function baseTrajectories(): Trajectory[] {
  const corpus = new URL('../../../examples/corpus.jsonl', import.meta.url);
  const docs = readFileSync(corpus, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (JSON.parse(line) as { text: string }).text);
  return docs.flatMap((text) => synthesizeAnswer(text, 4, 'cpu-probe').items.map((item) => item.trajectory));
}

/** Copies of the base trajectories whose tool schemas are all distinct from each other. */
function freshSchemaTrajectories(base: Trajectory[], from: number, count: number): Trajectory[] {
  return Array.from({ length: count }, (_, k) => {
    const n = from + k;
    const t = structuredClone(base[n % base.length]!);
    for (const tool of t.tools) tool.parameters = { ...tool.parameters, description: `arguments of ${tool.name} (document ${n})` };
    return t;
  });
}

/** CPU µs per trajectory to validate `ts` with `cache`; throws if any trajectory is rejected. */
function cpuPerTrajectory(ts: Trajectory[], cache: SchemaValidatorCache): number {
  const start = process.cpuUsage();
  let rejected = 0;
  for (const t of ts) if (validateTrajectory(t, cache).length > 0) rejected++;
  const used = process.cpuUsage(start);
  if (rejected > 0) throw new Error(`${rejected} of ${ts.length} simulator trajectories were rejected`);
  return (used.user + used.system) / ts.length;
}

function main(): void {
  const base = baseTrajectories();
  const measured = freshSchemaTrajectories(base, WARMUP, COUNT);
  const tools = measured.reduce((sum, t) => sum + t.tools.length, 0) / measured.length;
  const calls = measured.reduce((sum, t) => sum + t.messages.reduce((c, m) => c + (m.toolCalls?.length ?? 0), 0), 0) / measured.length;

  const engines = { ajv: { subset: false }, subset: { subset: true } } as const;
  const best: Record<string, number> = { ajv: Infinity, subset: Infinity, hits: Infinity };
  let subsetShare = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, options] of Object.entries(engines)) {
      const cache = new SchemaValidatorCache(1024, options);
      cpuPerTrajectory(freshSchemaTrajectories(base, 0, WARMUP), cache); // JIT warm-up, distinct schemas
      best[name] = Math.min(best[name]!, cpuPerTrajectory(measured, cache));
      if (name === 'subset') {
        const last = measured.slice(-500);
        const engineCounts = last.flatMap((t) => t.tools.map((tool) => cache.get(tool.parameters))).map((c) => (c.ok ? c.engine : 'invalid'));
        subsetShare = engineCounts.filter((e) => e === 'subset').length / engineCounts.length;
        // The same trajectories again: every schema is a cache hit, the floor of validate's cost.
        best.hits = Math.min(best.hits!, cpuPerTrajectory(last, cache));
      }
    }
  }
  const us = (v: number): string => `${v.toFixed(0)} µs`;
  console.log(`${measured.length} trajectories from ${base.length} simulator trajectories; ${tools.toFixed(2)} tools and ${calls.toFixed(2)} calls each`);
  console.log(`validate CPU per trajectory, all schemas new, ajv only:      ${us(best.ajv!)}`);
  console.log(`validate CPU per trajectory, all schemas new, subset + ajv:  ${us(best.subset!)} (${(subsetShare * 100).toFixed(0)}% of schemas on the subset checker)`);
  console.log(`validate CPU per trajectory, all schemas cached:             ${us(best.hits!)}`);
}

main();
