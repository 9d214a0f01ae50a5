#!/usr/bin/env bash
# Published chat templates of real models, for the template export's tests: the 25 `models/templates/*.jinja`
# that llama.cpp keeps (copied from the models' tokenizer_config.json: Llama 3.1-3.3, Qwen 2.5 / 3 / QwQ,
# Hermes 2 Pro / 3, Mistral Nemo / Small 3.2 / Devstral, DeepSeek R1 distills, Command R, gpt-oss, Kimi K2,
# Phi-3.5, Granite 3.3, Gemma 2, Functionary, FireFunction), taken from the llama-cpp-python source
# distribution on PyPI (MIT; it vendors llama.cpp), cached under .cache/templates. gemflow did not write them.
#
#   fetch.sh fetch     download the sdist (pip download, ~50 MB, no build) and extract the templates, once per version
#   fetch.sh fetched   exit 0 when the templates of this version are there (scripts/deps.sh asks)
#   fetch.sh dir       print the folder
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=0.3.16
DEST=.cache/templates/jinja
MARKER=.cache/templates/.complete-$VERSION

fetched() { [ -f "$MARKER" ]; }

fetch() {
  fetched && return 0
  local tmp
  tmp=$(mktemp -d)
  echo "== fetching llama-cpp-python $VERSION source (PyPI) for its models' chat templates" >&2
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$tmp" "llama-cpp-python==$VERSION" >&2 ||
    { rm -rf "$tmp"; echo "fetch.sh: pip download llama-cpp-python==$VERSION (sdist) failed" >&2; return 1; }
  rm -rf "$DEST.partial"
  mkdir -p "$DEST.partial"
  tar -xzf "$tmp"/llama_cpp_python-"$VERSION".tar.gz -C "$DEST.partial" --strip-components=5 --wildcards "llama_cpp_python-$VERSION/vendor/llama.cpp/models/templates/*.jinja"
  local n
  n=$(find "$DEST.partial" -name '*.jinja' | wc -l)
  [ "$n" -gt 0 ] || { rm -rf "$tmp" "$DEST.partial"; echo "fetch.sh: no templates in the llama-cpp-python $VERSION sdist" >&2; return 1; }
  echo "extracted $n templates" >&2
  rm -rf "$tmp" "$DEST"
  mv "$DEST.partial" "$DEST"
  rm -f .cache/templates/.complete-*
  touch "$MARKER"
}

case "${1:-}" in
  fetch) fetch ;;
  fetched) fetched ;;
  dir) echo "$DEST" ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
