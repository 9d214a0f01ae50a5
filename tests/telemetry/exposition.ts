/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), written from the format's
 * specification, independent of prom-client: it throws on any line a Prometheus server would reject
 * (bad names, bad label syntax or escapes, unparsable values, samples outside their TYPE'd family,
 * a family declared twice or split, a series repeated).
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: Family | undefined;
  const fail = (n: number, why: string): never => {
    throw new Error(`line ${n + 1}: ${why}`);
  };
  const family = (name: string, n: number): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    } else if (f !== current) fail(n, `family ${name} is split`);
    current = f;
    return f;
  };
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new Error('the exposition must end with a newline');
  lines.forEach((line, n) => {
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!)) fail(n, `bad metric name ${name}`);
      const f = family(name!, n);
      if (kind === 'HELP') f.help = rest.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      else {
        if (!TYPES.has(rest)) fail(n, `bad type ${rest}`);
        if (f.samples.length > 0 || f.type !== 'untyped') fail(n, `TYPE of ${name} after its samples or twice`);
        f.type = rest;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$/.exec(line);
    if (!m) return fail(n, `not a sample: ${line}`);
    const [, name, rawLabels, rawValue] = m;
    const labels = rawLabels ? parseLabels(rawLabels.slice(1, -1), (why) => fail(n, why)) : {};
    const value = parseValue(rawValue!);
    if (Number.isNaN(value) && rawValue!.toLowerCase() !== 'nan') fail(n, `bad value ${rawValue}`);
    const f = current && ownerOf(current, name!) ? current : family(name!, n);
    if (!ownerOf(f, name!)) fail(n, `sample ${name} outside family ${f.name}`);
    if (f.type === 'histogram' && name!.endsWith('_bucket') && labels.le === undefined) fail(n, 'bucket without le');
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) fail(n, `series repeated: ${key}`);
    series.add(key);
    f.samples.push({ name: name!, labels, value });
  });
  return families;
}

function ownerOf(f: Family, sample: string): boolean {
  return (SUFFIXES[f.type] ?? ['']).some((s) => sample === f.name + s);
}

/** Values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any letter case, e.g. prom-client's `Nan`). */
function parseValue(v: string): number {
  const lower = v.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) ? Number(v) : NaN;
}

function parseLabels(s: string, fail: (why: string) => never): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) fail(`bad labels {${s}}`);
    const name = s.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) fail(`bad label name ${name}`);
    if (name in out) fail(`label ${name} repeated`);
    if (s[eq + 1] !== '"') fail(`label ${name} value not quoted`);
    let j = eq + 2;
    let value = '';
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const c = s[++j];
        if (c === 'n') value += '\n';
        else if (c === '\\' || c === '"') value += c;
        else fail(`bad escape \\${c} in label ${name}`);
      } else value += s[j];
    }
    if (j >= s.length) fail(`label ${name} value not closed`);
    out[name] = value;
    i = j + 1;
    if (i < s.length) {
      if (s[i] !== ',') fail(`expected a comma after label ${name}`);
      i++;
    }
  }
  return out;
}

/** The value of one series (undefined when absent). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
