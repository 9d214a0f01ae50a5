import { buildParts, buildRun, stepLlmFactory, type BuiltRun } from '../src/compose.js';
import type { PipelineConfig } from '../src/config/schema.js';
import type { PipelineParts } from '../src/dataflow/pipeline.js';
import type { Envelope } from '../src/envelope.js';
import { GemflowError } from '../src/errors.js';
import type { AdaptiveOptions } from '../src/llm/adaptive-controller.js';
import type { ChatOptions, StageClient } from '../src/llm/client.js';
import type { ChatRequest, ChatResult } from '../src/llm/types.js';
import type { Logger } from '../src/telemetry/logger.js';
import { Metrics } from '../src/telemetry/stage-metrics.js';
import type { Admission } from './batch-barrier.js';

/** One document's LLM part, in wall-clock epoch ms (performance.timeOrigin + performance.now(), comparable across processes). */
export interface DocTiming {
  startMs: number;
  endMs: number;
}

/**
 * Times every document's LLM part (from taking an LLM slot to its end), outermost, so a baseline's own
 * waiting (the batch barrier) is included. `inFlight` counts the documents inside it; `onDone` hears
 * each end. A document whose LLM part was cut off (the run stopped at the window's end) stays in
 * `unfinished` with its start.
 */
export class Timings {
  readonly timings: DocTiming[] = [];
  readonly #open = new Set<{ startMs: number }>();
  onDone?: () => void;
  /** Set when the run is being stopped: a document that fails from then on was cut off, not finished. */
  stopping = false;

  /** Documents that have started their LLM part. */
  admitted = 0;

  get inFlight(): number {
    return this.#open.size;
  }

  /** Starts (epoch ms) of the documents whose LLM part has not ended. */
  get unfinished(): number[] {
    return [...this.#open].map((o) => o.startMs);
  }

  wrap(inner: Admission | undefined): Admission {
    return async (doc: Envelope, run: () => Promise<void>) => {
      const open = { startMs: performance.timeOrigin + performance.now() };
      this.#open.add(open);
      this.admitted++;
      try {
        await (inner ? inner(doc, run) : run());
      } catch (e) {
        if (!this.stopping) this.#open.delete(open);
        throw e;
      }
      this.#open.delete(open);
      this.timings.push({ startMs: open.startMs, endMs: performance.timeOrigin + performance.now() });
      this.onDone?.();
    };
  }
}

/**
 * A call's identity within one benchmark run: its stage, its seed (unique per document, step and
 * call) and its turn (a repair turn has more messages). Cheap, so the replay measures the pipeline's
 * CPU, not the recorder's.
 */
const requestKey = (req: ChatRequest) => `${req.stage}\u0000${req.seed}\u0000${req.messages.length}\u0000${req.messages.at(-1)?.content.length}`;

/** A client that keeps every answer it got, for a replay of the same run without the LLM. */
export class RecordingClient implements StageClient {
  readonly answers = new Map<string, ChatResult>();
  constructor(private readonly inner: StageClient) {}
  async chat(req: ChatRequest, opts?: ChatOptions): Promise<ChatResult> {
    const r = await this.inner.chat(req, opts);
    this.answers.set(requestKey(req), r);
    return r;
  }
}

/** Answers every call from a RecordingClient's answers: the pipeline without the LLM. */
export class ReplayClient implements StageClient {
  constructor(private readonly answers: ReadonlyMap<string, ChatResult>) {}
  async chat(req: ChatRequest): Promise<ChatResult> {
    const r = this.answers.get(requestKey(req));
    if (!r) throw new GemflowError('replay_missing', `no recorded answer for a ${req.stage} call`);
    return r;
  }
}

/**
 * The measured run, built by the composition root exactly as `gemflow run` builds it (src/compose.ts
 * buildRun: client, retries, breaker, error-rate stop, steps, source, sink, manifest) from `config`,
 * whose llm.endpoints carry the strategy's limits. The strategy adds only its adaptive tuning (off for
 * the fixed baselines; periods scaled to the time scale for gemflow) and its admission (the barrier);
 * with `record`, every answer is kept for the CPU replay.
 */
export async function benchRun(
  config: PipelineConfig,
  log: Logger,
  opts: { adaptive: false | AdaptiveOptions; admission: Admission | undefined; record: boolean },
): Promise<{ run: BuiltRun; admission: Admission; timings: Timings; recorder?: RecordingClient }> {
  let recorder: RecordingClient | undefined;
  const run = await buildRun(config, log, {
    adaptive: opts.adaptive,
    wrapClient: opts.record ? (c) => (recorder = new RecordingClient(c)) : undefined,
  });
  const timings = new Timings();
  return { run, admission: timings.wrap(opts.admission), timings, recorder };
}

/** The pipeline's parts with every LLM call answered by `client` (the replay pass: no LLM, no HTTP). */
export async function replayParts(config: PipelineConfig, log: Logger, client: StageClient): Promise<{ parts: PipelineParts; close(): Promise<void> }> {
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const parts = await buildParts(config, log, stepLlmFactory(client, () => undefined), new Metrics(), closers);
    return { parts, close };
  } catch (e) {
    await close();
    throw e;
  }
}
