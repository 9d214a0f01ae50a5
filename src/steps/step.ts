import type { z } from 'zod';
import type { Envelope } from '../envelope.js';
import type { StageResult, LlmStage } from '../llm/types.js';
import type { OutputRow } from '../sinks/types.js';
import type { FingerprintIndex, FingerprintIndexOptions } from '../store/state-store.js';
import type { Logger } from '../telemetry/logger.js';
import type { Trajectory, Workflow } from '../trajectory.js';

/**
 * The step interface: every stage of a pipeline is a step. A step takes one item and returns the items
 * it makes of it (zero or more: a filter passes it on, an extractor makes several) or one outcome
 * (dropped with a reason, rejected with a rule, dead-lettered with a code). The runtime
 * (src/dataflow/pipeline.ts) owns everything else: ordering, backpressure, acknowledgements, retries
 * of infrastructure failures, and each step's books (received / sent / emitted / dropped / rejected /
 * errors / time), counted around the call, so they balance by construction.
 *
 * Writing a new step: examples/steps/ and the README's "Write a step".
 */

/** Annotations steps add to an item for the steps after them (e.g. a relevance score, a language). */
export type Notes = Record<string, unknown>;

/** What a document's items have cost and who made them: written into every output row. */
export interface Provenance {
  /** step id -> prompt version */
  promptVersions: Record<string, string>;
  /** step id -> model */
  models: Record<string, string>;
  promptTokens: number;
  completionTokens: number;
}

/** A source document, as it enters the first step. */
export interface DocumentItem {
  kind: 'document';
  doc: Envelope;
  notes: Notes;
}

/**
 * A trajectory in the making, one per workflow of a document: made by the step that finds workflows
 * (or synthesizes trajectories); later steps fill in `trajectory` and annotate it.
 */
export interface TrajectoryItem {
  kind: 'trajectory';
  doc: Envelope;
  /** The document's notes when its trajectories were made. */
  docNotes: Notes;
  /** Position among the document's trajectories: stable across replays (ids, seeds). */
  index: number;
  /** The step that made it (part of the trajectory id). */
  producer: string;
  /** The text it is grounded in: the document, or the window of a long document it came from. */
  text: string;
  workflow: Workflow;
  /** Undefined until a step writes the dialogue. */
  trajectory?: Trajectory;
  /** domain, rules, policy, userProfile, judge, ... */
  notes: Notes;
  provenance: Provenance;
}

/** An output row, ready for the sink. */
export interface RowItem {
  kind: 'row';
  doc: Envelope;
  row: OutputRow;
}

export type Item = DocumentItem | TrajectoryItem | RowItem;
export type ItemKind = Item['kind'];

export type Outcome =
  | { outcome: 'dropped'; reason: string }
  | { outcome: 'rejected'; rule: string; message?: string }
  | { outcome: 'dead_letter'; code: string; message: string };

export type StepResult<O extends Item = Item> = O[] | Outcome;

export const dropped = (reason: string): Outcome => ({ outcome: 'dropped', reason });
export const rejected = (rule: string, message?: string): Outcome => ({ outcome: 'rejected', rule, message });
export const deadLetter = (code: string, message: string): Outcome => ({ outcome: 'dead_letter', code, message });
export const isOutcome = (r: StepResult): r is Outcome => !Array.isArray(r);

/** Keyed string state of one step, namespaced by its id; survives restarts (SQLite under stateDir). */
export interface StepState {
  get(key: string): string | undefined;
  put(key: string, value: string): void;
}

/** Sampling of one LLM call. */
export interface LlmCallOptions {
  temperature: number;
  maxTokens: number;
  /** What makes this call distinct within the document (e.g. the workflow index): seeds it deterministically. */
  seedKey: string;
}

/** The LLM as a step sees it: structured-output calls with check + one repair turn (src/llm/run-stage.ts). */
export interface StepLlm {
  /**
   * One stage call for `doc`. Never sent when the request cannot fit the model's context
   * (`llm_context_too_long`, the document's failure). Infrastructure failures throw codes that
   * isInfrastructureFailure() recognises: the runtime retries the whole document.
   */
  call<I, O>(stage: LlmStage<I, O>, input: I, doc: Envelope, opts: LlmCallOptions): Promise<StageResult<O>>;
  /** The model's context in tokens (max_model_len), when known. */
  contextTokens(): number | undefined;
}

/** What the runtime gives a step on every call. */
export interface StepContext {
  readonly id: string;
  readonly llm: StepLlm;
  readonly log: Logger;
  /** Aborts when the run abandons in-flight work. */
  readonly signal: AbortSignal;
}

/** What a step type's factory makes: how the step processes an item. */
export interface StepImpl<I extends Item = Item, O extends Item = Item> {
  /** Calls the LLM: documents hold one of llm.maxDocsInFlight slots while in such steps (backpressure). */
  readonly usesLlm?: boolean;
  process(item: I, ctx: StepContext): StepResult<O> | Promise<StepResult<O>>;
  close?(): void | Promise<void>;
}

/** A step of a pipeline: its type's implementation under its id. */
export interface Step<I extends Item = Item, O extends Item = Item> extends StepImpl<I, O> {
  /** Unique in the pipeline; names the step's metrics, state namespace, dead letters and config. */
  readonly id: string;
  readonly type: string;
  readonly input: I['kind'];
  readonly output: O['kind'];
}

/** What a step type's factory gets besides its config. */
export interface StepEnv {
  id: string;
  /** The step's own persistent state (namespace = its id), in a local SQLite file. */
  state(): StepState;
  /**
   * The step's dedupe fingerprint index (namespace = its id) in the run's state store: SQLite, or the
   * Redis-protocol server every worker shares (`state.backend`). Batched and atomic (src/store/state-store.ts).
   */
  fingerprints?(opts: FingerprintIndexOptions): FingerprintIndex;
  /** The run's state folder (`stateDir`), for files a step keeps beside its state (e.g. labels). */
  stateDir?: string;
  log: Logger;
  /** Registers cleanup run at the end of the run (in reverse order). */
  onClose(fn: () => void | Promise<void>): void;
}

/**
 * A kind of step, as the registry knows it: its config schema (the YAML keys beside `id` and `type`,
 * validated at load; unknown keys are errors) and a factory. Modules named by `module:` in the
 * pipeline file export one as `default`.
 */
export interface StepType<C = unknown> {
  type: string;
  description: string;
  input: ItemKind;
  output: ItemKind;
  config: z.ZodType<C>;
  create(config: C, env: StepEnv): StepImpl<any, any> | Promise<StepImpl<any, any>>;
}

export function defineStepType<C>(t: StepType<C>): StepType<C> {
  return t;
}
