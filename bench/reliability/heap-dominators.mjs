// What holds a V8 heap snapshot's memory (e.g. the ones rss-curve.mjs writes with RSS_SNAPSHOTS):
//   node --max-old-space-size=6000 bench/reliability/heap-dominators.mjs <file.heapsnapshot> [group|tree|under <prefix>] [MB]
// Builds the dominator tree (Cooper, Harvey and Kennedy's iterative algorithm over the strong edges) and prints
//   group (default): the objects held by nothing smaller than a GC root (their immediate dominator is the
//     root), summed by type:name: count and retained MB. Comparing two snapshots shows what grew.
//   tree: the dominator tree down to objects retaining at least [MB] (default 0.3).
//   under <prefix>: for the root-dominated objects whose type:name starts with <prefix> (e.g.
//     "object:RequestHandler"), what they retain, by path (3 levels).
// A bench tool, not part of the engine.
import { readFileSync } from 'node:fs';

const [file, mode = 'group', arg, arg2] = process.argv.slice(2);
if (!file) throw new Error('usage: heap-dominators.mjs <file.heapsnapshot> [group|tree [MB]|under <prefix> [levels]]');
const s = JSON.parse(readFileSync(file, 'utf8'));
const m = s.snapshot.meta;
const nf = m.node_fields.length, ef = m.edge_fields.length, types = m.node_types[0], etypes = m.edge_types[0];
const ti = m.node_fields.indexOf('type'), ni = m.node_fields.indexOf('name'), si = m.node_fields.indexOf('self_size'), eci = m.node_fields.indexOf('edge_count');
const eti = m.edge_fields.indexOf('type'), eni = m.edge_fields.indexOf('name_or_index'), eto = m.edge_fields.indexOf('to_node');
const N = s.nodes.length / nf;
const firstEdge = new Int32Array(N + 1);
for (let i = 0, e = 0; i < N; i++) {
  firstEdge[i] = e;
  e += s.nodes[i * nf + eci] * ef;
}
firstEdge[N] = s.edges.length;
const strong = (e) => etypes[s.edges[e + eti]] !== 'weak' && etypes[s.edges[e + eti]] !== 'shortcut';
const target = (e) => s.edges[e + eto] / nf;

// Depth-first post-order from the root (node 0).
const post = new Int32Array(N).fill(-1);
const order = new Int32Array(N);
let cnt = 0;
const stack = new Int32Array(N);
const next = new Int32Array(N);
const seen = new Uint8Array(N);
let sp = 0;
stack[sp++] = 0;
seen[0] = 1;
next[0] = firstEdge[0];
while (sp) {
  const v = stack[sp - 1];
  if (next[v] < firstEdge[v + 1]) {
    const e = next[v];
    next[v] += ef;
    if (!strong(e)) continue;
    const w = target(e);
    if (!seen[w]) {
      seen[w] = 1;
      next[w] = firstEdge[w];
      stack[sp++] = w;
    }
  } else {
    sp--;
    post[v] = cnt;
    order[cnt++] = v;
  }
}
// Predecessors (strong edges of reachable nodes).
const predStart = new Int32Array(N + 1);
for (let v = 0; v < N; v++) if (seen[v]) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += ef) if (strong(e)) predStart[target(e) + 1]++;
for (let i = 0; i < N; i++) predStart[i + 1] += predStart[i];
const preds = new Int32Array(predStart[N]);
const fill = predStart.slice(0, N);
for (let v = 0; v < N; v++) if (seen[v]) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += ef) if (strong(e)) preds[fill[target(e)]++] = v;
// Immediate dominators.
const idom = new Int32Array(N).fill(-1);
idom[0] = 0;
const intersect = (a, b) => {
  while (a !== b) {
    while (post[a] < post[b]) a = idom[a];
    while (post[b] < post[a]) b = idom[b];
  }
  return a;
};
for (let changed = true; changed; ) {
  changed = false;
  for (let k = cnt - 2; k >= 0; k--) {
    const b = order[k];
    let d = -1;
    for (let p = predStart[b]; p < predStart[b + 1]; p++) if (idom[preds[p]] !== -1) d = d === -1 ? preds[p] : intersect(preds[p], d);
    if (d !== -1 && idom[b] !== d) {
      idom[b] = d;
      changed = true;
    }
  }
}
const retained = new Float64Array(N);
for (let k = 0; k < cnt; k++) {
  const v = order[k];
  retained[v] += s.nodes[v * nf + si];
  if (v !== 0) retained[idom[v]] += retained[v];
}
const MB = 1048576;
const name = (i) => `${types[s.nodes[i * nf + ti]]}:${String(s.strings[s.nodes[i * nf + ni]]).slice(0, 40).replace(/\n/g, ' ')}`;
const edgeName = (p, c) => {
  for (let e = firstEdge[p]; e < firstEdge[p + 1]; e += ef) {
    if (target(e) !== c) continue;
    const t = etypes[s.edges[e + eti]];
    return t === 'element' || t === 'hidden' ? '[i]' : String(s.strings[s.edges[e + eni]]);
  }
  return '?';
};
const children = new Map();
for (let k = 0; k < cnt; k++) {
  const v = order[k];
  if (v !== 0) (children.get(idom[v]) ?? children.set(idom[v], []).get(idom[v])).push(v);
}
// Held directly by the root or a synthetic root group.
const topLevel = (v) => v !== 0 && (idom[v] === 0 || types[s.nodes[idom[v] * nf + ti]] === 'synthetic');
const print = (rows) => {
  for (const [k, [r, n]] of [...rows].sort((a, b) => b[1][0] - a[1][0]).slice(0, 40)) console.log(`${(r / MB).toFixed(2).padStart(7)} MB ${String(n).padStart(7)}  ${k.slice(0, 220)}`);
};

console.log(`${file}: ${(retained[0] / MB).toFixed(1)} MB reachable`);
if (mode === 'group') {
  const g = new Map();
  for (let k = 0; k < cnt; k++) {
    const v = order[k];
    if (!topLevel(v)) continue;
    const a = g.get(name(v)) ?? g.set(name(v), [0, 0]).get(name(v));
    a[0] += retained[v];
    a[1]++;
  }
  print(g);
} else if (mode === 'tree') {
  const min = Number(arg ?? 0.3) * MB;
  const show = (v, depth) => {
    for (const c of (children.get(v) ?? []).filter((c) => retained[c] >= min).sort((a, b) => retained[b] - retained[a])) {
      console.log(`${'  '.repeat(depth)}${(retained[c] / MB).toFixed(2)} ${edgeName(v, c)} -> ${name(c)}`);
      if (depth < 12) show(c, depth + 1);
    }
  };
  show(0, 0);
} else if (mode === 'under') {
  const levels = Number(arg2 ?? 3);
  const g = new Map();
  const add = (key, bytes) => {
    const a = g.get(key) ?? g.set(key, [0, 0]).get(key);
    a[0] += bytes;
    a[1]++;
  };
  const walk = (u, path, depth) => {
    for (const c of children.get(u) ?? []) {
      const key = `${path} / ${edgeName(u, c)}:${name(c).slice(0, 28)}`;
      if (depth >= levels) add(key, retained[c]);
      else {
        add(`${key} (self)`, s.nodes[c * nf + si]);
        walk(c, key, depth + 1);
      }
    }
  };
  for (let k = 0; k < cnt; k++) if (topLevel(order[k]) && name(order[k]).startsWith(arg ?? '')) walk(order[k], '', 1);
  print(g);
} else throw new Error(`unknown mode ${mode}`);
