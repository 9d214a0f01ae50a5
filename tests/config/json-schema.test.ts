import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../src/config/json-schema.js';

describe('configJsonSchema', () => {
  it('describes the input file: every top-level key, only source required, unknown keys refused', () => {
    const schema = configJsonSchema() as { properties: Record<string, unknown>; required?: string[]; additionalProperties?: unknown };
    expect(Object.keys(schema.properties).sort()).toEqual(
      ['decontaminate', 'dedupe', 'llm', 'logIntervalMs', 'queueCapacity', 'relevance', 's3', 'server', 'sink', 'source', 'stages', 'state', 'stateDir', 'steps'].sort(),
    );
    expect(schema.required).toEqual(['source']);
    expect(schema.additionalProperties).toBe(false);
    expect(JSON.stringify(schema.properties.source)).toContain('"maxRecordBytes"');
  });
});
