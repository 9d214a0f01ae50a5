import { errorMessage } from '../../src/errors.js';
import type { ToolDef, Workflow } from '../../src/trajectory.js';
import { parseExecutionGraph } from './execution-graph.js';

const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const MAX_STEPS = 26;

/** Steps are labelled by position: the first "a", the second "b", ... (as the prompts say). */
export function stepLabel(index: number): string {
  return String.fromCharCode(97 + index);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Problems with one tool definition's name and parameters schema; `path` prefixes every message. */
export function checkToolDef(tool: ToolDef, path: string): string[] {
  const problems: string[] = [];
  if (!SNAKE_CASE.test(tool.name)) problems.push(`${path}.name "${tool.name}" is not snake_case (e.g. get_order)`);
  const p = tool.parameters;
  if (p.type !== 'object' || !isPlainObject(p.properties)) {
    problems.push(`${path}.parameters must be an object schema: {"type":"object","properties":{...}}`);
    return problems;
  }
  const required = p.required ?? [];
  if (!Array.isArray(required)) {
    problems.push(`${path}.parameters.required must be an array of property names`);
    return problems;
  }
  for (const r of required) {
    if (typeof r !== 'string' || !Object.hasOwn(p.properties, r)) {
      problems.push(`${path}.parameters.required lists ${JSON.stringify(r)}, which is not a property`);
    }
  }
  return problems;
}

/**
 * Problems with one extracted workflow: tool names unique and well-formed, parameter schemas, and an
 * execution graph that parses and names only the workflow's step labels. Empty = fine.
 */
export function checkWorkflow(w: Workflow, path: string): string[] {
  const problems: string[] = [];
  if (w.steps.length > MAX_STEPS) problems.push(`${path}.steps has ${w.steps.length} steps; at most ${MAX_STEPS} (labels a-z)`);

  const seen = new Set<string>();
  w.tools.forEach((tool, i) => {
    if (seen.has(tool.name)) problems.push(`${path}.tools[${i}]: tool name "${tool.name}" is used twice in this workflow`);
    seen.add(tool.name);
    problems.push(...checkToolDef(tool, `${path}.tools[${i}]`));
  });

  let stages: string[][];
  try {
    stages = parseExecutionGraph(w.executionGraph);
  } catch (e) {
    problems.push(`${path}.executionGraph: ${errorMessage(e)}; write it like (a)->(b,c)->(d)`);
    return problems;
  }
  const labels = new Set(w.steps.slice(0, MAX_STEPS).map((_, i) => stepLabel(i)));
  const last = stepLabel(Math.min(w.steps.length, MAX_STEPS) - 1);
  for (const l of stages.flat()) {
    if (!labels.has(l)) {
      problems.push(`${path}.executionGraph names step "${l}", but the steps are labelled a..${last}`);
    }
  }
  return problems;
}
