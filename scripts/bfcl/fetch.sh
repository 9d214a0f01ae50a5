#!/usr/bin/env bash
# BFCL multi-turn (the Berkeley Function Calling Leaderboard's multi-turn categories, GEM's evaluation)
# for decontamination: the data files of the PyPI package bfcl-eval (Apache-2.0), cached under
# .cache/bfcl/data in the package's own layout (bfcl_eval/data), so a user's copy of that folder
# works the same way:
#
#   BFCL_v*_multi_turn_{base,long_context,miss_func,miss_param}.json    questions (one JSON per line)
#   multi_turn_func_doc/*.json                                         the APIs' function docs
#
#   fetch.sh fetch     download (pip download, no install) and extract, once per version
#   fetch.sh fetched   exit 0 when the files of this version are there (scripts/deps.sh asks)
#   fetch.sh dir       print the data folder
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=2026.3.23
DEST=.cache/bfcl/data
MARKER=.cache/bfcl/.complete-$VERSION

fetched() { [ -f "$MARKER" ]; }

fetch() {
  fetched && return 0
  local tmp
  tmp=$(mktemp -d)
  echo "== fetching bfcl-eval $VERSION (PyPI) for its multi-turn data" >&2
  python3 -m pip download --quiet --no-deps --dest "$tmp" "bfcl-eval==$VERSION" >&2 || { rm -rf "$tmp"; echo "fetch.sh: pip download bfcl-eval==$VERSION failed" >&2; return 1; }
  rm -rf "$DEST.partial"
  python3 - "$tmp"/bfcl_eval-*.whl "$DEST.partial" <<'PY'
import os, re, sys, zipfile
wheel, out = sys.argv[1:]
pattern = re.compile(r"^bfcl_eval/data/(BFCL_v\d+_multi_turn_[a-z_]+\.json|multi_turn_func_doc/[a-z_]+\.json)$")
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        m = pattern.match(name)
        if not m:
            continue
        path = os.path.join(out, m.group(1))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(z.read(name))
        n += 1
if n == 0:
    sys.exit(f"no multi-turn data files in {wheel}")
print(f"extracted {n} files", file=sys.stderr)
PY
  rm -rf "$tmp" "$DEST"
  mv "$DEST.partial" "$DEST"
  rm -f .cache/bfcl/.complete-*
  touch "$MARKER"
}

case "${1:-}" in
  fetch) fetch ;;
  fetched) fetched ;;
  dir) echo "$DEST" ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
