import { describe, expect, it } from 'vitest';
import { ParquetShardSink } from '../../src/sinks/parquet-sink.js';
import { docRows, duck, fileOrigin, sinkConfig, sqlString, tempDir } from './fixtures.js';

/**
 * The sink's CPU cost per ~8 KB row with the default settings (snappy, 1,000-row groups): printed
 * for the benchmark notes, not asserted (the machine is shared). What is asserted is that all
 * 5,000 rows come back.
 */
describe('ParquetShardSink CPU', () => {
  it('writes 5,000 rows of ~8 KB and reports CPU ms per row', async () => {
    const t = await tempDir('cpu');
    try {
      const docs = Array.from({ length: 1000 }, (_, i) => fileOrigin('/in/big.jsonl', i)).map((o) => ({ o, rows: docRows(o, 5, 8000) }));
      const sink = new ParquetShardSink(sinkConfig(t.dir));
      await sink.open();
      const before = process.cpuUsage();
      for (const d of docs) await sink.writeDoc(d.o, d.rows);
      await sink.close();
      const used = process.cpuUsage(before);
      const msPerRow = (used.user + used.system) / 1000 / 5000;
      const bytes = sink.shards().reduce((n, s) => n + s.bytes, 0);
      console.log(`parquet sink: ${msPerRow.toFixed(3)} ms CPU per ~8 KB row (user ${(used.user / 1000).toFixed(0)} ms, system ${(used.system / 1000).toFixed(0)} ms, 5000 rows, ${(bytes / 1e6).toFixed(1)} MB snappy)`);

      const db = await duck();
      const [got] = await db.all(`select count(*)::INTEGER as n, min(length(messages))::INTEGER as shortest from read_parquet([${sink.shards().map((s) => sqlString(s.path)).join(',')}])`);
      db.close();
      expect(got).toMatchObject({ n: 5000 });
      expect(got!.shortest).toBeGreaterThan(8000);
    } finally {
      await t.cleanup();
    }
  });
});
