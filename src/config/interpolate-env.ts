import { isMap, isPair, isScalar, isSeq, parse, Scalar, type Document, type Node } from 'yaml';

/** A problem found in the configuration: where (`source.brokers[0]`, empty for the whole file) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}/g;
const NAME_AND_DEFAULT = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in the string values of a parsed YAML document, in place
 * (`$${` is a literal `${`). As in a shell, the default applies when the variable is unset or empty.
 * Substitution happens after YAML parsing, so a value with YAML syntax in it (`: `, `#`, quotes)
 * stays a plain string; an unquoted value that becomes a number or boolean (`maxRows: ${ROWS:-100}`)
 * takes that type, as it would have written literally, while a quoted one stays a string. Keys
 * and comments are left alone. In a flow collection (`[...]`, `{...}`) a reference must be quoted,
 * since YAML reads `{` there as syntax. Returns every problem found (unset variables, malformed references).
 */
export function interpolateEnv(doc: Document, env: Record<string, string | undefined>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const visit = (node: unknown, path: PropertyKey[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        visit(pair.value, [...path, String(key)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      substitute(node, path);
    }
  };
  const substitute = (node: Scalar, path: PropertyKey[]) => {
    const where = formatPath(path);
    const replaced = (node.value as string).replace(REFERENCE, (ref: string, inner: string | undefined) => {
      if (inner === undefined) return '${'; // "$${" escape
      const m = NAME_AND_DEFAULT.exec(inner);
      if (!m || m[2]?.includes('${')) {
        issues.push({ path: where, message: `malformed variable reference ${ref} (expected \${NAME} or \${NAME:-default}; defaults cannot nest)` });
        return ref;
      }
      const [, name, fallback] = m as unknown as [string, string, string | undefined];
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      issues.push({ path: where, message: `environment variable ${name} is not set and has no default (write \${${name}:-default} to give one)` });
      return ref;
    });
    node.value = node.type === Scalar.PLAIN ? retype(replaced) : replaced;
  };
  visit(doc.contents as Node | null, []);
  return issues;
}

/** An unquoted value takes the type YAML would give it: numbers and booleans; anything else stays text. */
function retype(text: string): unknown {
  try {
    const v: unknown = parse(text);
    return typeof v === 'number' || typeof v === 'boolean' ? v : text;
  } catch {
    return text;
  }
}

/** `source.brokers[0]`; keys that are not identifiers are quoted: `meta["my key"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}
