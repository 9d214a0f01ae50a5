import { section } from '../../src/llm/prompt-sections.js';

/**
 * Tagged prompt sections whose body cannot end the section early. readSection looks for the last
 * `<name>\n` and the next `\n</name>`, so a document that itself contains a section tag would cut or
 * shift what the model (and the simulator) reads. Used by every LLM stage in operators/.
 */
const SECTION_TAG = /<(\/?)(document|domain|rules|workflow|trajectory)>/g;

/** A free-text section (document, domain). Section tags inside the text are defused as `&lt;name>`. */
export function textSection(name: string, text: string): string {
  return section(name, text.includes('<') ? text.replace(SECTION_TAG, '&lt;$1$2>') : text);
}

/**
 * A JSON section (rules, workflow, trajectory), compact. `<` only occurs inside JSON strings, where
 * `\u003c` is an equivalent escape, so JSON.parse of the body gives back exactly `value`.
 */
export function jsonSection(name: string, value: unknown): string {
  const json = JSON.stringify(value);
  return section(name, json.includes('<') ? json.replace(/</g, '\\u003c') : json);
}
