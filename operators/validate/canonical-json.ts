/**
 * JSON with object keys sorted (recursively), so two values that differ only in key order serialise
 * identically. Used as a cache key for compiled JSON Schemas and as the input of content hashes, on
 * every trajectory, hence the hand-rolled string building. Follows JSON.stringify otherwise:
 * `undefined` and function members are skipped (null inside arrays), non-finite numbers become null.
 * Keys sort by UTF-16 code units (Array.prototype.sort's default order).
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

/** `"key":` for keys seen before (schemas and arguments repeat a few keys endlessly); bounded. */
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 4096;

function quotedKey(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    q = JSON.stringify(key) + ':';
    if (quotedKeys.size >= MAX_QUOTED_KEYS) quotedKeys.clear();
    quotedKeys.set(key, q);
  }
  return q;
}

function objectJson(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  sortKeys(keys);
  let s = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const v = obj[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    if (s.length > 1) s += ',';
    s += quotedKey(key) + canonicalJson(v);
  }
  return s + '}';
}

/** Sorts in place by code units; insertion sort for the few keys objects usually have (often in order already). */
export function sortKeys(keys: string[]): void {
  if (keys.length > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    if (!(keys[j]! > k)) continue;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
}
