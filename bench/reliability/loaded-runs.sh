#!/usr/bin/env bash
# Measurement 1: N runs of a 1,500-document corpus (+ examples/corpus.jsonl) through `gemflow run`
# over files with the bundled simulator, each beside two CPU-burning processes.
#   bash bench/reliability/loaded-runs.sh [runs=5] [workdir=/tmp/gemflow-reliability/loaded] [timeScale=0.01]
# Prints one JSON line per run (bench/reliability/check-run.mjs) and writes them to <workdir>/results.jsonl.
set -u
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
WORK=${2:-/tmp/gemflow-reliability/loaded}
SCALE=${3:-0.01}
BURNERS=${BURNERS:-2}
mkdir -p "$WORK"
: > "$WORK/results.jsonl"
for i in $(seq 1 "$RUNS"); do
  d="$WORK/run-$i"
  rm -rf "$d" && mkdir -p "$d"
  node bench/reliability/gen-corpus.mjs "$d/corpus.jsonl" 1500 "$i" --with-samples > "$d/corpus-stats.json"
  cat > "$d/pipeline.yaml" <<YAML
source: { type: files, paths: [$d/corpus.jsonl] }
llm: { simulate: true, simulator: { timeScale: $SCALE } }
sink: { dir: $d/out }
YAML
  pids=()
  for _ in $(seq 1 "$BURNERS"); do sh -c 'while :; do :; done' & pids+=($!); done
  ( while :; do uptime >> "$d/uptime.log"; sleep 10; done ) & up=$!
  t0=$(date +%s.%N)
  node bin/gemflow.js run "$d/pipeline.yaml" > "$d/stdout" 2> "$d/stderr"
  rc=$?
  t1=$(date +%s.%N)
  kill "$up" "${pids[@]}" 2>/dev/null; wait "$up" "${pids[@]}" 2>/dev/null
  wall=$(echo "$t1 - $t0" | bc)
  load=$(awk -F'load average: ' '{split($2,a,", "); s+=a[1]; if (a[1]>m) m=a[1]; n++} END {printf "{\"loadAvg1mMean\":%.2f,\"loadAvg1mMax\":%.2f,\"samples\":%d}", s/n, m, n}' "$d/uptime.log")
  res=$(node bench/reliability/check-run.mjs "$d/corpus.jsonl" "$d/out" "$d/stderr" "$rc" "$wall")
  echo "{\"run\":$i,\"load\":$load,\"result\":$res}" | tee -a "$WORK/results.jsonl"
done
