import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkSteps, stepSpecs } from '../../src/compose.js';
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
