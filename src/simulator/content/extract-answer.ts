import type { ToolDef, Workflow } from '../../trajectory.js';
import { Rng } from '../hash.js';
import { objectFor } from './schema-values.js';
import {
  classifyStep,
  findStepBlocks,
  isWriteCategory,
  mentionsAuth,
  ruleSentences,
  salientWords,
  snake,
  toolNameOf,
  words,
  type StepAction,
  type StepBlock,
  type ToolCategory,
} from './text-analysis.js';

/** The shape of operators/extract/schema.ts ExtractOutput (src/ does not import operators). */
export interface ExtractAnswer {
  domain: string;
  rules: string[];
  workflows: Workflow[];
}

/** The policy rule every simulated domain gets: it is what makes confirmation turns rule-aware. */
export const CONFIRM_RULE = 'Confirm the exact details with the user before any action that creates, changes or deletes data.';

const MAX_STEPS = 12;
const MAX_TOOLS = 8;

interface ToolSpec {
  name: string;
  verb: string;
  noun: string;
  category: ToolCategory;
  /** Values supplied by input steps ("Choose the region" -> region). */
  inputs: string[];
}

type Props = Record<string, Record<string, unknown>>;

function inputSchema(param: string): Record<string, unknown> {
  const readable = param.replace(/_/g, ' ');
  if (/(number|count|quantity|size|limit|days|hours|age)$/.test(param)) return { type: 'integer', minimum: 1, description: `the ${readable}` };
  if (/(price|cost|amount|total)$/.test(param)) return { type: 'number', minimum: 0, description: `the ${readable}` };
  return { type: 'string', description: `the ${readable}` };
}

/** The tool definition for a spec: parameters follow the tool's category (see text-analysis.ts). */
function toolDef(spec: ToolSpec, auth: boolean): ToolDef {
  const { noun, category } = spec;
  const idParam = `${noun}_id`;
  const idProp = { type: 'string', description: `identifier of the ${noun.replace(/_/g, ' ')}` };
  const props: Props = {};
  const required: string[] = [];
  const add = (name: string, schema: Record<string, unknown>, isRequired: boolean): void => {
    if (props[name]) return;
    props[name] = schema;
    if (isRequired) required.push(name);
  };
  const readable = noun.replace(/_/g, ' ');
  let description: string;
  switch (category) {
    case 'login':
      add('username', { type: 'string', description: 'the account user name' }, true);
      add('password', { type: 'string', description: 'the account password' }, true);
      description = 'Signs the user in and returns an auth_token for the other tools.';
      break;
    case 'create':
      add('name', { type: 'string', description: `name of the new ${readable}` }, true);
      spec.inputs.forEach((i) => add(i, inputSchema(i), true));
      description = `Creates a ${readable} and returns its ${idParam}.`;
      break;
    case 'read':
      add(idParam, idProp, true);
      description = `Returns the ${readable} with the given ${idParam}, including its status.`;
      break;
    case 'list':
      add('status', { type: 'string', enum: ['active', 'inactive', 'all'], description: `only ${readable} records with this status` }, false);
      add('limit', { type: 'integer', minimum: 1, maximum: 100, description: 'most records to return' }, false);
      description = `Lists ${readable} records with their ${idParam}s.`;
      break;
    case 'search':
      add('query', { type: 'string', description: `words to look for in ${readable} records` }, true);
      add('limit', { type: 'integer', minimum: 1, maximum: 100, description: 'most records to return' }, false);
      description = `Searches ${readable} records and returns the matches with their ${idParam}s.`;
      break;
    case 'delete':
      add(idParam, idProp, true);
      add('reason', { type: 'string', description: 'why it is removed' }, false);
      description = `${capitalize(spec.verb)}s the ${readable} with the given ${idParam}; this cannot be undone.`;
      break;
    case 'update':
      add(idParam, idProp, true);
      spec.inputs.forEach((i) => add(i, inputSchema(i), true));
      if (spec.inputs.length === 0 && ['update', 'set', 'configure'].includes(spec.verb)) {
        add('changes', {
          type: 'object',
          description: 'the fields to change and their new values',
          properties: { name: { type: 'string', description: 'new name' }, description: { type: 'string', description: 'new description' } },
        }, true);
      }
      description = `${capitalize(spec.verb)}s the ${readable} with the given ${idParam} and returns its new state.`;
      break;
  }
  if (auth && category !== 'login') add('auth_token', { type: 'string', description: 'token returned by login' }, true);
  return { name: spec.name, description, parameters: { type: 'object', properties: props, required } };
}

function capitalize(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

function isTool(a: StepAction): a is Extract<StepAction, { kind: 'tool' }> {
  return a.kind === 'tool';
}

/**
 * "(a)->(b,c)->(d)": consecutive lookups of different kinds of record (get_x, get_y) run in parallel;
 * everything else runs in order, since a later step may need an earlier step's result.
 */
function executionGraph(actions: StepAction[]): string {
  const groups: string[][] = [];
  let prevNoun: string | undefined;
  actions.forEach((a, i) => {
    const label = String.fromCharCode(97 + i);
    const noun = isTool(a) && a.category === 'read' ? a.noun : undefined;
    if (noun !== undefined && prevNoun !== undefined && noun !== prevNoun) groups.at(-1)!.push(label);
    else groups.push([label]);
    prevNoun = noun;
  });
  return groups.map((g) => `(${g.join(',')})`).join('->');
}

function workflowOf(block: StepBlock, topic: string, auth: boolean, rng: Rng): Workflow | undefined {
  const steps = block.steps.slice(0, MAX_STEPS);
  const titleAction = block.title ? classifyStep(block.title, topic) : undefined;
  let fallback = titleAction && isTool(titleAction) && titleAction.noun ? titleAction.noun : topic;
  const actions = steps.map((step) => {
    const a = classifyStep(step, fallback);
    if (isTool(a) && a.noun) fallback = a.noun;
    if (a.kind === 'input' && a.param.includes('_')) fallback = a.param.split('_')[0]!;
    return a;
  });

  const specs = new Map<string, ToolSpec>();
  const stepTool = actions.map((a) => {
    if (!isTool(a)) return undefined;
    const name = toolNameOf(a);
    if (!specs.has(name)) specs.set(name, { name, verb: a.verb, noun: a.noun, category: a.category, inputs: [] });
    return specs.get(name)!;
  });
  if (specs.size === 0) return undefined;
  // An input step feeds the next operation (or the previous one when it is last).
  actions.forEach((a, i) => {
    if (a.kind !== 'input') return;
    const target = stepTool.slice(i + 1).find((t) => t && t.category !== 'login') ?? stepTool.slice(0, i).reverse().find((t) => t && t.category !== 'login');
    if (!target || target.category === 'read' || target.category === 'list' || target.category === 'search' || target.category === 'delete') return;
    const param = a.param.startsWith(`${target.noun}_`) ? a.param.slice(target.noun.length + 1) : a.param;
    if (!target.inputs.includes(param) && param !== `${target.noun}_id`) target.inputs.push(param);
  });

  const tools = [...specs.values()];
  // Real logic: credentials where the text involves accounts; a read for every kind of state written.
  if (auth && !specs.has('login')) tools.unshift({ name: 'login', verb: 'login', noun: '', category: 'login', inputs: [] });
  for (const t of [...tools]) {
    if (isWriteCategory(t.category) && !tools.some((x) => x.name === `get_${t.noun}`)) {
      tools.push({ name: `get_${t.noun}`, verb: 'get', noun: t.noun, category: 'read', inputs: [] });
    }
  }
  if (tools.length < 2) {
    const noun = tools[0]!.noun || topic;
    tools.push({ name: `list_${noun}`, verb: 'list', noun, category: 'list', inputs: [] });
  }
  const defs = tools.slice(0, MAX_TOOLS).map((t) => toolDef(t, auth));

  const title = block.title ?? steps[0]!;
  const nameWords = words(title).filter((w) => w.length > 2 && !['the', 'and', 'for', 'your', 'with', 'how', 'from', 'into'].includes(w));
  const name = snake([...new Set(nameWords)].slice(0, 3).join(' ')) || `${defs[0]!.name}_flow`;
  return {
    name,
    description: `${capitalize(title.replace(/[.:]$/, ''))}: ${steps.length} documented steps; done when "${steps.at(-1)!.replace(/[.]$/, '')}" has succeeded.`,
    steps,
    executionGraph: executionGraph(actions),
    exampleActions: defs.slice(0, 3).map((d) => {
      const args = objectFor(d.parameters, rng, topic);
      return `${d.name}(${Object.entries(args).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')})`;
    }),
    tools: defs,
  };
}

/** The simulated extract answer: domain, rules and up to `maxWorkflows` workflows found in the text. */
export function extractAnswer(document: string, maxWorkflows: number, seed: string): ExtractAnswer {
  const rng = new Rng(`${seed}\0extract\0${document}`);
  const salient = salientWords(document, 2);
  const topic = salient[0] ?? 'record';
  const auth = mentionsAuth(document);
  const workflows: Workflow[] = [];
  for (const block of findStepBlocks(document)) {
    if (workflows.length >= maxWorkflows) break;
    const w = workflowOf(block, topic, auth, rng);
    if (!w) continue;
    let name = w.name;
    for (let n = 2; workflows.some((x) => x.name === name); n++) name = `${w.name}_${n}`;
    workflows.push({ ...w, name });
  }
  return {
    domain: salient.length > 0 ? `${salient.join(' and ')} operations` : 'general text',
    rules: [...ruleSentences(document, 4), ...(workflows.length > 0 ? [CONFIRM_RULE] : [])],
    workflows,
  };
}
