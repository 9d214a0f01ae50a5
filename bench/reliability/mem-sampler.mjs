// Memory probe preloaded into a `gemflow run` by rss-curve.mjs (node --import <this> --expose-gc):
// every GEMFLOW_MEMLOG_MS (default 1000) ms it writes one line to stderr,
//   gemflow-mem {"rss":MB,"heapTotal":MB,"heapUsed":MB,"external":MB,"arrayBuffers":MB,"old":MB,"new":MB,"afterGc":MB?}
// of the main isolate (process.memoryUsage, v8.getHeapSpaceStatistics: committed sizes of old and new
// space). Every GEMFLOW_MEMLOG_GC_EVERY-th sample (default 10) it first runs a full GC (global.gc) and
// reports heapUsed right after it as afterGc: the live data, apart from what V8 keeps around unswept.
// A bench probe, not part of the engine.
import v8 from 'node:v8';

const everyMs = Number(process.env.GEMFLOW_MEMLOG_MS ?? 1000);
const gcEvery = Number(process.env.GEMFLOW_MEMLOG_GC_EVERY ?? 10);
const mb = (b) => +(b / 1048576).toFixed(1);
let n = 0;
setInterval(() => {
  const line = {};
  if (typeof globalThis.gc === 'function' && gcEvery > 0 && n % gcEvery === 0) {
    globalThis.gc();
    line.afterGc = mb(process.memoryUsage().heapUsed);
  }
  n++;
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
  Object.assign(line, {
    rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers),
    old: mb(spaces.old_space ?? 0), new: mb(spaces.new_space ?? 0), lo: mb(spaces.large_object_space ?? 0), code: mb(spaces.code_space ?? 0),
  });
  process.stderr.write(`gemflow-mem ${JSON.stringify(line)}\n`);
}, everyMs).unref();
