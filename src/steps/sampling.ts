import { z } from 'zod';
import type { StageResult } from '../llm/types.js';
import type { Provenance } from './step.js';

/** The sampling keys of a step that calls the LLM, with that step's own defaults. */
export function samplingConfig(defaults: { temperature: number; maxTokens: number }) {
  return {
    temperature: z.number().min(0).max(2).default(defaults.temperature),
    maxTokens: z.number().int().positive().default(defaults.maxTokens),
  };
}

/** Provenance with one more call: the step's prompt version, model and tokens (a share of them, for a call several items share). */
export function account(p: Provenance, stepId: string, promptVersion: string, r: StageResult<unknown>, share = 1): Provenance {
  return {
    promptVersions: { ...p.promptVersions, [stepId]: promptVersion },
    models: { ...p.models, [stepId]: r.model },
    promptTokens: p.promptTokens + Math.round(r.promptTokens / share),
    completionTokens: p.completionTokens + Math.round(r.completionTokens / share),
  };
}

export const EMPTY_PROVENANCE: Provenance = { promptVersions: {}, models: {}, promptTokens: 0, completionTokens: 0 };
