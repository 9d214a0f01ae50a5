import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { CORPUS, readManifest, runCli, sum, tempDir, writePipeline } from '../e2e/harness.js';

/** Whole runs (the CLI) against servers that speak one structured-output dialect. */
describe('gemflow run and structured-output dialects', () => {
  const sims: SimulatorHandle[] = [];
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('a server that rejects the configured dialect stops the run at once: exit 2, its own message, nothing dead-lettered', async () => {
    // Like llama-cpp-python 0.3.36: json_object + schema only; json_schema -> HTTP 500 "Input should be ...".
    const s = await startSimulator({ timeScale: 0.001, dialects: ['json_object_schema'], health: false, metrics: false });
    sims.push(s);
    const dir = await tempDir('dialect-rejected');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: s.url }], structuredOutput: 'json_schema', retryBaseMs: 10 },
      sink: { dir: out },
    });
    const r = await runCli(['run', cfg, '--quiet']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('llm_request_rejected');
    expect(r.stderr).toContain("Input should be 'text' or 'json_object'");
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.deadLettered).toEqual({});
    expect(m.funnel.documents.written).toBe(0);
    expect(m.fatal?.code).toBe('llm_request_rejected');
    // Stopped at once: a handful of requests (the documents in flight), not retries of every document.
    const st = s.stats();
    expect(st.requests.byStatus['200'] ?? 0).toBe(0);
    expect(st.requests.total).toBeLessThanOrEqual(m.funnel.documents.received);
    // No dead-letter file holds a document for it.
    const files = await readdir(out, { recursive: true }).catch(() => [] as string[]);
    for (const f of files.filter((x) => String(x).includes('dead'))) {
      const text = await readFile(join(out, String(f)), 'utf8').catch(() => '');
      expect(text).not.toContain('llm_request_rejected');
    }
  });

  it('auto against the same server: probes, settles on json_object_schema, and the run succeeds', async () => {
    const s = await startSimulator({ timeScale: 0.001, dialects: ['json_object_schema'], health: false, metrics: false });
    sims.push(s);
    const dir = await tempDir('dialect-auto');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { endpoints: [{ url: s.url }], retryBaseMs: 10 },
      sink: { dir: out },
    });
    const r = await runCli(['run', cfg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('structured output at');
    expect(r.stderr.match(/no vLLM gauges at/g)).toHaveLength(1);
    expect(r.stderr.match(/no \/health at/g)).toHaveLength(1);
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.written).toBeGreaterThan(5);
    expect(sum(m.funnel.documents.deadLettered)).toBe(0);
    const st = s.stats();
    expect(st.requests.byDialect.json_schema).toBe(1); // the one rejected probe
    expect(st.requests.byStatus['500']).toBe(1);
  });

  it('the bundled simulator told to speak one dialect (llm.simulator.dialects), with structuredOutput none', async () => {
    const dir = await tempDir('dialect-none');
    const out = join(dir, 'out');
    const cfg = await writePipeline(dir, {
      source: { type: 'files', paths: [CORPUS] },
      relevance: { threads: 0 },
      llm: { structuredOutput: 'none', simulator: { dialects: ['grammar'], timeScale: 0.001 } },
      sink: { dir: out },
    });
    const r = await runCli(['run', cfg, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const m = await readManifest(out);
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.written).toBeGreaterThan(5);
  });
});
