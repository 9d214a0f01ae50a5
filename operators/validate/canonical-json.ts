/**
 * JSON with object keys sorted (recursively), so two values that differ only in key order serialise
 * identically. Used as a cache key for compiled JSON Schemas and as the input of content hashes, on
 * every trajectory, hence the hand-rolled string building. Follows JSON.stringify otherwise:
 * `undefined` and function members are skipped (null inside arrays), non-finite numbers become null.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? arrayJson(value) : objectJson(value as Record<string, unknown>);
    default:
      // undefined, functions, symbols: no JSON form; "null" keeps the output valid JSON.
      return 'null';
  }
}

function arrayJson(arr: unknown[]): string {
  let s = '[';
  for (let i = 0; i < arr.length; i++) {
    if (i > 0) s += ',';
    s += canonicalJson(arr[i]);
  }
  return s + ']';
}

function objectJson(obj: Record<string, unknown>): string {
  let s = '{';
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    if (s.length > 1) s += ',';
    s += JSON.stringify(key) + ':' + canonicalJson(v);
  }
  return s + '}';
}
