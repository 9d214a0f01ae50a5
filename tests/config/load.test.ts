import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkSteps, planSteps, stepSpecs } from '../../src/compose.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import type { ConfigIssue } from '../../src/config/interpolate-env.js';
import type { GemflowError } from '../../src/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemflow-config-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** The error parseConfig throws for `text`. */
function configError(text: string, env: Record<string, string> = {}): GemflowError {
  try {
    parseConfig(text, { env, baseDir: dir });
  } catch (e) {
    return e as GemflowError;
  }
  throw new Error('expected parseConfig to fail');
}
const issuesOf = (e: GemflowError) => e.detail?.issues as ConfigIssue[];

describe('loadConfig', () => {
  it('parses a minimal file with defaults and resolves relative paths against its directory', async () => {
    const file = join(dir, 'pipeline.yaml');
    await writeFile(file, ['source:', '  type: files', '  paths: [data/*.jsonl, /abs/x.parquet]', 'llm:', '  cache: {path: cache/llm.sqlite}'].join('\n'));
    const cfg = await loadConfig(file, { env: {} });
    expect(cfg.source).toEqual({
      type: 'files',
      paths: [join(dir, 'data/*.jsonl'), '/abs/x.parquet'],
      idField: 'id',
      textField: 'text',
      maxRecordBytes: 4 * 1024 * 1024,
    });
    expect(cfg.sink.dir).toBe(join(dir, 'out'));
    expect(cfg.stateDir).toBe(join(dir, 'out', '.gemflow'));
    expect(cfg.llm.cache).toEqual({ enabled: true, path: join(dir, 'cache', 'llm.sqlite') });
    // No steps: GEM's default list, judge off.
    expect(stepSpecs(cfg).specs.map((s) => s.type)).toEqual(['relevance', 'dedupe-documents', 'extract', 'ground', 'refine', 'validate', 'dedupe-trajectories', 'stats']);
    expect(cfg.queueCapacity).toBe(1024);
  });

  it('resolves a relevance model file and decontamination benchmark paths against the config directory too, in steps and the older keys', () => {
    const base = join(dir, 'conf');
    const steps = parseConfig(
      [
        'source: {type: files, paths: [a.jsonl]}',
        'steps:',
        '  - {id: r, type: relevance, model: models/mine.json}',
        '  - {id: r2, type: relevance, model: hand}',
        '  - {id: extract, type: extract}',
        '  - {id: ground, type: ground}',
        '  - {id: d, type: decontaminate, benchmarks: [{type: bfcl, path: ../bfcl/data}, {type: jsonl, name: t, path: /abs/t.jsonl}]}',
        '  - {id: stats, type: stats}',
      ].join('\n'),
      { env: {}, baseDir: base },
    );
    expect(steps.steps![0]).toMatchObject({ model: join(base, 'models/mine.json') });
    expect(steps.steps![1]).toMatchObject({ model: 'hand' });
    expect(steps.steps![4]).toMatchObject({ benchmarks: [{ path: join(dir, 'bfcl/data') }, { path: '/abs/t.jsonl' }] });
    const legacy = parseConfig('source: {type: files, paths: [a.jsonl]}\nrelevance: {model: m.json}\ndecontaminate: {benchmarks: [{type: bfcl, path: b}]}', { env: {}, baseDir: base });
    expect(legacy.relevance).toMatchObject({ model: join(base, 'm.json') });
    expect(legacy.decontaminate).toMatchObject({ benchmarks: [{ type: 'bfcl', path: join(base, 'b') }] });
    const dflt = parseConfig('source: {type: files, paths: [a.jsonl]}\nrelevance: {model: default}', { env: {}, baseDir: base });
    expect(dflt.relevance).toMatchObject({ model: 'default' });
  });

  it('validate (checkInputs) reports a relevance model or benchmark file that does not exist, by key', async () => {
    const file = join(dir, 'p.yaml');
    await writeFile(join(dir, 'a.jsonl'), '{"text": "x"}\n');
    await writeFile(join(dir, 'tau.jsonl'), '');
    await writeFile(file, 'source: {type: files, paths: [a.jsonl]}\nrelevance: {model: none.json}\ndecontaminate: {benchmarks: [{type: jsonl, name: t, path: tau.jsonl}, {type: bfcl, path: nobfcl}]}\n');
    const e = await loadConfig(file, { env: {}, checkInputs: true }).then(() => undefined, (x: unknown) => x as GemflowError);
    expect(issuesOf(e!).map((i) => i.path)).toEqual(['relevance.model', 'decontaminate.benchmarks[1].path']);
    expect(issuesOf(e!)[0]!.message).toContain(join(dir, 'none.json'));
  });

  it('an input path with an unset variable is reported once, for the variable, not also as a missing file', async () => {
    const file = join(dir, 'v.yaml');
    await writeFile(file, 'source: {type: files, paths: ["${CORPUS_UNSET_HERE}"]}\n');
    const e = await loadConfig(file, { env: {}, checkInputs: true }).then(() => undefined, (x: unknown) => x as GemflowError);
    expect(issuesOf(e!).map((i) => [i.path, i.message.split(' ').slice(0, 3).join(' ')])).toEqual([['source.paths[0]', 'environment variable CORPUS_UNSET_HERE']]);
  });

  it('validate (checkInputs) reports an output or state directory that cannot be made: a file in the way', async () => {
    const file = join(dir, 'o.yaml');
    await writeFile(join(dir, 'a.jsonl'), '{"text": "x"}\n');
    await writeFile(join(dir, 'blocker'), '');
    await writeFile(file, 'source: {type: files, paths: [a.jsonl]}\nsink: {dir: blocker/out}\nstateDir: blocker/state\n');
    const e = await loadConfig(file, { env: {}, checkInputs: true }).then(() => undefined, (x: unknown) => x as GemflowError);
    expect(issuesOf(e!)).toEqual([
      { path: 'sink.dir', message: `${join(dir, 'blocker/out')} cannot be created: ${join(dir, 'blocker')} is a file, not a directory` },
      { path: 'stateDir', message: `${join(dir, 'blocker/state')} cannot be created: ${join(dir, 'blocker')} is a file, not a directory` },
    ]);
  });

  it('resolves an explicit stateDir and sink.dir against the config directory', () => {
    const cfg = parseConfig('source: {type: files, paths: [a.jsonl]}\nsink: {dir: ../shards}\nstateDir: st', { env: {}, baseDir: join(dir, 'conf') });
    expect(cfg.sink.dir).toBe(join(dir, 'shards'));
    expect(cfg.stateDir).toBe(join(dir, 'conf', 'st'));
  });

  it('reports a missing file as config_unreadable', async () => {
    await expect(loadConfig(join(dir, 'none.yaml'))).rejects.toMatchObject({ code: 'config_unreadable' });
  });
});

describe('parseConfig validation', () => {
  it('names an unknown key with its path', () => {
    const e = configError('source: {type: files, paths: [a.jsonl], textFeild: body}\nsink: {dir: out, rows: 3}');
    expect(e.code).toBe('config_invalid');
    expect(issuesOf(e)).toEqual([
      { path: 'source.textFeild', message: 'unknown key' },
      { path: 'sink.rows', message: 'unknown key' },
    ]);
    expect(e.message).toContain('source.textFeild: unknown key');
  });

  it('reports every problem at once, each with its path, step settings included', async () => {
    const text = [
      'source:',
      '  type: kafka',
      '  brokers: ["", "b:9092"]',
      '  topics: []',
      '  groupId: g',
      'relevance: {threshold: 2}',
      'llm: {endpoints: [{url: not-a-url}]}',
      'queueCapacity: -1',
    ].join('\n');
    const file = join(dir, 'bad.yaml');
    await writeFile(file, text);
    const e = (await loadConfig(file, { env: {}, checkSteps }).catch((x: unknown) => x)) as GemflowError;
    const paths = issuesOf(e).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['source.brokers[0]', 'source.topics', 'relevance.threshold', 'llm.endpoints[0].url', 'queueCapacity']));
    expect(paths).toHaveLength(5);
    expect(e.message.split('\n')[0]).toBe(`invalid configuration in ${file} (5 problems):`);
    expect(e.message.split('\n')).toHaveLength(6);
  });

  it('reports a missing source and a bad source type', () => {
    expect(issuesOf(configError('queueCapacity: 5'))).toEqual([{ path: 'source', message: 'required, missing (expected object)' }]);
    expect(issuesOf(configError('# nothing but a comment\n'))).toEqual([{ path: '', message: 'the configuration is empty (a source is required)' }]);
    expect(issuesOf(configError('source: {type: s3}')).map((i) => i.path)).toEqual(['source.type']);
  });

  it('reports YAML syntax errors as config_invalid', () => {
    const e = configError('source: {type: files\n  paths: [');
    expect(e.code).toBe('config_invalid');
    expect(issuesOf(e)[0]!.message).toMatch(/^YAML syntax error/);
  });
});

describe('parseConfig interpolation', () => {
  const text = [
    'source:',
    '  type: kafka',
    '  brokers: ["${BROKER}", "${BROKER2:-b2:9092}"]',
    '  topics: [docs]',
    '  groupId: ${GROUP:-gemflow}',
    'sink:',
    '  maxRows: ${MAX_ROWS:-100}',
    '  dir: "${OUT_DIR:-out}"',
    '# a comment with ${IGNORED} is left alone',
    'llm: {endpoints: [{url: "http://h:8000/v1", apiKey: "$${literal}"}]}',
  ].join('\n');

  it('substitutes variables and defaults, typing unquoted numbers', () => {
    const cfg = parseConfig(text, { env: { BROKER: 'k1:9092', GROUP: 'g1', OUT_DIR: '/data/out' }, baseDir: dir });
    expect(cfg.source.type === 'kafka' && cfg.source.brokers).toEqual(['k1:9092', 'b2:9092']);
    expect(cfg.source.type === 'kafka' && cfg.source.groupId).toBe('g1');
    expect(cfg.sink.maxRows).toBe(100);
    expect(cfg.sink.dir).toBe('/data/out');
    expect(cfg.llm.endpoints[0]!.apiKey).toBe('${literal}');
  });

  it('treats an empty variable like an unset one, and an unquoted value with YAML syntax as text', () => {
    const cfg = parseConfig(text, { env: { BROKER: 'k1:9092', BROKER2: '', GROUP: 'a: b # c' }, baseDir: dir });
    expect(cfg.source.type === 'kafka' && cfg.source.brokers[1]).toBe('b2:9092');
    expect(cfg.source.type === 'kafka' && cfg.source.groupId).toBe('a: b # c');
  });

  it('names each unset variable without default and where it is used', () => {
    const e = configError(text, { GROUP: 'g' });
    expect(issuesOf(e)).toEqual([
      { path: 'source.brokers[0]', message: 'environment variable BROKER is not set and has no default (write ${BROKER:-default} to give one)' },
    ]);
    const both = configError('source: {type: files, paths: ["${IN}"]}\nsink:\n  maxRows: ${ROWS}\n  dir: ${A:-x${B}}');
    expect(issuesOf(both).map((i) => i.path)).toEqual(['source.paths[0]', 'sink.maxRows', 'sink.dir']);
    expect(issuesOf(both)[2]!.message).toMatch(/^malformed variable reference/);
  });
});

describe('stage defaults', () => {
  /** The planned config of step `id` for a pipeline with these extra lines. */
  async function stepConfig(yaml: string, id: string): Promise<Record<string, unknown>> {
    const cfg = parseConfig(`source: {type: files, paths: [a.jsonl]}\n${yaml}`, { env: {}, baseDir: dir });
    const step = (await planSteps(cfg)).find((p) => p.id === id);
    if (!step) throw new Error(`no step ${id}`);
    return step.config as Record<string, unknown>;
  }
  const cases = [
    { id: 'extract', enable: '', mode: '', defaults: { temperature: 0.7, maxTokens: 4096 } },
    { id: 'ground', enable: '', mode: '', defaults: { temperature: 0.7, maxTokens: 4096 } },
    { id: 'refine', enable: '', mode: '', defaults: { temperature: 0.7, maxTokens: 4096 } },
    { id: 'judge', enable: 'enabled: true, ', mode: '', defaults: { temperature: 0, maxTokens: 1024 } },
    { id: 'synthesize', enable: '', mode: 'llm: {mode: synthesize}\n', defaults: { temperature: 0.7, maxTokens: 8192 } },
  ];

  it('are each stage\'s own, whether its block is absent, empty or partly set (every stage)', async () => {
    for (const c of cases) {
      const absent = await stepConfig(`${c.mode}${c.enable ? `stages: {${c.id}: {${c.enable.replace(/, $/, '')}}}` : ''}`, c.id);
      expect(absent, c.id).toMatchObject(c.defaults);
      expect(await stepConfig(`${c.mode}stages: {${c.id}: {${c.enable.replace(/, $/, '')}}}`, c.id), `${c.id}: {}`).toEqual(absent);
      // Setting one field leaves every other field at the stage's default.
      expect(await stepConfig(`${c.mode}stages: {${c.id}: {${c.enable}temperature: 0.3}}`, c.id), `${c.id}.temperature`).toEqual({ ...absent, temperature: 0.3 });
      expect(await stepConfig(`${c.mode}stages: {${c.id}: {${c.enable}maxTokens: 77}}`, c.id), `${c.id}.maxTokens`).toEqual({ ...absent, maxTokens: 77 });
    }
  });
});

describe('the bundled simulator is used only when asked', () => {
  const kafka = 'source: {type: kafka, brokers: ["k:9092"], topics: [t], groupId: g}';
  const files = 'source: {type: files, paths: [a.jsonl]}';

  it('rejects a Kafka source or an s3:// sink without endpoints, naming llm.endpoints and llm.simulate', () => {
    for (const text of [kafka, `${files}\nsink: {dir: "s3://bucket/out"}`]) {
      const e = configError(text);
      expect(e.code).toBe('config_invalid');
      expect(issuesOf(e)).toEqual([{ path: 'llm.endpoints', message: expect.stringContaining('llm.simulate: true') }]);
      expect(e.message).toContain('llm.endpoints');
    }
  });

  it('accepts them with llm.simulate: true or with endpoints; a local files pipeline may still simulate implicitly', () => {
    expect(parseConfig(`${kafka}\nllm: {simulate: true}`, { env: {}, baseDir: dir }).llm.simulate).toBe(true);
    expect(parseConfig(`${kafka}\nllm: {endpoints: [{url: "http://v:8000"}]}`, { env: {}, baseDir: dir }).llm.endpoints).toHaveLength(1);
    expect(parseConfig(`${files}\nsink: {dir: "s3://b/o"}\nllm: {simulate: true}`, { env: {}, baseDir: dir }).sink.dir).toBe('s3://b/o');
    expect(parseConfig(files, { env: {}, baseDir: dir }).llm.simulate).toBeUndefined();
  });

  it('rejects contradictions: simulate with endpoints, or simulate: false without endpoints', () => {
    expect(issuesOf(configError(`${kafka}\nllm: {simulate: true, endpoints: [{url: "http://v:8000"}]}`))).toEqual([{ path: 'llm.simulate', message: expect.any(String) }]);
    expect(issuesOf(configError(`${files}\nllm: {simulate: false}`))).toEqual([{ path: 'llm.endpoints', message: expect.any(String) }]);
  });

  it('keeps examples/demo.yaml on the simulator, explicitly', async () => {
    const cfg = await loadConfig(join(import.meta.dirname, '../../examples/demo.yaml'), { env: {}, checkInputs: true });
    expect(cfg.llm.simulate).toBe(true);
    // GEM's flow with the judge, and the sources the README's `export --format synthesizer out/demo` needs.
    expect(stepSpecs(cfg).specs.map((s) => s.type)).toEqual(['relevance', 'dedupe-documents', 'extract', 'ground', 'refine', 'judge', 'validate', 'dedupe-trajectories', 'keep-sources', 'stats']);
  });
});

describe('loadConfig checkInputs (gemflow validate)', () => {
  it('reports a local input path or glob that matches no file, with its path, beside schema problems', async () => {
    await writeFile(join(dir, 'a.jsonl'), '{"text": "x"}\n');
    const file = join(dir, 'pipeline.yaml');
    await writeFile(file, ['source:', '  type: files', '  paths: [a.jsonl, missing.jsonl, "none/*.jsonl", "s3://bucket/in"]', 'sink: {maxRows: 0}'].join('\n'));
    const e = await loadConfig(file, { env: {}, checkInputs: true }).then(() => undefined, (x: GemflowError) => x);
    expect(e?.code).toBe('config_invalid');
    const issues = issuesOf(e!);
    expect(issues.map((i) => i.path).sort()).toEqual(['sink.maxRows', 'source.paths[1]', 'source.paths[2]']);
    expect(issues.find((i) => i.path === 'source.paths[1]')!.message).toContain(join(dir, 'missing.jsonl'));
    // Without checkInputs (gemflow run) the inputs are the source's business.
    await writeFile(file, ['source:', '  type: files', '  paths: [missing.jsonl]'].join('\n'));
    await expect(loadConfig(file, { env: {} })).resolves.toBeDefined();
    await expect(loadConfig(file, { env: {}, checkInputs: true })).rejects.toMatchObject({ code: 'config_invalid' });
  });
});
