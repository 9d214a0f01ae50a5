import { createHash } from 'node:crypto';
import type { Envelope } from '../envelope.js';
import { errorCode, errorMessage, GemflowError } from '../errors.js';
import type { StagesConfig } from '../config/schema.js';
import type { InferenceClient, LlmStage, StageResult } from '../llm/types.js';
import { runStage } from '../llm/run-stage.js';
import type { Trajectory, Workflow } from '../trajectory.js';
import type { Metrics } from '../telemetry/stage-metrics.js';

/**
 * The LLM part of the GEM flow for one document, with no barrier between workflows:
 *
 *   staged:     extract -> for each workflow, independently: ground -> refine? -> judge?
 *   synthesize: one call to a distilled synthesizer that returns workflows with refined trajectories
 *
 * The stages are injected (src/ never imports a concrete operator); their shapes are below.
 */
export interface ExtractLike {
  domain: string;
  rules: string[];
  workflows: Workflow[];
}
export interface GroundLike {
  persona: string;
  trajectory: Trajectory;
}
export interface RefineLike {
  policy: unknown;
  userProfile: unknown;
  pitfalls: string[];
  trajectory: Trajectory;
}
export interface SynthesizeLike {
  domain: string;
  items: Array<{ workflow: Workflow; trajectory: Trajectory }>;
}

export interface GemStages {
  extract: LlmStage<{ text: string; maxWorkflows: number }, ExtractLike>;
  ground: LlmStage<{ text: string; domain: string; rules: string[]; workflow: Workflow }, GroundLike>;
  refine: LlmStage<{ text: string; domain: string; rules: string[]; workflow: Workflow; trajectory: Trajectory }, RefineLike>;
  judge: LlmStage<{ text: string; trajectory: Trajectory }, unknown>;
  /** The judge's failed rules ("r1_grounded_arguments", ...); empty = keep. */
  judgeFailures(verdict: unknown): string[];
  synthesize: LlmStage<{ text: string; maxWorkflows: number }, SynthesizeLike>;
}

export interface GeneratedItem {
  workflowIndex: number;
  workflow: Workflow;
  trajectory: Trajectory;
  domain: string;
  policy?: unknown;
  userProfile?: unknown;
  judge?: unknown;
  promptVersions: Record<string, string>;
  models: Record<string, string>;
  promptTokens: number;
  completionTokens: number;
}

export type ItemOutcome =
  | { kind: 'ok'; item: GeneratedItem }
  | { kind: 'failed'; workflowIndex: number; stage: string; code: string; message: string }
  | { kind: 'judged_out'; workflowIndex: number; rules: string[] };

export interface GenerateResult {
  domain: string;
  outcomes: ItemOutcome[];
}

export interface GeneratorOptions {
  mode: 'staged' | 'synthesize';
  stages: StagesConfig;
  /** Called with every stage call's outcome (the early-stop monitor); may throw a fatal error. */
  onCall?: (ok: boolean, code?: string) => void;
  metrics?: Metrics;
}

/** A deterministic 31-bit seed per (document, stage, workflow): replays render identical requests, so the cache hits. */
function seedFor(docId: string, stage: string, wf: number): number {
  return createHash('sha256').update(`${docId}\u0000${stage}\u0000${wf}`).digest().readUInt32BE(0) >>> 1;
}

export class TrajectoryGenerator {
  constructor(
    private readonly client: InferenceClient,
    private readonly stages: GemStages,
    private readonly opts: GeneratorOptions,
  ) {}

  /** Throws (with a code) only when the document as a whole failed: its extract / synthesize call. */
  async generate(doc: Envelope, signal: AbortSignal): Promise<GenerateResult> {
    return this.opts.mode === 'synthesize' ? this.#synthesize(doc, signal) : this.#staged(doc, signal);
  }

  async #call<I, O>(stage: LlmStage<I, O>, input: I, docId: string, wf: number, signal: AbortSignal): Promise<StageResult<O>> {
    const cfg = this.opts.stages[stage.id as keyof StagesConfig];
    const m = this.opts.metrics?.stage(stage.id);
    if (m) m.received++;
    const t0 = performance.now();
    try {
      const r = await runStage(this.client, stage, input, {
        temperature: cfg.temperature,
        maxTokens: cfg.maxTokens,
        seed: seedFor(docId, stage.id, wf),
        signal,
      });
      if (m) {
        m.sent++;
        m.time(performance.now() - t0);
      }
      this.opts.onCall?.(true);
      return r;
    } catch (e) {
      if (signal.aborted) throw e;
      m?.error(errorCode(e));
      this.opts.onCall?.(false, errorCode(e));
      throw e;
    }
  }

  async #staged(doc: Envelope, signal: AbortSignal): Promise<GenerateResult> {
    const s = this.stages;
    const ex = await this.#call(s.extract, { text: doc.text, maxWorkflows: this.opts.stages.extract.maxWorkflows }, doc.id, 0, signal);
    const { domain, rules } = ex.output;
    const workflows = ex.output.workflows.slice(0, this.opts.stages.extract.maxWorkflows);
    const outcomes = await Promise.all(
      workflows.map(async (workflow, i): Promise<ItemOutcome> => {
        const versions: Record<string, string> = { extract: s.extract.promptVersion };
        const models: Record<string, string> = { extract: ex.model };
        // The extract call's tokens are shared by the document's workflows: split evenly.
        let promptTokens = Math.round(ex.promptTokens / workflows.length);
        let completionTokens = Math.round(ex.completionTokens / workflows.length);
        const account = (id: string, version: string, r: StageResult<unknown>) => {
          versions[id] = version;
          models[id] = r.model;
          promptTokens += r.promptTokens;
          completionTokens += r.completionTokens;
        };
        let stage = s.ground.id;
        try {
          const g = await this.#call(s.ground, { text: doc.text, domain, rules, workflow }, doc.id, i, signal);
          account(s.ground.id, s.ground.promptVersion, g);
          let trajectory = g.output.trajectory;
          let policy: unknown;
          let userProfile: unknown;
          if (this.opts.stages.refine.enabled) {
            stage = s.refine.id;
            const r = await this.#call(s.refine, { text: doc.text, domain, rules, workflow, trajectory }, doc.id, i, signal);
            account(s.refine.id, s.refine.promptVersion, r);
            trajectory = r.output.trajectory;
            policy = r.output.policy;
            userProfile = r.output.userProfile;
          }
          let judge: unknown;
          if (this.opts.stages.judge.enabled) {
            stage = s.judge.id;
            const j = await this.#call(s.judge, { text: doc.text, trajectory }, doc.id, i, signal);
            account(s.judge.id, s.judge.promptVersion, j);
            judge = j.output;
            const failed = s.judgeFailures(j.output);
            if (failed.length > 0) return { kind: 'judged_out', workflowIndex: i, rules: failed };
          }
          return {
            kind: 'ok',
            item: { workflowIndex: i, workflow, trajectory, domain, policy, userProfile, judge, promptVersions: versions, models, promptTokens, completionTokens },
          };
        } catch (e) {
          if (signal.aborted || (e instanceof GemflowError && e.code === 'llm_cluster_unusable')) throw e;
          return { kind: 'failed', workflowIndex: i, stage, code: errorCode(e), message: errorMessage(e) };
        }
      }),
    );
    return { domain, outcomes };
  }

  async #synthesize(doc: Envelope, signal: AbortSignal): Promise<GenerateResult> {
    const s = this.stages;
    const max = this.opts.stages.synthesize.maxWorkflows;
    const r = await this.#call(s.synthesize, { text: doc.text, maxWorkflows: max }, doc.id, 0, signal);
    const items = r.output.items.slice(0, max);
    return {
      domain: r.output.domain,
      outcomes: items.map((it, i) => ({
        kind: 'ok' as const,
        item: {
          workflowIndex: i,
          workflow: it.workflow,
          trajectory: it.trajectory,
          domain: r.output.domain,
          promptVersions: { synthesize: s.synthesize.promptVersion },
          models: { synthesize: r.model },
          promptTokens: Math.round(r.promptTokens / items.length),
          completionTokens: Math.round(r.completionTokens / items.length),
        },
      })),
    };
  }
}
