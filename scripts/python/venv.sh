#!/usr/bin/env bash
# A Python virtualenv with pyarrow, datasets and duckdb from PyPI, for the tests that read an output directory
# the way a trainer does (`datasets.load_dataset(dir)`, `pyarrow.dataset.dataset(dir)`), and DuckDB over Arrow
# shards (DuckDB has no built-in Arrow IPC file reader; Python's duckdb scans an Arrow table); and jinja2, which
# renders chat templates for transformers' apply_chat_template (the template export's reference). Cached in .cache/python.
#
#   venv.sh fetch     create the venv and install the pinned packages (idempotent; ~1 min cold)
#   venv.sh fetched   exit 0 when the venv is complete
#   venv.sh python    print the venv's python path
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/python"
VENV="$CACHE/venv"
PYARROW_VERSION=26.0.1
DATASETS_VERSION=5.2.0
DUCKDB_VERSION=1.5.6
JINJA2_VERSION=3.1.6
STAMP="$VENV/.complete-pyarrow-$PYARROW_VERSION-datasets-$DATASETS_VERSION-duckdb-$DUCKDB_VERSION-jinja2-$JINJA2_VERSION"

fetched() { [[ -f "$STAMP" ]]; }

fetch() {
  fetched && return 0
  command -v python3 >/dev/null || { echo "venv.sh: python3 is not installed (needed to create the venv)" >&2; return 1; }
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --no-cache-dir "pyarrow==$PYARROW_VERSION" "datasets==$DATASETS_VERSION" "duckdb==$DUCKDB_VERSION" "jinja2==$JINJA2_VERSION" >&2 ||
    { echo "venv.sh: pip install pyarrow==$PYARROW_VERSION datasets==$DATASETS_VERSION duckdb==$DUCKDB_VERSION jinja2==$JINJA2_VERSION failed" >&2; return 1; }
  # Check that the packages import before marking the venv complete.
  "$VENV/bin/python" -c 'import pyarrow, pyarrow.dataset, datasets, duckdb, jinja2' >&2
  touch "$STAMP"
}

case "${1:-}" in
  fetch) fetch ;;
  fetched) fetched ;;
  python) echo "$VENV/bin/python" ;;
  *) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
