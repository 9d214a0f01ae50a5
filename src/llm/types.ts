import type { z } from 'zod';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  /** Stage id, for token accounting and metrics ("extract", "ground", ...). */
  stage: string;
  messages: ChatMessage[];
  /** Structured output: sent as response_format {type: "json_schema", json_schema: {name, schema, strict: true}}. */
  responseFormat?: { name: string; schema: Record<string, unknown> };
  maxTokens: number;
  temperature: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface ChatResult {
  content: string;
  finishReason: string;
  promptTokens: number;
  completionTokens: number;
  model: string;
  /** True when served from the content-addressed cache (no GPU time spent). */
  cached: boolean;
  endpoint: string;
}

/** What the engine needs from an inference backend. */
export interface InferenceClient {
  chat(req: ChatRequest): Promise<ChatResult>;
  close(): Promise<void>;
}

/**
 * An LLM stage: prompt, output schema and semantic check kept together in operators/<id>/.
 * The json_schema name sent to the server is `gemflow_<id>`; the bundled simulator keys on it.
 */
export interface LlmStage<I, O> {
  id: string;
  /** Written into every output row, e.g. "extract.v1". Bump it whenever the prompt text changes. */
  promptVersion: string;
  output: z.ZodType<O>;
  render(input: I): ChatMessage[];
  /** Semantic problems beyond the schema (e.g. a call to an undefined tool). Empty = fine. */
  check?(output: O, input: I): string[];
}

export interface StageResult<O> {
  output: O;
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Calls made (1, or 2 when repaired), and whether served from cache. */
  calls: number;
  cached: boolean;
}
