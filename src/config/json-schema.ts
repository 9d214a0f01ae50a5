import { z } from 'zod';
import { PipelineConfig } from './schema.js';

/**
 * JSON Schema (draft 2020-12) of the pipeline file as a user writes it: `io: 'input'` describes the
 * input side, so keys with defaults are optional, as they are in the YAML.
 */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PipelineConfig, { io: 'input' }) as Record<string, unknown>;
}
