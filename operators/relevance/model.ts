/**
 * The trained relevance classifier: logistic regression over hashed features (hashed-features.ts),
 * stored as one JSON file (`gemflow relevance train` writes it). Loading checks everything a scorer
 * relies on, so a corrupt file or one made for other features is refused with a clear error instead of
 * scoring nonsense.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GemflowError } from '../../src/errors.js';
import { FEATURE_VERSION, MAX_FEATURES, featureIndices } from './hashed-features.js';

export const MODEL_FORMAT = 'gemflow-relevance-model';

/** What a model file holds (JSON). */
export interface RelevanceModelFile {
  format: typeof MODEL_FORMAT;
  featureVersion: number;
  /** log2 of the number of hash buckets. */
  bits: number;
  bias: number;
  /** The decision threshold the model was calibrated for (the step's default threshold). */
  threshold: number;
  /** Float32 little-endian, 2^bits of them, base64. */
  weights: string;
  /** sha256 (hex) of the decoded weight bytes. */
  weightsSha256: string;
  /** How it was trained (free-form: data, options, cross-validated figures). */
  training?: Record<string, unknown>;
}

export interface RelevanceModel {
  bits: number;
  mask: number;
  bias: number;
  threshold: number;
  weights: Float32Array;
  /** Where it came from, for messages. */
  source: string;
  training?: Record<string, unknown>;
}

function refused(source: string, message: string, cause?: unknown): GemflowError {
  return new GemflowError('relevance_model_invalid', `relevance model ${source}: ${message}`, { cause, detail: { source } });
}

/** Checks and decodes a parsed model file. Throws `relevance_model_invalid` with the reason. */
export function parseModel(json: unknown, source: string): RelevanceModel {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw refused(source, 'not a JSON object');
  const m = json as Partial<RelevanceModelFile>;
  if (m.format !== MODEL_FORMAT) throw refused(source, `not a gemflow relevance model (format is ${JSON.stringify(m.format)}, expected "${MODEL_FORMAT}")`);
  if (m.featureVersion !== FEATURE_VERSION) {
    throw refused(source, `made for feature version ${JSON.stringify(m.featureVersion)}; this gemflow computes feature version ${FEATURE_VERSION}. Retrain it with \`gemflow relevance train\``);
  }
  if (!Number.isInteger(m.bits) || m.bits! < 8 || m.bits! > 24) throw refused(source, `bits must be an integer in 8..24, got ${JSON.stringify(m.bits)}`);
  if (typeof m.bias !== 'number' || !Number.isFinite(m.bias)) throw refused(source, 'bias must be a finite number');
  if (typeof m.threshold !== 'number' || !(m.threshold > 0 && m.threshold < 1)) throw refused(source, 'threshold must be a number in (0, 1)');
  if (typeof m.weights !== 'string' || typeof m.weightsSha256 !== 'string') throw refused(source, 'weights and weightsSha256 must be strings');
  const bytes = Buffer.from(m.weights, 'base64');
  const expected = 4 << m.bits!;
  if (bytes.length !== expected) throw refused(source, `weights hold ${bytes.length} bytes; 2^${m.bits} float32 weights are ${expected} bytes (truncated or corrupt)`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== m.weightsSha256) throw refused(source, `weights do not match their checksum (sha256 ${sha.slice(0, 12)}..., file says ${m.weightsSha256.slice(0, 12)}...): the file is corrupt`);
  const weights = new Float32Array(expected / 4);
  for (let i = 0; i < weights.length; i++) weights[i] = bytes.readFloatLE(i * 4);
  for (let i = 0; i < weights.length; i++) if (!Number.isFinite(weights[i])) throw refused(source, `weight ${i} is not finite`);
  return { bits: m.bits!, mask: (1 << m.bits!) - 1, bias: m.bias, threshold: m.threshold, weights, source, training: m.training };
}

/** Reads and checks a model file. */
export function loadModel(path: string): RelevanceModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw refused(path, `cannot be read: ${(e as Error).message}`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw refused(path, `is not valid JSON (${(e as Error).message}): the file is corrupt or truncated`, e);
  }
  return parseModel(json, path);
}

export function serializeModel(m: { bits: number; bias: number; threshold: number; weights: Float32Array; training?: Record<string, unknown> }): RelevanceModelFile {
  const bytes = Buffer.alloc(m.weights.length * 4);
  for (let i = 0; i < m.weights.length; i++) bytes.writeFloatLE(m.weights[i]!, i * 4);
  return {
    format: MODEL_FORMAT,
    featureVersion: FEATURE_VERSION,
    bits: m.bits,
    bias: m.bias,
    threshold: m.threshold,
    weightsSha256: createHash('sha256').update(bytes).digest('hex'),
    training: m.training,
    weights: bytes.toString('base64'),
  };
}

/** The model shipped with gemflow (trained on the committed evaluation set's train split). */
export function defaultModelPath(): string {
  // Sources: operators/relevance/models/; compiled: dist/operators/relevance/ -> the source tree's file.
  for (const rel of ['./models/default.json', '../../../operators/relevance/models/default.json']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new GemflowError('relevance_model_invalid', 'the default relevance model (operators/relevance/models/default.json) is missing from this installation');
}

let buffer: Int32Array | undefined;

/** The model's raw score z (logit) and the number of features. */
export function modelLogit(model: RelevanceModel, text: string): number {
  const buf = (buffer ??= new Int32Array(MAX_FEATURES));
  const n = featureIndices(text, model.mask, buf);
  const w = model.weights;
  let s = 0;
  for (let j = 0; j < n; j++) s += w[buf[j]!]!;
  return model.bias + (n === 0 ? 0 : s / Math.sqrt(n));
}

/** 0..1: the probability the model gives the text of holding multi-step work. */
export function modelScore(model: RelevanceModel, text: string): number {
  return 1 / (1 + Math.exp(-modelLogit(model, text)));
}
