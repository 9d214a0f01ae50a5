import { buildParts, stepLlmFactory } from '../src/compose.js';
import type { PipelineConfig } from '../src/config/schema.js';
import type { PipelineParts } from '../src/dataflow/pipeline.js';
import type { Envelope } from '../src/envelope.js';
import { errorCode, GemflowError } from '../src/errors.js';
import { HttpInferenceClient, type ChatOptions, type StageClient } from '../src/llm/client.js';
import { ErrorRateMonitor } from '../src/llm/error-rate.js';
import type { ChatRequest, ChatResult } from '../src/llm/types.js';
import type { Logger } from '../src/telemetry/logger.js';
import { Metrics } from '../src/telemetry/stage-metrics.js';
import type { Admission } from './batch-barrier.js';
import type { Strategy } from './strategies.js';

/** One document's LLM part, in wall-clock ms from performance.now(). */
export interface DocTiming {
  startMs: number;
  endMs: number;
}

/**
 * Times every document's LLM part (from taking an LLM slot to its end), outermost, so a baseline's own
 * waiting (the batch barrier) is included.
 */
export class Timings {
  readonly timings: DocTiming[] = [];

  wrap(inner: Admission | undefined): Admission {
    return async (doc: Envelope, run: () => Promise<void>) => {
      const startMs = performance.now();
      await (inner ? inner(doc, run) : run());
      this.timings.push({ startMs, endMs: performance.now() });
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

export interface BenchParts {
  parts: PipelineParts;
  /** The strategy's admission, timed. */
  admission?: Admission;
  timings?: Timings;
  recorder?: RecordingClient;
  close(): Promise<void>;
}

/**
 * The pipeline's parts as `gemflow run` wires them (src/compose.ts buildParts: the same steps, source
 * and sink), except that the inference client is the strategy's, and the LLM cache is off so every
 * call reaches the simulator. `client` replaces the LLM altogether (the replay pass).
 */
export async function benchParts(
  config: PipelineConfig,
  log: Logger,
  llm: { strategy: Strategy; urls: string[]; record: boolean } | { client: StageClient },
): Promise<BenchParts> {
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    if (config.source.type !== 'files') throw new GemflowError('config_invalid', 'the benchmark reads files');
    const metrics = new Metrics();
    if ('client' in llm) {
      const parts = await buildParts(config, log, stepLlmFactory(llm.client, () => undefined), metrics, closers);
      return { parts, close };
    }
    const http = new HttpInferenceClient({
      ...llm.strategy.clientOptions(llm.urls),
      timeoutMs: config.llm.timeoutMs,
      maxRetries: config.llm.maxRetries,
      retryBaseMs: config.llm.retryBaseMs,
      retryMaxMs: config.llm.retryMaxMs,
    });
    closers.push(() => http.close());
    await http.start();
    const monitor = new ErrorRateMonitor(config.llm.errorWindow, config.llm.maxErrorRate);
    const recorder = llm.record ? new RecordingClient(http) : undefined;
    const contextTokens = () => http.contextTokens;
    const factory = stepLlmFactory(recorder ?? http, contextTokens, (ok, e) => monitor.record(ok, e === undefined ? undefined : errorCode(e)));
    const parts = await buildParts(config, log, factory, metrics, closers);
    const timings = new Timings();
    return { parts, admission: timings.wrap(llm.strategy.admission()), timings, recorder, close };
  } catch (e) {
    await close();
    throw e;
  }
}
