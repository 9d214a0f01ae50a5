"""Read a gemflow output directory the way a trainer does, and print what each reader saw as JSON.

  read-output.py OUT_DIR [parquet|arrow]

- datasets: `datasets.load_dataset(OUT_DIR, split="train")` (no data_files: the directory as it is)
- pyarrow:  `pyarrow.dataset.dataset(OUT_DIR, format=...)` (the directory as it is)
- duckdb:   DuckDB over the same shards (Parquet: read_parquet on data/*; Arrow IPC: DuckDB has no
            built-in reader for Arrow files, so pyarrow opens each file and DuckDB scans the Arrow table)
Each reader reports its row count, the trajectory ids it saw (in order of trajectory id), the column
names and types, and a digest of every row's content, so a caller can compare readers and runs.
"""
import glob, hashlib, json, os, sys, tempfile

import datasets
import duckdb
import pyarrow as pa
import pyarrow.dataset as pds

out = sys.argv[1]
fmt = sys.argv[2] if len(sys.argv) > 2 else "parquet"
datasets.disable_progress_bars()
datasets.logging.set_verbosity_error()


def digest(rows):
    """trajectory_id -> sha256 of the row's values (JSON, keys sorted; ints and floats as Python sees them)."""
    return {r["trajectory_id"]: hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()[:16] for r in rows}


def report(rows, columns):
    ids = [r["trajectory_id"] for r in rows]
    return {"rows": len(rows), "ids": sorted(ids), "columns": columns, "digest": digest(rows)}


res = {}
with tempfile.TemporaryDirectory() as cache:
    ds = datasets.load_dataset(out, split="train", cache_dir=cache)
    res["datasets"] = report(ds.to_list(), {k: str(v) for k, v in ds.features.items()})
    res["datasets"]["builder"] = ds.info.builder_name

table = pds.dataset(out, format="parquet" if fmt == "parquet" else "arrow").to_table()
res["pyarrow"] = report(table.to_pylist(), {f.name: str(f.type) for f in table.schema})

con = duckdb.connect()
if fmt == "parquet":
    rel = con.sql(f"SELECT * FROM read_parquet('{os.path.join(out, 'data', '*.parquet')}')")
else:
    import pyarrow.ipc as ipc
    arrow_shards = pa.concat_tables([ipc.open_file(f).read_all() for f in sorted(glob.glob(os.path.join(out, "data", "*.arrow")))])
    rel = con.sql("SELECT * FROM arrow_shards")
cols = rel.columns
types = [str(t) for t in rel.types]
rows = [dict(zip(cols, r)) for r in rel.fetchall()]
res["duckdb"] = report(rows, dict(zip(cols, types)))
print(json.dumps(res))
