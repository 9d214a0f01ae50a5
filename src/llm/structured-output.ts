/**
 * Structured-output dialects: how a chat completion request asks an OpenAI-compatible server to
 * constrain its answer to a JSON Schema. Servers disagree:
 *
 * | dialect              | request fields                                                  | spoken by |
 * |----------------------|-----------------------------------------------------------------|-----------|
 * | `json_schema`        | `response_format: {type: "json_schema", json_schema: {name, schema, strict}}` | vLLM, SGLang, llama.cpp server, OpenAI |
 * | `json_object_schema` | `response_format: {type: "json_object", schema}`                | llama-cpp-python (rejects json_schema with HTTP 500) |
 * | `structured_outputs` | `structured_outputs: {json: schema}`                            | vLLM >= 0.10.2 |
 * | `guided_json`        | `guided_json: schema`                                           | older vLLM |
 * | `grammar`            | `response_format: {type: "json", value: schema}`                | Hugging Face TGI |
 * | `none`               | nothing: the schema is in the prompt (same checks and repair)   | any server |
 *
 * `auto` (the default) resolves once per endpoint at start (see resolveDialect in client.ts): the
 * server's identity from /v1/models `owned_by`, else a tiny test request per dialect in PROBE_ORDER,
 * keeping the first the server accepts.
 *
 * Dialects that carry no schema name get the name as the schema's `title` (unless it has one), so the
 * bundled simulator (and a human reading server logs) can tell which stage a request is for.
 */
export const STRUCTURED_OUTPUT_DIALECTS = ['json_schema', 'json_object_schema', 'structured_outputs', 'guided_json', 'grammar', 'none'] as const;
export type StructuredOutputDialect = (typeof STRUCTURED_OUTPUT_DIALECTS)[number];
export type StructuredOutputSetting = StructuredOutputDialect | 'auto';

/** The order `auto` tries dialects in by test request (structured_outputs / guided_json: only when configured). */
export const PROBE_ORDER: readonly StructuredOutputDialect[] = ['json_schema', 'json_object_schema', 'grammar'];

/** `owned_by` values of /v1/models whose server is known to speak json_schema. */
const KNOWN_JSON_SCHEMA_SERVERS = new Set(['vllm', 'sglang', 'llamacpp', 'gemflow-simulator', 'openai', 'system']);

/** The dialect a server's identity implies, or undefined when a test request must tell. */
export function dialectOfIdentity(ownedBy: string | undefined): StructuredOutputDialect | undefined {
  return ownedBy !== undefined && KNOWN_JSON_SCHEMA_SERVERS.has(ownedBy.toLowerCase()) ? 'json_schema' : undefined;
}

export interface OutputFormat {
  name: string;
  schema: Record<string, unknown>;
}

/** The instruction that carries the schema when the server constrains nothing (dialect `none`). */
export function schemaInstruction(f: OutputFormat): string {
  return (
    'Reply with exactly one JSON object and nothing else (no code fences, no prose before or after it). ' +
    `It must follow this JSON Schema:\n${JSON.stringify(titled(f))}`
  );
}

/** The schema with the format's name as its title (kept when it has one). */
export function titled(f: OutputFormat): Record<string, unknown> {
  return typeof f.schema.title === 'string' ? f.schema : { title: f.name, ...f.schema };
}

/**
 * The request body fields (beyond model, messages, sampling) that ask for `f` in `dialect`, and the
 * messages to send (the `none` dialect adds the schema to the system message, or a system message).
 */
export function structuredRequest(
  dialect: StructuredOutputDialect,
  f: OutputFormat | undefined,
  messages: ReadonlyArray<{ role: string; content: string }>,
): { fields: Record<string, unknown>; messages: Array<{ role: string; content: string }> } {
  const msgs = messages.map((m) => ({ ...m }));
  if (!f) return { fields: {}, messages: msgs };
  switch (dialect) {
    case 'json_schema':
      return { fields: { response_format: { type: 'json_schema', json_schema: { name: f.name, schema: f.schema, strict: true } } }, messages: msgs };
    case 'json_object_schema':
      return { fields: { response_format: { type: 'json_object', schema: titled(f) } }, messages: msgs };
    case 'structured_outputs':
      return { fields: { structured_outputs: { json: titled(f) } }, messages: msgs };
    case 'guided_json':
      return { fields: { guided_json: titled(f) } , messages: msgs };
    case 'grammar':
      return { fields: { response_format: { type: 'json', value: titled(f) } }, messages: msgs };
    case 'none': {
      const instruction = schemaInstruction(f);
      const sys = msgs.find((m) => m.role === 'system');
      if (sys) sys.content = `${sys.content}\n\n${instruction}`;
      else msgs.unshift({ role: 'system', content: instruction });
      return { fields: {}, messages: msgs };
    }
  }
}

/**
 * Reads back which dialect and schema a request body used (the simulator's side of the table above).
 * `dialect` is undefined for a request without structured output; `schema` for `none` is recovered
 * from the instruction in the system message when present.
 */
export function readStructuredRequest(body: Record<string, unknown>): { dialect: StructuredOutputDialect | 'json_object' | 'text' | undefined; name?: string; schema?: Record<string, unknown>; problem?: string } {
  const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const nameOf = (s: Record<string, unknown> | undefined) => (typeof s?.title === 'string' ? s.title : undefined);
  if (body.structured_outputs !== undefined) {
    const json = obj(obj(body.structured_outputs)?.json);
    if (!json) return { dialect: 'structured_outputs', problem: 'structured_outputs.json must be a JSON Schema object' };
    return { dialect: 'structured_outputs', name: nameOf(json), schema: json };
  }
  if (body.guided_json !== undefined) {
    const json = obj(body.guided_json);
    if (!json) return { dialect: 'guided_json', problem: 'guided_json must be a JSON Schema object' };
    return { dialect: 'guided_json', name: nameOf(json), schema: json };
  }
  const rf = body.response_format;
  if (rf === undefined || rf === null) return { dialect: undefined };
  const r = obj(rf);
  if (!r) return { dialect: undefined, problem: 'response_format must be an object' };
  if (r.type === 'json_schema') {
    const js = obj(r.json_schema);
    if (typeof js?.name !== 'string' || !obj(js.schema)) return { dialect: 'json_schema', problem: 'response_format.json_schema needs a name and a schema' };
    return { dialect: 'json_schema', name: js.name, schema: obj(js.schema) };
  }
  if (r.type === 'json_object') {
    const s = obj(r.schema);
    return s ? { dialect: 'json_object_schema', name: nameOf(s), schema: s } : { dialect: 'json_object' };
  }
  if (r.type === 'json') {
    const s = obj(r.value);
    if (!s) return { dialect: 'grammar', problem: 'response_format.value must be a JSON Schema object' };
    return { dialect: 'grammar', name: nameOf(s), schema: s };
  }
  if (r.type === 'text') return { dialect: 'text' };
  return { dialect: undefined, problem: `unknown response_format.type ${JSON.stringify(r.type)}` };
}

/** The schema (and its name) in a `none`-dialect request's instruction (the simulator's way to tell the stage). */
export function schemaInInstruction(messages: ReadonlyArray<{ role: string; content: string }>): { name: string | undefined; schema: Record<string, unknown> } | undefined {
  const marker = 'It must follow this JSON Schema:\n';
  for (const m of messages) {
    if (m.role !== 'system') continue;
    const at = m.content.indexOf(marker);
    if (at < 0) continue;
    const rest = m.content.slice(at + marker.length);
    // The schema is one line of JSON (JSON.stringify), possibly followed by more prompt text.
    const line = rest.split('\n')[0]!;
    try {
      const schema = JSON.parse(line) as Record<string, unknown>;
      return { name: typeof schema.title === 'string' ? schema.title : undefined, schema };
    } catch {
      return undefined;
    }
  }
  return undefined;
}
