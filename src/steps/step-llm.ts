import { errorCode, GemflowError } from '../errors.js';
import type { StageClient } from '../llm/client.js';
import { runStage } from '../llm/run-stage.js';
import { seedFor } from './ids.js';
import type { StepLlm } from './step.js';
import { estimateMessageTokens } from './windows.js';

export interface StepLlmOptions {
  /** The model's context in tokens (max_model_len), when known. */
  contextTokens(): number | undefined;
  /** Observes every call's outcome (the early-stop monitor); may throw a fatal error. */
  onCall?(ok: boolean, error?: unknown): void;
}

/**
 * The LLM as step `stepId` sees it: runStage (structured output, check, one repair turn) with a seed
 * derived from (document, step, call key), under the run's abort signal; a request that cannot fit
 * the model's context is not sent (`llm_context_too_long`, the document's failure).
 */
export function createStepLlm(client: StageClient, opts: StepLlmOptions, stepId: string, signal: AbortSignal): StepLlm {
  return {
    contextTokens: () => opts.contextTokens(),
    async call(stage, input, doc, o) {
      const context = opts.contextTokens();
      const messages = stage.render(input);
      if (context !== undefined) {
        const need = estimateMessageTokens(messages) + o.maxTokens;
        if (need > context) {
          throw new GemflowError('llm_context_too_long', `step ${stepId}: the request needs about ${need} tokens (max_tokens ${o.maxTokens} included); the model's context is ${context}: not sent`, {
            detail: { step: stepId, estimatedTokens: need, contextTokens: context },
          });
        }
      }
      try {
        const r = await runStage(client, stage, input, { messages, temperature: o.temperature, maxTokens: o.maxTokens, seed: seedFor(doc.id, stepId, o.seedKey), signal });
        opts.onCall?.(true);
        return r;
      } catch (e) {
        if (!signal.aborted && errorCode(e) !== 'llm_context_too_long') opts.onCall?.(false, e);
        throw e;
      }
    },
  };
}
