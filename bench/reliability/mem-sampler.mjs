// Memory probe preloaded into a `gemflow run` by rss-curve.mjs (node --import <this> --expose-gc):
// every GEMFLOW_MEMLOG_MS (default 1000) ms it writes one line to stderr,
//   gemflow-mem {"rss":MB,"heapTotal":MB,"heapUsed":MB,"external":MB,"arrayBuffers":MB,"old":MB,"new":MB,"afterGc":MB?,...}
// of the main isolate (process.memoryUsage, v8.getHeapSpaceStatistics: committed sizes of old, new,
// large-object and code space, and oldUsed / newUsed: the bytes in them), V8's own malloc (`malloced`),
// the WebAssembly memories the main thread instantiated (`wasm`: their byte length), and the process's
// resident memory by kind from /proc/self/smaps (`smaps`: brk = glibc's main arena, file = mapped files,
// anon = every other anonymous mapping: V8 pages of all isolates, thread stacks, malloc's thread arenas,
// WebAssembly memories; anonN = how many such mappings). Every GEMFLOW_MEMLOG_GC_EVERY-th sample (default 10)
// it first runs a full GC (global.gc) and reports heapUsed right after it as afterGc: the live data, apart
// from what V8 keeps around unswept. The worker threads' isolates are not seen here (a preload runs on the
// main thread only); they are part of smaps.anon.
// A bench probe, not part of the engine.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

const everyMs = Number(process.env.GEMFLOW_MEMLOG_MS ?? 1000);
const gcEvery = Number(process.env.GEMFLOW_MEMLOG_GC_EVERY ?? 10);
const mb = (b) => +(b / 1048576).toFixed(1);

// WebAssembly memories of instances made on this thread (`new WebAssembly.Instance`, as src/ does).
const memories = [];
const Instance = WebAssembly.Instance;
WebAssembly.Instance = function (mod, imports) {
  const inst = new Instance(mod, imports);
  for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) memories.push(new WeakRef(v));
  return inst;
};
WebAssembly.Instance.prototype = Instance.prototype;
const wasmBytes = () => {
  let sum = 0;
  for (const r of memories) sum += r.deref()?.buffer.byteLength ?? 0;
  return sum;
};

const smaps = () => {
  let text;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return undefined;
  }
  const kb = { brk: 0, file: 0, anon: 0, anonN: 0 };
  let kind = 'anon';
  for (const l of text.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(l)) {
      kind = l.endsWith('[heap]') ? 'brk' : / \//.test(l) ? 'file' : 'anon';
    } else if (l.startsWith('Rss:')) {
      const v = Number(l.split(/\s+/)[1]);
      kb[kind] += v;
      if (kind === 'anon' && v > 0) kb.anonN++;
    }
  }
  return { brk: +(kb.brk / 1024).toFixed(1), file: +(kb.file / 1024).toFixed(1), anon: +(kb.anon / 1024).toFixed(1), anonN: kb.anonN };
};

let n = 0;
setInterval(() => {
  const line = {};
  if (typeof globalThis.gc === 'function' && gcEvery > 0 && n % gcEvery === 0) {
    globalThis.gc();
    line.afterGc = mb(process.memoryUsage().heapUsed);
  }
  n++;
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s]));
  const size = (k) => mb(spaces[k]?.space_size ?? 0);
  const used = (k) => mb(spaces[k]?.space_used_size ?? 0);
  Object.assign(line, {
    rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers),
    old: size('old_space'), new: size('new_space'), lo: size('large_object_space'), code: size('code_space'),
    oldUsed: used('old_space'), newUsed: used('new_space'), codeUsed: used('code_space'),
    malloced: mb(v8.getHeapStatistics().malloced_memory), wasm: mb(wasmBytes()), smaps: smaps(),
  });
  process.stderr.write(`gemflow-mem ${JSON.stringify(line)}\n`);
}, everyMs).unref();
