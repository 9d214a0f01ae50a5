"""Row format measurement (issue 11): chat messages as nested Parquet (list<struct>) vs JSON strings.

Writes the same N chat-format rows both ways with pyarrow, then reads each with pyarrow and `datasets`
and reports: the type each reader sees, whether a row's messages can go straight into a chat template
(no None-valued keys that `'tool_calls' in message` templates trip on), write and read times.
Run: .cache/python/venv/bin/python bench/row-format/measure.py OUT_DIR [N]   (DuckDB: measure.mjs)
"""
import json, os, sys, time, shutil
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.dataset as pds

out = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
shutil.rmtree(out, ignore_errors=True)

def row(i):
    calls = [{"id": f"call_{i}_{k}", "type": "function", "function": {"name": f"tool_{k}", "arguments": json.dumps({"order_id": i, "items": [{"sku": "A", "qty": k}]})}} for k in range(3)]
    msgs = [{"role": "system", "content": "You are a helpful agent. " * 10}, {"role": "user", "content": f"Please handle order {i}. " * 5}]
    for k, c in enumerate(calls):
        msgs.append({"role": "assistant", "content": "", "tool_calls": [c]})
        msgs.append({"role": "tool", "content": json.dumps({"ok": True, "k": k}), "tool_call_id": c["id"], "name": c["function"]["name"]})
    msgs.append({"role": "assistant", "content": "Done. " * 20})
    tools = [{"type": "function", "function": {"name": f"tool_{k}", "description": "does a thing", "parameters": {"type": "object", "properties": {"order_id": {"type": "integer"}, f"p{k}": {"type": "string"}}, "required": ["order_id"]}}} for k in range(3)]
    return msgs, tools

rows = [row(i) for i in range(n)]
call_t = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())]))])
msg_t = pa.struct([("role", pa.string()), ("content", pa.string()), ("tool_calls", pa.list_(call_t)), ("tool_call_id", pa.string()), ("name", pa.string())])
res = {}
for kind in ("json", "nested"):
    d = os.path.join(out, kind, "data"); os.makedirs(d)
    t0 = time.perf_counter()
    if kind == "json":
        table = pa.table({"messages": [json.dumps(m) for m, _ in rows], "tools": [json.dumps(t) for _, t in rows]})
    else:
        # tools stay a JSON string: `parameters` is arbitrary JSON Schema, no fixed struct holds it
        table = pa.table({"messages": pa.array([m for m, _ in rows], pa.list_(msg_t)), "tools": [json.dumps(t) for _, t in rows]})
    pq.write_table(table, os.path.join(d, "part-0.parquet"), compression="snappy")
    w = time.perf_counter() - t0
    t0 = time.perf_counter(); pt = pds.dataset(os.path.join(out, kind)).to_table(); pr = time.perf_counter() - t0
    t0 = time.perf_counter(); msgs_py = [json.loads(s) for s in pt.column("messages").to_pylist()] if kind == "json" else pt.column("messages").to_pylist(); py = time.perf_counter() - t0
    import datasets
    datasets.disable_progress_bars()
    t0 = time.perf_counter(); hf = datasets.load_dataset(os.path.join(out, kind), split="train", cache_dir=os.path.join(out, "hf-cache")); hl = time.perf_counter() - t0
    first = hf[0]["messages"]; first = json.loads(first) if kind == "json" else first
    none_keys = sum(1 for m in first for v in m.values() if v is None)
    res[kind] = {"pyarrow_type": str(pt.schema.field("messages").type)[:80], "datasets_feature": str(hf.features["messages"])[:80],
                 "bytes": os.path.getsize(os.path.join(d, "part-0.parquet")), "write_s": round(w, 3), "pyarrow_read_s": round(pr, 3),
                 "to_python_dicts_s": round(py, 3), "datasets_load_s": round(hl, 3), "none_valued_keys_in_row0": none_keys,
                 "user_msg_keys": sorted(first[1].keys())}
print(json.dumps({"rows": n, **res}, indent=1))
