// Sink CPU and file size, Parquet vs Arrow shards: the same 10,000 rows (~2 KB of repetitive messages each)
// through ParquetShardSink in each format, twice. Run after `npm run build`: node bench/row-format/sink-formats.mjs
import { ParquetShardSink } from '../../dist/src/sinks/parquet-sink.js';
import { SinkConfig } from '../../dist/src/config/schema.js';
import { mkdtempSync, rmSync } from 'node:fs';
const msgs = JSON.stringify(Array.from({ length: 30 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'word '.repeat(60) + i })));
const row = (o, i) => ({ trajectoryId: `t${o}-${i}`, documentId: `d${o}`, origin: `file:x:${o}`, originPartition: '/x.jsonl', originOffset: o, domain: 'd', workflowName: 'w', relevanceScore: 0.5, tools: '[]', messages: msgs, patterns: '[]', policy: 'null', userProfile: 'null', judge: 'null',
  stats: { messages: 30, userTurns: 7, assistantTurns: 14, toolTurns: 7, toolCalls: 7, distinctTools: 6, toolsDefined: 6, maxArgDepth: 4, longestDependencyChain: 4, clarificationTurns: 5, errorRecoveryTurns: 1, tokens: 853 + o, complexityScore: 0.88 }, promptVersions: '{}', models: '{}', promptTokens: 1, completionTokens: 1 });
for (const format of ['parquet', 'arrow', 'parquet', 'arrow']) {
  const dir = mkdtempSync('/tmp/sinkfmt-');
  const sink = new ParquetShardSink(SinkConfig.parse({ dir, format, maxRows: 2000 }));
  await sink.open();
  const n = 10000; const t0 = process.cpuUsage(); const w0 = performance.now();
  for (let o = 0; o < n; o++) await sink.writeDoc({ kind: 'file', partition: '/x.jsonl', offset: o, file: '/x.jsonl', line: o }, [row(o, 0)]);
  await sink.close();
  const c = process.cpuUsage(t0);
  console.log(format, 'CPU us/row', ((c.user + c.system) / n).toFixed(1), 'wall s', ((performance.now() - w0) / 1000).toFixed(2), 'bytes', sink.shards().reduce((a, s) => a + s.bytes, 0));
  rmSync(dir, { recursive: true });
}
