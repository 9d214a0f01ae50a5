import { z } from 'zod';
import { GemflowError } from '../../errors.js';
import { readSection } from '../../llm/prompt-sections.js';
import { Trajectory, Workflow } from '../../trajectory.js';
import { hashUnit } from '../hash.js';
import { extractAnswer } from './extract-answer.js';
import { groundAnswer } from './ground-answer.js';
import { judgeAnswer } from './judge-answer.js';
import { refineAnswer } from './refine-answer.js';
import { synthesizeAnswer } from './synthesize-answer.js';
import { relevanceAnswer } from './relevance-answer.js';
import { schemaAnswer } from './schema-answer.js';
import { answerSchemaProblems } from './answer-check.js';

/**
 * The stages the simulator answers by rules derived from the text, by json_schema name
 * `gemflow_<stage>`. Any other `gemflow_<name>` is answered from the request's own JSON schema
 * (schema-answer.ts).
 */
export const SIMULATED_STAGES = ['extract', 'ground', 'refine', 'judge', 'synthesize', 'relevance_llm'] as const;
export type SimulatedStage = (typeof SIMULATED_STAGES)[number];

export interface AnswerContext {
  /** Simulator seed plus the request's own seed: the same prompt always gets the same answer. */
  seed: string;
  judgeFailRate: number;
  /** Spoil the answer so that it fails the stage's checks (still JSON matching the schema): see spoilAnswer. */
  invalid?: boolean;
}

/**
 * An answer made to fail the stage's own checks while staying schema-valid JSON, the kind of mistake a
 * model makes under structured output: an extracted workflow's first tool name turned into PascalCase
 * (the extract check wants snake_case), or a trajectory's first tool call (and its reply) renamed to a
 * tool the trajectory does not define (validate's unknown_tool). Other answers are returned unchanged.
 */
export function spoilAnswer(answer: unknown): unknown {
  const a = structuredClone(answer) as Record<string, unknown>;
  const workflows = a?.workflows as Array<{ tools: Array<{ name: string }> }> | undefined;
  const tool = workflows?.[0]?.tools?.[0];
  if (tool) {
    tool.name = tool.name.replace(/(^|_)([a-z0-9])/g, (_, _u: string, c: string) => c.toUpperCase()) + 'Tool';
    return a;
  }
  const trajectory = findTrajectory(a);
  for (const m of trajectory?.messages ?? []) {
    const call = m.toolCalls?.[0];
    if (!call) continue;
    const renamed = `undefined_${call.name}`;
    for (const reply of trajectory!.messages) if (reply.role === 'tool' && reply.toolCallId === call.id) reply.name = renamed;
    call.name = renamed;
    break;
  }
  return a;
}

type LooseTrajectory = { messages: Array<{ role: string; toolCalls?: Array<{ id: string; name: string }>; toolCallId?: string; name?: string }> };

function findTrajectory(v: unknown, depth = 0): LooseTrajectory | undefined {
  if (typeof v !== 'object' || v === null || depth > 3) return undefined;
  if (Array.isArray((v as LooseTrajectory).messages)) return v as LooseTrajectory;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const t = findTrajectory(x, depth + 1);
    if (t) return t;
  }
  return undefined;
}

const DEFAULT_MAX_WORKFLOWS = 3;

function invalid(message: string): GemflowError {
  return new GemflowError('invalid_request', message);
}

function required(text: string, name: string, stage: string): string {
  const body = readSection(text, name);
  if (body === undefined) throw invalid(`the simulator's ${stage} answer needs a <${name}> section in the last user message`);
  return body;
}

function parseJson<T>(text: string, name: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw invalid(`<${name}> is not valid JSON: ${(e as Error).message}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(`<${name}> does not match its schema: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** Built once: a zod schema built per call cost the simulator ~2% of its CPU in the benchmark. */
const Rules = z.array(z.string());

function optionalRules(text: string): string[] | undefined {
  const body = readSection(text, 'rules');
  return body === undefined ? undefined : parseJson(body, 'rules', Rules);
}

/** "at most N workflows" in the request (outside the document), else the default. */
function maxWorkflows(text: string): number {
  const doc = readSection(text, 'document') ?? '';
  const m = /at most (\d+) workflows?\b/i.exec(text.replace(doc, ''));
  return m ? Number(m[1]) : DEFAULT_MAX_WORKFLOWS;
}

/** Sections are written with `<` escaped as `&lt;` (free text); the simulator reads them back. */
function unescapeText(s: string): string {
  return s.replace(/&lt;(\/?)(document|domain|rules|workflow|trajectory)>/g, '<$1$2>');
}

/**
 * The answer object for one stage, derived from the tagged sections of the last user message.
 * Throws GemflowError `invalid_request` (HTTP 400) when a section the stage needs is missing or bad.
 */
export function stageAnswer(stage: SimulatedStage, userText: string, ctx: AnswerContext): unknown {
  switch (stage) {
    case 'extract':
      return extractAnswer(unescapeText(required(userText, 'document', stage)), maxWorkflows(userText), ctx.seed);
    case 'synthesize':
      return synthesizeAnswer(unescapeText(required(userText, 'document', stage)), maxWorkflows(userText), ctx.seed);
    case 'ground':
      return groundAnswer({
        workflow: parseJson(required(userText, 'workflow', stage), 'workflow', Workflow),
        domain: unescapeText(readSection(userText, 'domain') ?? 'general'),
        rules: optionalRules(userText) ?? [],
        document: unescapeText(readSection(userText, 'document') ?? ''),
        seed: ctx.seed,
      });
    case 'refine':
      return refineAnswer({
        trajectory: parseJson(required(userText, 'trajectory', stage), 'trajectory', Trajectory),
        rules: optionalRules(userText),
        seed: ctx.seed,
      });
    case 'relevance_llm':
      return relevanceAnswer(unescapeText(required(userText, 'document', stage)), ctx.seed);
    case 'judge': {
      const t = parseJson(required(userText, 'trajectory', stage), 'trajectory', Trajectory);
      const roll = hashUnit(ctx.seed, 'judge', JSON.stringify(t));
      const forced = roll < ctx.judgeFailRate ? (Math.floor((roll / ctx.judgeFailRate) * 3) as 0 | 1 | 2) : undefined;
      return judgeAnswer(t, forced);
    }
  }
}

export function isSimulatedStage(s: string | undefined): s is SimulatedStage {
  return (SIMULATED_STAGES as readonly string[]).includes(s ?? '');
}

/**
 * The content of the simulator's answer to a structured-output request named `gemflow_<stage>` with
 * JSON schema `schema`: a known stage's rule-made answer, checked against the request's schema (a
 * mismatch means the operator's declared schema and the simulator's answers have drifted apart: it
 * throws `simulator_answer_mismatch`, answered as HTTP 500 with the problems); any other stage's
 * answer generated from the schema itself.
 */
export function simulatedAnswer(stage: string, schema: Record<string, unknown> | undefined, userText: string, ctx: AnswerContext): string {
  if (isSimulatedStage(stage)) {
    const made = stageAnswer(stage, userText, ctx);
    const answer = ctx.invalid ? spoilAnswer(made) : made;
    if (schema) {
      const problems = answerSchemaProblems(schema, answer);
      if (problems.length > 0) {
        throw new GemflowError(
          'simulator_answer_mismatch',
          `the simulator's gemflow_${stage} answer does not match the request's response_format schema (operator schema and simulator content have drifted): ${problems.slice(0, 5).join('; ')}`,
          { detail: { stage, problems } },
        );
      }
    }
    return JSON.stringify(answer);
  }
  return JSON.stringify(schemaAnswer(schema ?? { type: 'object' }, userText, ctx.seed));
}
