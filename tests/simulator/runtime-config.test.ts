import { afterEach, describe, expect, it } from 'vitest';
import { checkWorkflow } from '../../operators/extract/check-workflow.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/simulator.js';
import type { Workflow } from '../../src/trajectory.js';
import { chatJson, postChat, stageBody, STORAGE_DOC } from './fixtures.js';
import { sample, scrape } from './metrics-text.js';

let sim: SimulatorHandle | undefined;
afterEach(() => sim?.close());

const postConfig = (url: string, body: unknown) =>
  fetch(`${url}/_sim/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const extract = (i: number) => stageBody('extract', { document: `${STORAGE_DOC}\nNote ${i}.` });

describe('simulator runtime control (POST /_sim/config)', () => {
  it('changes the batch capacity while running: fewer slots, the rest wait', async () => {
    sim = await startSimulator({ timeScale: 0.01 });
    expect((await postConfig(sim.url, { maxRunningSeqs: 1 })).status).toBe(200);
    expect(((await (await fetch(`${sim.url}/_sim/config`)).json()) as { maxRunningSeqs: number }).maxRunningSeqs).toBe(1);
    const pending = [0, 1, 2].map((i) => postChat(sim!.url, extract(i)));
    await expect.poll(async () => {
      const m = await scrape(sim!.url);
      return [sample(m, 'vllm:num_requests_running'), sample(m, 'vllm:num_requests_waiting')];
    }).toEqual([1, 2]);
    expect(sim.stats().capacity.maxRunningSeqs).toBe(1);
    for (const r of await Promise.all(pending)) expect(r.status).toBe(200);
  });

  it('rejects unknown keys and bad values with 400 naming them, changing nothing', async () => {
    sim = await startSimulator({ timeScale: 0.01 });
    const res = await postConfig(sim.url, { maxRunningSeqs: 0, speed: 2, faults: { rates: { nope: 0.1 } } });
    expect(res.status).toBe(400);
    const msg = ((await res.json()) as { error: { message: string } }).error.message;
    expect(msg).toMatch(/maxRunningSeqs must be an integer >= 1/);
    expect(msg).toMatch(/unknown key "speed"/);
    expect(msg).toMatch(/unknown fault kind "nope"/);
    expect(sim.stats().capacity.maxRunningSeqs).toBe(256);
  });

  it('a replica taken down loses its work and resets connections; back up, it answers again', async () => {
    sim = await startSimulator({ timeScale: 0.01, maxRunningSeqs: 1 });
    const inFlight = postChat(sim.url, extract(0)).then(
      (r) => r.status,
      () => 'reset',
    );
    await expect.poll(async () => sample(await scrape(sim!.url), 'vllm:num_requests_running')).toBe(1);
    expect((await postConfig(sim.url, { down: true })).status).toBe(200);
    expect(await inFlight).toBe('reset');
    await expect(postChat(sim.url, extract(1))).rejects.toThrow();
    await expect(fetch(`${sim.url}/metrics`)).rejects.toThrow();
    expect(sim.stats().running).toBe(0); // /sim/stats still answers (in-process here)
    expect((await fetch(`${sim.url}/sim/stats`)).status).toBe(200);
    expect((await postConfig(sim.url, { down: false })).status).toBe(200);
    expect((await postChat(sim.url, extract(2))).status).toBe(200);
  });
});

describe('simulator invalid answers and time to first token', () => {
  it('spoils a first answer so the stage check fails; the repair turn gets a valid one', async () => {
    sim = await startSimulator({ timeScale: 0.01, invalidAnswerRate: 1 });
    const body = extract(0);
    const first = (await chatJson(sim.url, body)) as { workflows: Workflow[] };
    const problems = first.workflows.flatMap((w, i) => checkWorkflow(w, `workflows[${i}]`));
    expect(problems.join('\n')).toMatch(/is not snake_case/);

    const messages = [
      ...(body.messages as unknown[]),
      { role: 'assistant', content: JSON.stringify(first) },
      { role: 'user', content: `Your previous answer was rejected: ${problems[0]}\nReply with the corrected answer only.` },
    ];
    const repaired = (await chatJson(sim.url, { ...body, messages })) as { workflows: Workflow[] };
    expect(repaired.workflows.length).toBe(first.workflows.length);
    expect(repaired.workflows.flatMap((w, i) => checkWorkflow(w, `workflows[${i}]`))).toEqual([]);
    expect(sim.stats().invalidAnswers).toBe(1);
  });

  it('reports time to first token (arrival to end of prefill) in /metrics and /sim/stats', async () => {
    sim = await startSimulator({ timeScale: 0.01 });
    expect((await postChat(sim.url, extract(0))).status).toBe(200);
    const m = await scrape(sim.url);
    expect(sample(m, 'vllm:time_to_first_token_seconds_count')).toBe(1);
    const s = sim.stats();
    expect(s.ttftSec.count).toBe(1);
    expect(s.ttftSec.p99).toBeGreaterThan(0);
    expect(s.ttftSec.p99).toBeGreaterThanOrEqual(s.queueWaitSec.p99);
  });
});
