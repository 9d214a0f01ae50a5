/** The inference client's public surface, for the pipeline. */
export { HttpInferenceClient, type HttpInferenceClientOptions, type ChatOptions, type StageClient, type StageUsage } from './client.js';
export { ErrorRateMonitor, type ErrorRateMonitorOptions } from './error-rate.js';
export { estimatePromptTokens, estimateTokens, MESSAGE_OVERHEAD_TOKENS } from './tokens.js';
export { loopStall, stallAwareTimeout } from './loop-stall.js';
export type { ChatMessage, ChatRequest, ChatResult, InferenceClient } from './types.js';
