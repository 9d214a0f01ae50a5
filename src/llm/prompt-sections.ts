/**
 * Prompts carry their inputs in tagged sections:
 *
 *   <document>
 *   ...text...
 *   </document>
 *   <workflow>
 *   {"name": ...}
 *   </workflow>
 *
 * Section names in use: document, domain, rules, workflow, trajectory. The bundled simulator reads the
 * same sections to derive its (simulated) answers from the input, so keep both in step.
 */
export function section(name: string, body: string): string {
  return `<${name}>\n${body}\n</${name}>`;
}

export function readSection(text: string, name: string): string | undefined {
  const open = `<${name}>\n`;
  const close = `\n</${name}>`;
  const start = text.lastIndexOf(open);
  if (start < 0) return undefined;
  const end = text.indexOf(close, start + open.length);
  if (end < 0) return undefined;
  return text.slice(start + open.length, end);
}

/** The json_schema name for a stage id; the simulator maps it back with stageOfSchemaName. */
export function schemaName(stageId: string): string {
  return `gemflow_${stageId}`;
}

export function stageOfSchemaName(name: string | undefined): string | undefined {
  return name?.startsWith('gemflow_') ? name.slice('gemflow_'.length) : undefined;
}
