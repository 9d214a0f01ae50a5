import { createHash } from 'node:crypto';
import type { Envelope } from '../envelope.js';
import { errorCode, errorMessage, GemflowError, isInfrastructureFailure } from '../errors.js';
import { estimateMessageTokens, splitWindows } from './windows.js';
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
  /** The model's context in tokens (max_model_len), when known: long documents are windowed to fit. */
  contextTokens?: () => number | undefined;
  /** Most windows one document may be cut into; a longer document is dead-lettered (document_too_long). Default 128. */
  maxWindows?: number;
  /** Tokens consecutive windows share. Default 256. */
  windowOverlapTokens?: number;
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
      const context = this.opts.contextTokens?.();
      if (context !== undefined) {
        const need = estimateMessageTokens(stage.render(input)) + cfg.maxTokens;
        if (need > context) {
          throw new GemflowError('llm_context_too_long', `stage ${stage.id}: the request needs about ${need} tokens (max_tokens ${cfg.maxTokens} included); the model's context is ${context}: not sent`, {
            detail: { stage: stage.id, estimatedTokens: need, contextTokens: context },
          });
        }
      }
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
      if (errorCode(e) !== 'llm_context_too_long') this.opts.onCall?.(false, errorCode(e));
      throw e;
    }
  }

  /**
   * The document's text as windows that fit the model's context next to the largest completion budget
   * of the calls that carry it, leaving half the rest for the prompt's other parts (instructions, a
   * workflow, a trajectory to refine). One window, the text itself, when it fits or the context is unknown.
   */
  #windows(doc: Envelope): string[] {
    const context = this.opts.contextTokens?.();
    if (context === undefined) return [doc.text];
    const st = this.opts.stages;
    const completion = this.opts.mode === 'synthesize' ? st.synthesize.maxTokens : Math.max(st.extract.maxTokens, st.ground.maxTokens, st.refine.enabled ? st.refine.maxTokens : 0, st.judge.enabled ? st.judge.maxTokens : 0);
    const windowTokens = Math.floor((context - completion) / 2);
    const max = this.opts.maxWindows ?? 128;
    if (windowTokens < 256) {
      throw new GemflowError('document_too_long', `the model's context (${context} tokens) leaves no room for document text next to max_tokens ${completion}`, { detail: { contextTokens: context } });
    }
    const windows = splitWindows(doc.text, { windowTokens, overlapTokens: Math.min(this.opts.windowOverlapTokens ?? 256, Math.floor(windowTokens / 4)) });
    if (windows.length > max) {
      throw new GemflowError('document_too_long', `document needs ${windows.length} windows of ${windowTokens} tokens to fit the model's context of ${context}; the limit is ${max} (llm.maxWindows)`, {
        detail: { windows: windows.length, windowTokens, maxWindows: max },
      });
    }
    return windows;
  }

  async #staged(doc: Envelope, signal: AbortSignal): Promise<GenerateResult> {
    const s = this.stages;
    const max = this.opts.stages.extract.maxWorkflows;
    const windows = this.#windows(doc);
    // Extract from every window (one call for a document that fits); a workflow found in two
    // overlapping windows is kept once, from the first.
    type Found = { workflow: Workflow; text: string; domain: string; rules: string[]; ex: StageResult<ExtractLike> };
    const found: Found[] = [];
    const seen = new Set<string>();
    let domain = '';
    const extracts = await Promise.all(windows.map((text, w) => this.#call(s.extract, { text, maxWorkflows: max }, doc.id, w, signal)));
    extracts.forEach((ex, w) => {
      domain ||= ex.output.domain;
      for (const workflow of ex.output.workflows.slice(0, max)) {
        const key = workflow.name.trim().toLowerCase();
        if (seen.has(key) || found.length >= max) continue;
        seen.add(key);
        found.push({ workflow, text: windows[w]!, domain: ex.output.domain, rules: ex.output.rules, ex });
      }
    });
    // An extract call's tokens are shared by the workflows it found (all of them when none were kept).
    const share = new Map<StageResult<ExtractLike>, number>();
    for (const f of found) share.set(f.ex, (share.get(f.ex) ?? 0) + 1);
    const unattributed = extracts.filter((ex) => !share.has(ex));
    const outcomes = await Promise.all(
      found.map(async ({ workflow, text, domain, rules, ex }, i): Promise<ItemOutcome> => {
        const versions: Record<string, string> = { extract: s.extract.promptVersion };
        const models: Record<string, string> = { extract: ex.model };
        const n = share.get(ex)!;
        let promptTokens = Math.round(ex.promptTokens / n);
        let completionTokens = Math.round(ex.completionTokens / n);
        if (i === 0) for (const u of unattributed) (promptTokens += u.promptTokens), (completionTokens += u.completionTokens);
        const account = (id: string, version: string, r: StageResult<unknown>) => {
          versions[id] = version;
          models[id] = r.model;
          promptTokens += r.promptTokens;
          completionTokens += r.completionTokens;
        };
        let stage = s.ground.id;
        try {
          const g = await this.#call(s.ground, { text, domain, rules, workflow }, doc.id, i, signal);
          account(s.ground.id, s.ground.promptVersion, g);
          let trajectory = g.output.trajectory;
          let policy: unknown;
          let userProfile: unknown;
          if (this.opts.stages.refine.enabled) {
            stage = s.refine.id;
            const r = await this.#call(s.refine, { text, domain, rules, workflow, trajectory }, doc.id, i, signal);
            account(s.refine.id, s.refine.promptVersion, r);
            trajectory = r.output.trajectory;
            policy = r.output.policy;
            userProfile = r.output.userProfile;
          }
          let judge: unknown;
          if (this.opts.stages.judge.enabled) {
            stage = s.judge.id;
            const j = await this.#call(s.judge, { text, trajectory }, doc.id, i, signal);
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
          // The infrastructure's failures fail the whole document (retried as a whole, answered calls
          // come from the cache); only the document's own failures fail one workflow.
          if (signal.aborted || isInfrastructureFailure(e)) throw e;
          return { kind: 'failed', workflowIndex: i, stage, code: errorCode(e), message: errorMessage(e) };
        }
      }),
    );
    return { domain, outcomes };
  }

  async #synthesize(doc: Envelope, signal: AbortSignal): Promise<GenerateResult> {
    const s = this.stages;
    const max = this.opts.stages.synthesize.maxWorkflows;
    const windows = this.#windows(doc);
    if (windows.length > 1) {
      throw new GemflowError('document_too_long', `document needs ${windows.length} context windows; synthesize mode takes a document in one call (use llm.mode: staged for long documents)`, {
        detail: { windows: windows.length },
      });
    }
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
