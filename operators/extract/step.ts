import { z } from 'zod';
import { GemflowError } from '../../src/errors.js';
import type { StageResult } from '../../src/llm/types.js';
import { account, EMPTY_PROVENANCE, samplingConfig } from '../../src/steps/sampling.js';
import { type DocumentItem, type TrajectoryItem, defineStepType, dropped } from '../../src/steps/step.js';
import { splitWindows } from '../../src/steps/windows.js';
import { extractStage } from './index.js';
import type { ExtractOutput } from './schema.js';

export const ExtractStepConfig = z.strictObject({
  ...samplingConfig({ temperature: 0.7, maxTokens: 4096 }),
  maxWorkflows: z.number().int().positive().default(3),
  /** Most context windows a long document is cut into; a longer one is dead-lettered (document_too_long). */
  maxWindows: z.number().int().positive().default(128),
  /** Tokens consecutive windows share. */
  windowOverlapTokens: z.number().int().min(0).default(256),
});
export type ExtractStepConfig = z.infer<typeof ExtractStepConfig>;

/**
 * GEM stage 2: workflows, execution graphs and tool definitions from a document; one trajectory item
 * per workflow (grounded by the steps after it). A document longer than the model's context is cut into
 * overlapping windows (src/steps/windows.ts) that fit next to max_tokens with half the rest left for
 * the later steps' instructions, workflow and trajectory; each window is extracted on its own, a
 * workflow found in two overlapping windows is kept once, and each workflow keeps its window as the
 * text it is grounded in. No workflow: dropped as `no_workflows`.
 */
export const extractStep = defineStepType({
  type: 'extract',
  description: 'LLM: workflows and tool definitions from a document (long documents in windows)',
  input: 'document',
  output: 'trajectory',
  config: ExtractStepConfig,
  create(c, env) {
    return {
      usesLlm: true,
      async process(item: DocumentItem, ctx) {
        const doc = item.doc;
        const windows = windowsOf(doc.text, ctx.llm.contextTokens(), c);
        const max = c.maxWorkflows;
        const extracts = await Promise.all(
          windows.map((text, w) => ctx.llm.call(extractStage, { text, maxWorkflows: max }, doc, { temperature: c.temperature, maxTokens: c.maxTokens, seedKey: String(w) })),
        );
        type Found = { w: number; ex: StageResult<ExtractOutput>; workflow: ExtractOutput['workflows'][number] };
        const found: Found[] = [];
        const seen = new Set<string>();
        extracts.forEach((ex, w) => {
          for (const workflow of ex.output.workflows.slice(0, max)) {
            const key = workflow.name.trim().toLowerCase();
            if (seen.has(key) || found.length >= max) continue;
            seen.add(key);
            found.push({ w, ex, workflow });
          }
        });
        if (found.length === 0) return dropped('no_workflows');
        // An extract call's tokens are shared by the workflows it found; calls that found none are
        // charged to the first workflow.
        const shares = new Map<StageResult<ExtractOutput>, number>();
        for (const f of found) shares.set(f.ex, (shares.get(f.ex) ?? 0) + 1);
        let unclaimed = EMPTY_PROVENANCE;
        for (const ex of extracts) if (!shares.has(ex)) unclaimed = account(unclaimed, env.id, extractStage.promptVersion, ex);
        return found.map(({ w, ex, workflow }, index): TrajectoryItem => {
          let provenance = account(EMPTY_PROVENANCE, env.id, extractStage.promptVersion, ex, shares.get(ex));
          if (index === 0) provenance = { ...provenance, promptTokens: provenance.promptTokens + unclaimed.promptTokens, completionTokens: provenance.completionTokens + unclaimed.completionTokens };
          return {
            kind: 'trajectory',
            doc,
            docNotes: item.notes,
            index,
            producer: 'staged',
            text: windows[w]!,
            workflow,
            notes: { domain: ex.output.domain, rules: ex.output.rules },
            provenance,
          };
        });
      },
    };
  },
});

/** The text as windows that fit the model's context next to max_tokens, leaving half the rest for other prompt parts. */
export function windowsOf(text: string, context: number | undefined, c: { maxTokens: number; maxWindows: number; windowOverlapTokens: number }): string[] {
  if (context === undefined) return [text];
  const windowTokens = Math.floor((context - c.maxTokens) / 2);
  if (windowTokens < 256) {
    throw new GemflowError('document_too_long', `the model's context (${context} tokens) leaves no room for document text next to max_tokens ${c.maxTokens}`, { detail: { contextTokens: context } });
  }
  const windows = splitWindows(text, { windowTokens, overlapTokens: Math.min(c.windowOverlapTokens, Math.floor(windowTokens / 4)) });
  if (windows.length > c.maxWindows) {
    throw new GemflowError('document_too_long', `document needs ${windows.length} windows of ${windowTokens} tokens to fit the model's context of ${context}; the limit is ${c.maxWindows} (maxWindows)`, {
      detail: { windows: windows.length, windowTokens, maxWindows: c.maxWindows },
    });
  }
  return windows;
}
