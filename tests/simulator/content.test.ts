import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtractOutput } from '../../operators/extract/schema.js';
import { GroundOutput } from '../../operators/ground/schema.js';
import { JudgeOutput } from '../../operators/judge/schema.js';
import { RefineOutput } from '../../operators/refine/schema.js';
import { SynthesizeOutput } from '../../operators/synthesize/schema.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/simulator.js';
import type { Workflow } from '../../src/trajectory.js';
import { chatJson, NEWS_DOC, postChat, RETURNS_DOC, stageBody, STORAGE_DOC } from './fixtures.js';
import { calledTools, trajectoryProblems } from './trajectory-rules.js';
import { groundAnswer, OWN_RECORDS_RULE } from '../../src/simulator/content/ground-answer.js';
import { tooFewPatterns } from '../../operators/ground/trajectory-checks.js';
import { validateTrajectory } from '../../operators/validate/validate.js';

// Fast rates: these tests are about content, not timing.
let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ prefillTokensPerSec: 1e7, decodeTokensPerSec: 1e7, maxDecodeTokensPerSecPerSeq: 1e6, timeScale: 0.01 });
});
afterAll(() => sim.close());

async function extract(doc: string, maxWorkflows = 3): Promise<ExtractOutput> {
  const body = stageBody('extract', { document: doc });
  const messages = body.messages as { role: string; content: string }[];
  messages[1]!.content = `Extract at most ${maxWorkflows} workflows.\n\n${messages[1]!.content}`;
  return ExtractOutput.parse(await chatJson(sim.url, body));
}

async function ground(doc: string, out: ExtractOutput, w: Workflow): Promise<GroundOutput> {
  const sections = { document: doc, domain: out.domain, rules: JSON.stringify(out.rules), workflow: JSON.stringify(w) };
  return GroundOutput.parse(await chatJson(sim.url, stageBody('ground', sections)));
}

describe('extract', () => {
  it('finds the step lists, with snake_case tools, login where the text mentions accounts, and read/write pairs', async () => {
    const out = await extract(STORAGE_DOC);
    expect(out.workflows.map((w) => w.name)).toEqual(['create_bucket', 'delete_bucket']);
    expect(out.domain).toContain('bucket');
    expect(out.rules.some((r) => r.includes('must be signed in'))).toBe(true);
    const [create, del] = out.workflows as [Workflow, Workflow];
    expect(create.steps).toHaveLength(5);
    expect(create.executionGraph).toBe('(a)->(b)->(c)->(d)->(e)');
    expect(create.tools.map((t) => t.name).sort()).toEqual(['create_bucket', 'get_bucket', 'login']);
    const createTool = create.tools.find((t) => t.name === 'create_bucket')!;
    expect(createTool.parameters).toMatchObject({ type: 'object', required: expect.arrayContaining(['name', 'region', 'auth_token']) });
    expect(create.tools.find((t) => t.name === 'get_bucket')!.parameters.required).toEqual(['bucket_id', 'auth_token']);
    expect(del.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['login', 'list_bucket', 'delete_bucket', 'get_bucket']));
    // "Open the bucket list" and "Check the bucket list again" are reads that may run side by side with no write between.
    expect(del.executionGraph).toMatch(/^\(a\)->/);
  });

  it('keeps to the requested number of workflows and finds imperative prose without a list', async () => {
    expect((await extract(STORAGE_DOC, 1)).workflows).toHaveLength(1);
    const prose = await extract(RETURNS_DOC);
    expect(prose.workflows).toHaveLength(1);
    expect(prose.workflows[0]!.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['search_order', 'cancel_order', 'get_order']));
    expect(prose.workflows[0]!.tools.some((t) => (t.parameters.required as string[]).includes('auth_token'))).toBe(false);
  });

  it('returns no workflows for a text without steps', async () => {
    const out = await extract(NEWS_DOC);
    expect(out.workflows).toEqual([]);
    expect(out.domain.length).toBeGreaterThan(0);
  });

  it('answers the same prompt identically', async () => {
    expect(await extract(STORAGE_DOC)).toEqual(await extract(STORAGE_DOC));
  });
});

describe('ground, refine, judge', () => {
  it('writes a valid conversation per workflow that calls the extracted tools with at least three patterns', async () => {
    for (const doc of [STORAGE_DOC, RETURNS_DOC]) {
      const out = await extract(doc);
      for (const w of out.workflows) {
        const g = await ground(doc, out, w);
        const t = g.trajectory;
        expect(trajectoryProblems(t)).toEqual([]);
        expect(t.tools).toEqual(w.tools);
        expect(calledTools(t).every((name) => w.tools.some((tool) => tool.name === name))).toBe(true);
        expect(new Set(t.patterns).size).toBeGreaterThanOrEqual(3);
        expect(t.patterns).toEqual(expect.arrayContaining(['clarification', 'error_recovery']));
        expect(t.messages[0]!.content).toContain(out.rules[0]!);
        // The failed call is reported as JSON with an "error" field and retried by the next turn.
        const errorAt = t.messages.findIndex((m) => m.role === 'tool' && 'error' in JSON.parse(m.content));
        expect(t.messages[errorAt + 1]!.toolCalls?.[0]?.name).toBe(t.messages[errorAt]!.name);
      }
    }
  });

  it('a workflow that only reads, with nothing passed between calls, still shows three patterns: a rule applied unprompted', () => {
    // Real READMEs gave such workflows; the ground check then failed, and the repair answer was the same.
    const w: Workflow = {
      name: 'check_order_status',
      description: 'Look up an order',
      steps: ['find the order', 'show the shipping rates'],
      tools: [
        { name: 'search_orders', description: 'Search orders', parameters: { type: 'object', properties: { customer_email: { type: 'string' } }, required: ['customer_email'] } },
        { name: 'get_shipping_rates', description: 'Rates', parameters: { type: 'object', properties: { country: { type: 'string' } }, required: ['country'] } },
      ],
    };
    const a = groundAnswer({ workflow: w, domain: 'retail', rules: [], document: 'Orders ship from the warehouse.', seed: 's' });
    expect(a.trajectory.patterns).toEqual(['clarification', 'error_recovery', 'rule_awareness']);
    expect(tooFewPatterns(a.trajectory, 'trajectory', 3)).toEqual([]);
    expect(validateTrajectory(a.trajectory)).toEqual([]);
    expect(a.trajectory.messages[0]!.content).toContain(OWN_RECORDS_RULE);
    const first = a.trajectory.messages.find((m) => m.toolCalls?.length)!;
    expect(first.content).toMatch(/^One check first: the policy lets me open only records that belong to you/);
  });

  it('uses ids and tokens returned by earlier replies in later calls (multi-hop)', async () => {
    const out = await extract(STORAGE_DOC);
    const t = (await ground(STORAGE_DOC, out, out.workflows[0]!)).trajectory;
    expect(t.patterns).toContain('multi_hop_reasoning');
    const login = t.messages.find((m) => m.role === 'tool' && m.name === 'login' && !m.content.includes('error'))!;
    const token = (JSON.parse(login.content) as { auth_token: string }).auth_token;
    const later = t.messages.flatMap((m) => m.toolCalls ?? []).filter((c) => c.name !== 'login');
    expect(later.every((c) => c.arguments.auth_token === token)).toBe(true);
    const created = t.messages.find((m) => m.role === 'tool' && m.name === 'create_bucket')!;
    const bucketId = (JSON.parse(created.content) as { bucket_id: string }).bucket_id;
    expect(later.find((c) => c.name === 'get_bucket')!.arguments.bucket_id).toBe(bucketId);
  });

  it('refines with a policy, profile, pitfalls and a nested array argument, keeping the grammar', async () => {
    const out = await extract(STORAGE_DOC);
    const g = await ground(STORAGE_DOC, out, out.workflows[1]!);
    const r = RefineOutput.parse(await chatJson(sim.url, stageBody('refine', { trajectory: JSON.stringify(g.trajectory), rules: JSON.stringify(out.rules) })));
    const t = r.trajectory;
    expect(trajectoryProblems(t)).toEqual([]);
    expect(r.policy.rules).toEqual(expect.arrayContaining(out.rules));
    expect(r.pitfalls.length).toBeGreaterThanOrEqual(1);
    expect(r.pitfalls.length).toBeLessThanOrEqual(2);
    expect(Object.keys(r.userProfile).length).toBeGreaterThan(0);
    expect(t.patterns).toContain('rule_vs_need_conflict');
    const tag = t.messages.flatMap((m) => m.toolCalls ?? []).find((c) => c.name === 'tag_buckets')!;
    const items = tag.arguments.items as { bucket_id: string }[];
    expect(items).toHaveLength(2);
    // The ids come from the earlier list reply.
    const listed = t.messages.find((m) => m.role === 'tool' && m.name === 'list_bucket' && !m.content.includes('error'))!;
    expect(listed.content).toContain(items[0]!.bucket_id);
    const ids = t.messages.flatMap((m) => m.toolCalls ?? []).map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('judges its own trajectories as passing, and a broken one as failing R1 and R3', async () => {
    const out = await extract(STORAGE_DOC);
    const g = await ground(STORAGE_DOC, out, out.workflows[0]!);
    const j = JudgeOutput.parse(await chatJson(sim.url, stageBody('judge', { trajectory: JSON.stringify(g.trajectory) })));
    expect([j.r1GroundedArguments.pass, j.r2HonestLimits.pass, j.r3Consistency.pass]).toEqual([true, true, true]);
    expect(j.r1GroundedArguments.reason.length).toBeGreaterThan(0);

    const broken = structuredClone(g.trajectory);
    const call = broken.messages.find((m) => m.toolCalls?.length)!.toolCalls![0]!;
    call.arguments = { ...call.arguments, username: 'someone-never-mentioned' };
    const reply = broken.messages.find((m) => m.role === 'tool')!;
    reply.name = 'not_the_called_tool';
    const jb = JudgeOutput.parse(await chatJson(sim.url, stageBody('judge', { trajectory: JSON.stringify(broken) })));
    expect(jb.r1GroundedArguments.pass).toBe(false);
    expect(jb.r1GroundedArguments.reason).toContain('someone-never-mentioned');
    expect(jb.r3Consistency.pass).toBe(false);
  });

  it('fails some verdicts when judgeFailRate is set', async () => {
    const failing = await startSimulator({ judgeFailRate: 1, prefillTokensPerSec: 1e7, decodeTokensPerSec: 1e7, maxDecodeTokensPerSecPerSeq: 1e6 });
    try {
      const out = await extract(STORAGE_DOC);
      const g = await ground(STORAGE_DOC, out, out.workflows[0]!);
      const j = JudgeOutput.parse(await chatJson(failing.url, stageBody('judge', { trajectory: JSON.stringify(g.trajectory) })));
      expect([j.r1GroundedArguments, j.r2HonestLimits, j.r3Consistency].filter((v) => !v.pass)).toHaveLength(1);
    } finally {
      await failing.close();
    }
  });
});

describe('synthesize', () => {
  it('returns extract + ground + refine in one answer', async () => {
    const s = SynthesizeOutput.parse(await chatJson(sim.url, stageBody('synthesize', { document: STORAGE_DOC })));
    expect(s.items.map((i) => i.workflow.name)).toEqual(['create_bucket', 'delete_bucket']);
    for (const item of s.items) {
      expect(trajectoryProblems(item.trajectory)).toEqual([]);
      expect(item.trajectory.tools.map((t) => t.name)).toEqual(expect.arrayContaining(item.workflow.tools.map((t) => t.name)));
      expect(item.trajectory.patterns.length).toBeGreaterThanOrEqual(3);
    }
    const empty = SynthesizeOutput.parse(await chatJson(sim.url, stageBody('synthesize', { document: NEWS_DOC })));
    expect(empty.items).toEqual([]);
  });
});

describe('request handling of stage prompts', () => {
  it('answers 400 when a stage section is missing or not valid', async () => {
    const noDoc = await postChat(sim.url, stageBody('extract', {}));
    expect(noDoc.status).toBe(400);
    expect(((await noDoc.json()) as { error: { message: string } }).error.message).toContain('<document>');
    const badWorkflow = await postChat(sim.url, stageBody('ground', { workflow: '{"name": 1}' }));
    expect(badWorkflow.status).toBe(400);
  });

  it('truncates to max_tokens with finish_reason length', async () => {
    const res = await postChat(sim.url, stageBody('extract', { document: STORAGE_DOC }, { max_tokens: 20 }));
    const j = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(j.choices[0]!.finish_reason).toBe('length');
    expect(j.usage.completion_tokens).toBe(20);
    expect(j.choices[0]!.message.content).toHaveLength(80);
  });
});
