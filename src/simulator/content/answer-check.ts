import { Ajv2020 } from 'ajv/dist/2020.js';

// validateSchema: false: the schemas come from gemflow's own z.toJSONSchema (each request's differs: the
// ground stage names its workflow's tools), and checking each against the meta-schema took ~40% of the
// check's CPU in the benchmark; a schema ajv cannot compile is still reported.
const ajv = new Ajv2020({ strict: false, allErrors: true, logger: false, validateFormats: false, validateSchema: false });
/** Compiled response_format schemas, by their JSON text (a pipeline sends a handful of distinct ones). */
const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
const MAX_COMPILED = 64;

/** Problems of `value` against the JSON schema (draft 2020-12, as z.toJSONSchema writes), each "path: message". */
export function answerSchemaProblems(schema: Record<string, unknown>, value: unknown): string[] {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema);
    } catch (e) {
      return [`the request's schema does not compile: ${(e as Error).message}`];
    }
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, validate);
  }
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}`);
}
