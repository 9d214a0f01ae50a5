import { z } from 'zod';

/**
 * The data model every LLM stage speaks: tool definitions, messages and trajectories (GEM's
 * "multi-turn tool-use trajectory"). Stage output schemas in operators/ are built from these, and the
 * JSON Schema sent as `response_format` is derived from them with z.toJSONSchema.
 */

/** A JSON Schema object (the LLM writes it; ajv checks it in validate). */
export const JsonSchemaObject = z.record(z.string(), z.unknown());

export const ToolDef = z.object({
  name: z.string().min(1).describe('short general snake_case name, one job per tool'),
  description: z.string().min(1),
  parameters: JsonSchemaObject.describe('JSON Schema of the arguments: {"type":"object","properties":{...},"required":[...]}'),
});
export type ToolDef = z.infer<typeof ToolDef>;

export const ToolCall = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()),
});
export type ToolCall = z.infer<typeof ToolCall>;

export const Message = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  /** assistant only: the calls this turn makes (may be empty). */
  toolCalls: z.array(ToolCall).optional(),
  /** tool only: the id of the call this message answers. */
  toolCallId: z.string().optional(),
  /** tool only: the tool's name. */
  name: z.string().optional(),
});
export type Message = z.infer<typeof Message>;

export const Workflow = z.object({
  name: z.string().min(1),
  description: z.string().min(1),
  steps: z.array(z.string()).min(1),
  /** e.g. "(a)->(b,c)->(d)": step letters, parallel branches in one group. */
  executionGraph: z.string().min(1),
  exampleActions: z.array(z.string()),
  tools: z.array(ToolDef).min(1),
});
export type Workflow = z.infer<typeof Workflow>;

export const InteractionPattern = z.enum([
  'rule_vs_need_conflict',
  'error_recovery',
  'clarification',
  'multi_hop_reasoning',
  'rule_awareness',
]);
export type InteractionPattern = z.infer<typeof InteractionPattern>;

export const Trajectory = z.object({
  tools: z.array(ToolDef).min(1),
  messages: z.array(Message).min(3),
  patterns: z.array(InteractionPattern),
});
export type Trajectory = z.infer<typeof Trajectory>;

/** What the pipeline carries per workflow once a trajectory exists. */
export interface TrajectoryRecord {
  /** Deterministic: hash of document id + workflow index (+ stage versions). */
  trajectoryId: string;
  documentId: string;
  workflowIndex: number;
  workflow: Workflow;
  trajectory: Trajectory;
  /** stage id -> prompt version, e.g. {extract: "extract.v1", ground: "ground.v1"} */
  promptVersions: Record<string, string>;
  /** stage id -> model name */
  models: Record<string, string>;
  promptTokens: number;
  completionTokens: number;
  /** refine's extra structure, when refine ran */
  policy?: unknown;
  userProfile?: unknown;
  judge?: unknown;
}
