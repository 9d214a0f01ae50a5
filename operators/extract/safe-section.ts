import { section } from '../../src/llm/prompt-sections.js';
import { ObjectMemo } from '../../src/object-memo.js';

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
 * JSON section bodies of values several prompts send: ground and refine both send the trajectory's
 * workflow and rules, which every trajectory of a document shares. Stage inputs are not changed in
 * place once made (a step that changes one makes a new object), so the text stays the value's.
 */
const sharedBodies = new ObjectMemo<object, string>('gemflow.sectionBody');

/**
 * A JSON section (rules, workflow, trajectory), compact. `<` only occurs inside JSON strings, where
 * `\u003c` is an equivalent escape, so JSON.parse of the body gives back exactly `value`. `shared`:
 * the value object is sent by other prompts too, so its text is kept (by object) and made once.
 */
export function jsonSection(name: string, value: unknown, opts: { shared?: boolean } = {}): string {
  const key = opts.shared && typeof value === 'object' && value !== null ? value : undefined;
  let body = key && sharedBodies.get(key);
  if (body === undefined) {
    const json = JSON.stringify(value);
    body = json.includes('<') ? json.replace(/</g, '\\u003c') : json;
    if (key) sharedBodies.set(key, body);
  }
  return section(name, body);
}
