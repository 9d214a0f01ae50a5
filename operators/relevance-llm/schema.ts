import { z } from 'zod';

/** The relevance-llm stage's answer (sent as its response_format JSON Schema). */
export const RelevanceLlmOutput = z.strictObject({
  /** 0..1: how clearly the text holds multi-step work an assistant could carry out with tools. */
  score: z.number().min(0).max(1),
  /** One sentence: the work found, or why there is none. */
  reason: z.string().min(1).max(600),
});
export type RelevanceLlmOutput = z.infer<typeof RelevanceLlmOutput>;
