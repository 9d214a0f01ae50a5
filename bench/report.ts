import { utilisationSeries } from './analyse.js';
import type { SimCapacity } from './sim-process.js';
import type { StrategyResult } from './strategy-result.js';

/** Everything one `npm run bench` measured (the JSON report). */
export interface BenchReport {
  startedAt: string;
  node: string;
  cpus: number;
  corpus: { docs: number; bytes: number; procedural: number; narrative: number; copies: number };
  replicas: number;
  replicaModel: SimCapacity;
  timeScale: number;
  maxDocsInFlight: number;
  wallMs: number;
  strategies: StrategyResult[];
  /** bench/relevance.ts's JSON output (relevance scorer throughput). */
  relevance: RelevanceFigures | undefined;
}

export interface RelevanceFigures {
  docs: number;
  avgDocBytes: number;
  cpus: number;
  keptAtThreshold035: { procedural: number; narrative: number };
  rows: Array<{ mode: string; threads: number; batchSize: number; docsPerSec: number; mbPerSec: number; docsPerCpuSec: number }>;
}

/** Targets from issue 4. */
export const TARGETS = { utilisation: 0.95, queueWaitP99Sec: 2, cpuMsPerTrajectory: 1, relevanceDocsPerCpuSec: 20_000 };

const f = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
const yes = (ok: boolean) => (ok ? '**met**' : '**not met**');

export function markdownReport(r: BenchReport): string {
  const lines: string[] = [];
  const m = r.replicaModel;
  const capacity = r.replicas * Math.min(m.decodeTokensPerSec, m.maxRunningSeqs * m.maxDecodeTokensPerSecPerSeq);
  lines.push(
    `# gemflow benchmark — ${r.startedAt}`,
    '',
    `Simulated cluster: ${r.replicas} replicas of the bundled vLLM simulator (a test double), each modelled on one H100 80GB serving a 32B model ` +
      `(assumed, not measured): maxRunningSeqs ${m.maxRunningSeqs}, decode ${m.decodeTokensPerSec} output tok/s aggregate and at most ` +
      `${m.maxDecodeTokensPerSecPerSeq} tok/s per sequence, prefill ${m.prefillTokensPerSec} tok/s, KV cache ${m.kvCacheTokens} tokens. ` +
      `Cluster capacity ${capacity} output tok/s. timeScale ${r.timeScale} (one simulated second = ${f(r.timeScale * 1000, 0)} ms wall); ` +
      `every time below is in SIMULATED seconds.`,
    '',
    `Corpus: ${r.corpus.docs} documents (${f(r.corpus.bytes / 1e6, 1)} MB; ${r.corpus.procedural} procedural, ${r.corpus.narrative} news-like, ` +
      `${r.corpus.copies} copies); staged GEM flow (extract, then ground + refine per workflow), LLM cache off, llm.maxDocsInFlight ${r.maxDocsInFlight}, ` +
      `a fresh simulator cluster per strategy. Wall time of the whole benchmark: ${f(r.wallMs / 60000, 1)} min on ${r.cpus} CPUs.`,
    '',
    '| strategy | utilisation | output tok/s | docs/s | latency p50 (s) | latency p99 (s) | queue wait p99, steady (s) | queue wait p99, whole run (s) | engine CPU (cores) | simulator CPU (cores) | machine busy | peak RSS (MB) | documents written / received | trajectories written |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const s of r.strategies) {
    const st = s.steady;
    const d = s.funnel.documents;
    lines.push(
      `| ${s.strategy} | ${f(st?.utilisation, 3)} | ${f(st?.outputTokensPerSec, 0)} | ${f(st?.docsPerSec, 3)} | ${f(st?.latencyP50Sec, 0)} | ${f(st?.latencyP99Sec, 0)} | ` +
        `≤ ${f(st?.queueWaitP99UpperBoundSec, 1)} | ${f(s.server.queueWaitP99Sec, 1)} | ${f(st?.cpu.engineCores)} | ${f(st?.cpu.simulatorCores)} | ` +
        `${st?.cpu.machineBusyShare === undefined ? 'n/a' : f(100 * st.cpu.machineBusyShare, 0) + '%'} | ${f(s.peakRssBytes / 2 ** 20, 0)} | ` +
        `${d.written} / ${d.received} | ${s.funnel.trajectories.written} |`,
    );
  }
  lines.push(
    '',
    'Definitions. Steady state: the middle 80% of the run by completed documents (from the 10th to the 90th percentile of document completion times), leaving out warm-up and drain tail. ' +
      'Utilisation: output tokens the simulators generated in that window / (window length x cluster capacity). ' +
      'Latency: per document, from entering the LLM stage (taking one of maxDocsInFlight slots) to all its trajectories generated, for documents completed in the window (a baseline\'s own waiting, such as for its batch, is included). ' +
      'Queue wait: time requests spent in the server queue; steady = p99 over the window, read from vLLM\'s `request_queue_time_seconds` histogram (so an upper bucket bound); whole run = exact p99 of the worst replica from /sim/stats. ' +
      'CPU: average cores used over the window (process CPU time / wall time) by the engine process and by the simulator process, and the busy share of all the machine\'s cores (other work on the machine included): the comparison is only meaningful while these stay well below the core count. ' +
      'Peak RSS: the engine process\'s maximum resident set (one process per strategy).',
    '',
    '## Funnel',
    '',
  );
  for (const s of r.strategies) {
    const d = s.funnel.documents;
    const drops = Object.entries(d.dropped).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    const dl = Object.entries(d.deadLettered).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    lines.push(
      `- ${s.strategy}: received ${d.received}, written ${d.written}, dropped ${drops}; rejected ${Object.values(d.rejected).reduce((a, b) => a + b, 0)}; dead-lettered ${dl}; ` +
        `trajectories generated ${s.funnel.trajectories.generated}, written ${s.funnel.trajectories.written}; balanced ${s.funnel.balanced}` +
        `${s.fatal ? `; STOPPED: ${s.fatal}` : ''}; run ${f(s.simSec, 0)} s simulated (${f(s.wallMs / 1000, 0)} s wall), engine event-loop delay p99 ${f(s.eventLoopDelayP99Ms, 0)} ms wall.`,
    );
  }

  const gem = r.strategies.find((s) => s.strategy === 'gemflow');
  const others = r.strategies.filter((s) => s.strategy !== 'gemflow');
  lines.push('', '## Targets (issue 4)', '');
  if (gem?.steady) {
    const u = gem.steady.utilisation;
    const ahead = others.every((o) => (o.steady?.utilisation ?? 0) < u);
    lines.push(
      `- Utilisation >= ${TARGETS.utilisation}: ${f(u, 3)} — ${yes(u >= TARGETS.utilisation)}.`,
      `- p99 server queue wait <= ${TARGETS.queueWaitP99Sec} s at steady state: p99 ≤ ${f(gem.steady.queueWaitP99UpperBoundSec, 1)} s (bucket bound); ` +
        `${f(100 * gem.steady.queueWaitWithin2sShare, 1)}% of requests waited <= 2 s — ${yes(gem.steady.queueWaitWithin2sShare >= 0.99)}.`,
      `- Ahead of both baselines on utilisation: ${others.map((o) => `${o.strategy} ${f(o.steady?.utilisation, 3)}`).join(', ')} — ${yes(ahead)}.`,
    );
  }
  const cpu = gem?.cpuReplay;
  if (cpu) {
    lines.push(
      `- <= ${TARGETS.cpuMsPerTrajectory} ms CPU per written trajectory outside the LLM: ${f(cpu.cpuMsPerTrajectoryExRelevance, 3)} ms — ${yes(cpu.cpuMsPerTrajectoryExRelevance <= TARGETS.cpuMsPerTrajectory)}. ` +
        `Measured by running the pipeline again over the same corpus with the LLM stage answered from the gemflow run's results (no LLM, no HTTP): ` +
        `process CPU time (every thread) ${f(cpu.cpuMs, 0)} ms for ${cpu.trajectories} trajectories = ${f(cpu.cpuMsPerTrajectory, 3)} ms each, ` +
        `minus relevance scoring of the corpus (${f(cpu.relevanceCpuMs, 0)} ms, measured alone) = ${f(cpu.cpuMsPerTrajectoryExRelevance, 3)} ms; that still includes ` +
        `reading and decoding the source, document dedupe, validate, trajectory dedupe, stats, Parquet and commits. Validate alone: ${f(cpu.validateMsPerTrajectory, 3)} ms per trajectory (main thread).` +
        (cpu.trajectories === gem!.funnel.trajectories.written ? '' : ` NOTE: the replay wrote ${cpu.trajectories} trajectories, the measured run ${gem!.funnel.trajectories.written}.`),
    );
  }
  if (r.relevance) {
    const rel = r.relevance;
    const best = Math.max(...rel.rows.map((x) => x.docsPerCpuSec));
    lines.push(
      `- Relevance scoring >= ${TARGETS.relevanceDocsPerCpuSec} docs/s per core on 5 KB documents: best ${f(best, 0)} docs per CPU-second — ${yes(best >= TARGETS.relevanceDocsPerCpuSec)}.`,
      '',
      `## Relevance stage (bench/relevance.ts: ${rel.docs} documents of ${rel.avgDocBytes} B on average, ${rel.cpus} CPUs)`,
      '',
      `Kept at threshold 0.35: procedural ${f(100 * rel.keptAtThreshold035.procedural, 1)}%, narrative ${f(100 * rel.keptAtThreshold035.narrative, 1)}%.`,
      '',
      '| mode | threads | batch | docs/s | MB/s | docs per CPU-second |',
      '|---|---|---|---|---|---|',
      ...rel.rows.map((x) => `| ${x.mode} | ${x.threads} | ${x.mode === 'inline' ? '-' : x.batchSize} | ${f(x.docsPerSec, 0)} | ${f(x.mbPerSec, 1)} | ${f(x.docsPerCpuSec, 0)} |`),
    );
  }
  lines.push('', '## Strategies', '', ...r.strategies.map((s) => `- ${s.strategy}: ${s.description}.`), '');
  return lines.join('\n');
}

const COLOURS: Record<string, string> = { gemflow: '#1b7837', 'batch-barrier': '#b2182b', 'fixed-semaphore': '#2166ac' };

/** A line chart (hand-written SVG) of utilisation over simulated time, one line per strategy. */
export function utilisationSvg(r: BenchReport, bucketSec = 10): string {
  const W = 900;
  const H = 420;
  const pad = { l: 60, r: 180, t: 40, b: 50 };
  const series = r.strategies.map((s) => ({ name: s.strategy, points: utilisationSeries(s.samples, s.capacityTokensPerSec, bucketSec) }));
  const maxX = Math.max(1, ...series.flatMap((s) => s.points.map(([x]) => x)));
  const maxY = 1.2;
  const x = (v: number) => pad.l + (v / maxX) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (Math.min(v, maxY) / maxY) * (H - pad.t - pad.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${pad.l}" y="22" font-size="15">Cluster utilisation over time (output tokens/s ÷ capacity, ${bucketSec} s buckets, simulated seconds)</text>`,
  ];
  for (let v = 0; v <= maxY + 1e-9; v += 0.2) {
    out.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`, `<text x="${pad.l - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  const step = niceStep(maxX / 8);
  for (let v = 0; v <= maxX; v += step) {
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${H - pad.b}" y2="${H - pad.b + 5}" stroke="#333"/>`, `<text x="${x(v)}" y="${H - pad.b + 18}" text-anchor="middle">${v}</text>`);
  }
  out.push(
    `<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(TARGETS.utilisation)}" y2="${y(TARGETS.utilisation)}" stroke="#888" stroke-dasharray="6 4"/>`,
    `<text x="${W - pad.r + 6}" y="${y(TARGETS.utilisation) + 4}" fill="#888">target ${TARGETS.utilisation}</text>`,
    `<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${H - pad.b}" stroke="#333"/>`,
    `<line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#333"/>`,
    `<text x="${(pad.l + W - pad.r) / 2}" y="${H - 12}" text-anchor="middle">simulated seconds since the run started</text>`,
    `<text x="16" y="${(pad.t + H - pad.b) / 2}" transform="rotate(-90 16 ${(pad.t + H - pad.b) / 2})" text-anchor="middle">utilisation</text>`,
  );
  series.forEach((s, i) => {
    const colour = COLOURS[s.name] ?? '#555';
    const d = s.points.map(([px, py], j) => `${j === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.8"/>`);
    const ly = pad.t + 20 + i * 20;
    out.push(`<line x1="${W - pad.r + 10}" x2="${W - pad.r + 34}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`, `<text x="${W - pad.r + 40}" y="${ly + 4}">${s.name}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}
