import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { GemflowError } from '../errors.js';
import { isS3Url } from '../s3/s3-url.js';
import { inputPathIssues, outputDirIssues, stepFileIssues } from './check-inputs.js';
import { mapStepFiles } from './step-files.js';
import { formatPath, interpolateEnv, type ConfigIssue } from './interpolate-env.js';
import { PipelineConfig } from './schema.js';
import { simulatorIssues } from './simulator-rule.js';

export interface ParseConfigOptions {
  /** Variables for `${VAR}` interpolation; default process.env. */
  env?: Record<string, string | undefined>;
  /** Relative paths in the config resolve against this directory; default the working directory. */
  baseDir?: string;
  /** Name of the file, for messages. */
  file?: string;
}

/**
 * Checks a pipeline's steps against their types (given by the composition root, which knows them): the
 * raw, interpolated config in, problems with paths out. Lets loadConfig report step problems together
 * with every other problem of the file.
 */
export type StepChecker = (raw: unknown, baseDir: string) => Promise<ConfigIssue[]>;

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  checkSteps?: StepChecker;
  /**
   * Also check that every local input path of a files source matches at least one file (see
   * inputPathIssues; s3:// paths are not checked), reported with the other problems. `gemflow validate`.
   */
  checkInputs?: boolean;
}

/** Reads, interpolates, validates and path-resolves a pipeline file (relative paths: against its directory). */
export async function loadConfig(path: string, opts: LoadConfigOptions = {}): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new GemflowError('config_unreadable', `cannot read config file ${path}: ${(e as Error).message}`, { cause: e, detail: { file: path } });
  }
  const baseDir = dirname(resolve(path));
  const parsed = parseConfigIssues(text, { env: opts.env ?? process.env, baseDir, file: path });
  const issues = [...parsed.issues];
  if (opts.checkSteps && parsed.raw !== undefined) issues.push(...(await opts.checkSteps(parsed.raw, baseDir)));
  if (opts.checkInputs) {
    // From the raw values, so a missing input is reported beside schema problems.
    const src = (parsed.raw as { source?: { type?: unknown; paths?: unknown } } | undefined)?.source;
    const paths: unknown[] = src?.type === 'files' && Array.isArray(src.paths) ? src.paths : [];
    // A path still holding `${VAR}` has its unset variable reported already; its files are not looked for.
    issues.push(...(await inputPathIssues(paths.map((p) => (typeof p === 'string' && p !== '' && !p.includes('${') ? resolveLocal(baseDir, p) : undefined)))));
  }
  if (opts.checkInputs && parsed.config) issues.push(...(await stepFileIssues(parsed.config)), ...(await outputDirIssues(parsed.config)));
  if (issues.length > 0 || !parsed.config) fail(issues, path);
  return parsed.config;
}

/**
 * Parses pipeline YAML: `${VAR}` / `${VAR:-default}` interpolation, validation against
 * PipelineConfig with every problem reported at once (GemflowError `config_invalid`, the list in
 * `detail.issues`), then resolution of relative paths (source.paths, sink.dir, stateDir,
 * llm.cache.path) against `baseDir` (s3:// URLs are left alone). stateDir defaults to
 * `<sink.dir>/.gemflow`, or `<baseDir>/.gemflow` when sink.dir is an s3:// URL.
 */
export function parseConfig(text: string, opts: ParseConfigOptions = {}): PipelineConfig {
  const parsed = parseConfigIssues(text, opts);
  if (parsed.issues.length > 0 || !parsed.config) fail(parsed.issues, opts.file);
  return parsed.config;
}

/**
 * parseConfig without throwing: the config when valid, every problem, and the interpolated raw value.
 * Besides the schema, the inference choice is checked (simulatorIssues: no endpoints with a Kafka
 * source or an s3:// sink needs an explicit `llm.simulate: true`).
 */
function parseConfigIssues(text: string, opts: ParseConfigOptions): { config?: PipelineConfig; issues: ConfigIssue[]; raw?: unknown } {
  const baseDir = resolve(opts.baseDir ?? process.cwd());
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) return { issues: doc.errors.map((e) => ({ path: '', message: `YAML syntax error: ${e.message}` })) };
  if (doc.contents === null) return { issues: [{ path: '', message: 'the configuration is empty (a source is required)' }] };
  const envIssues = interpolateEnv(doc, opts.env ?? process.env);
  const raw: unknown = doc.toJS();
  const result = PipelineConfig.safeParse(raw, { reportInput: true });
  const issues = [...envIssues];
  if (!result.success) {
    // A value still holding an unset ${VAR} is already reported; its type error would only add noise.
    const reported = new Set(envIssues.map((i) => i.path));
    issues.push(...result.error.issues.flatMap(toConfigIssues).filter((i) => !reported.has(i.path)));
  } else issues.push(...simulatorIssues(result.data));
  return { config: result.success && issues.length === 0 ? resolvePaths(result.data, baseDir) : undefined, issues, raw };
}

/** Resolves a local path against baseDir; s3:// URLs are kept as they are. */
const resolveLocal = (baseDir: string, p: string) => (isS3Url(p) ? p : resolve(baseDir, p));

function resolvePaths(cfg: PipelineConfig, baseDir: string): PipelineConfig {
  const sinkDir = resolveLocal(baseDir, cfg.sink.dir);
  // State is local (SQLite, checkpoint): beside the pipeline file when the output is in object storage.
  const defaultStateDir = isS3Url(sinkDir) ? resolve(baseDir, '.gemflow') : resolve(sinkDir, '.gemflow');
  return {
    ...cfg,
    source: cfg.source.type === 'files' ? { ...cfg.source, paths: cfg.source.paths.map((p) => resolveLocal(baseDir, p)) } : cfg.source,
    sink: { ...cfg.sink, dir: sinkDir },
    stateDir: cfg.stateDir === undefined ? defaultStateDir : resolve(baseDir, cfg.stateDir),
    llm: cfg.llm.cache.path === undefined ? cfg.llm : { ...cfg.llm, cache: { ...cfg.llm.cache, path: resolve(baseDir, cfg.llm.cache.path) } },
    // A step module, a relevance model file and a decontamination benchmark are named relative to the pipeline file, as every path in it.
    steps: cfg.steps?.map((st) => stepPaths(st.module === undefined ? st : { ...st, module: resolve(baseDir, st.module) }, st.type, baseDir)),
    relevance: cfg.relevance && stepPaths(cfg.relevance, 'relevance', baseDir),
    decontaminate: cfg.decontaminate && stepPaths(cfg.decontaminate, 'decontaminate', baseDir),
  };
}

/** A built-in step's file paths (step-files.ts) resolved against baseDir. */
function stepPaths<T extends Record<string, unknown>>(block: T, type: string | undefined, baseDir: string): T {
  return mapStepFiles(block, type, (p) => resolve(baseDir, p));
}

/** One zod issue as config issues; an unknown-keys issue becomes one issue per key, at the key's path. */
function toConfigIssues(issue: z.core.$ZodIssue): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: formatPath([...issue.path, k]), message: 'unknown key' }));
  }
  const path = formatPath(issue.path);
  if (issue.code === 'invalid_type' && issue.input === undefined) return [{ path, message: `required, missing (expected ${issue.expected})` }];
  return [{ path, message: issue.message }];
}

function fail(issues: ConfigIssue[], file: string | undefined): never {
  const lines = issues.map((i) => `  - ${i.path ? `${i.path}: ` : ''}${i.message.trimEnd().replace(/\n/g, '\n    ')}`);
  const head = `invalid configuration${file ? ` in ${file}` : ''} (${issues.length} problem${issues.length === 1 ? '' : 's'}):`;
  throw new GemflowError('config_invalid', [head, ...lines].join('\n'), { detail: { issues, ...(file ? { file } : {}) } });
}
