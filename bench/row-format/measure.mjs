// DuckDB half of bench/row-format/measure.py: the type DuckDB sees for each form, and a query that reaches
// into the messages (count tool calls) in each. Run after measure.py: node bench/row-format/measure.mjs OUT_DIR
import { DuckDBInstance } from '@duckdb/node-api';
const out = process.argv[2];
const db = await (await DuckDBInstance.create(':memory:')).connect();
const all = async (sql) => (await db.runAndReadAll(sql)).getRowObjectsJson();
const res = {};
for (const kind of ['json', 'nested']) {
  const f = `${out}/${kind}/data/*.parquet`;
  const type = (await all(`DESCRIBE SELECT messages FROM read_parquet('${f}')`))[0].column_type;
  const calls = kind === 'json'
    ? `SELECT sum(json_array_length(json_extract(m, '$.tool_calls'))) AS n FROM (SELECT unnest(json_extract(messages, '$[*]')) AS m FROM read_parquet('${f}'))`
    : `SELECT sum(len(m.tool_calls)) AS n FROM (SELECT unnest(messages) AS m FROM read_parquet('${f}'))`;
  const t0 = performance.now();
  const n = (await all(calls))[0].n;
  res[kind] = { duckdb_type: String(type).slice(0, 80), tool_calls: Number(n), query_s: +((performance.now() - t0) / 1000).toFixed(3) };
}
console.log(JSON.stringify(res, null, 1));
