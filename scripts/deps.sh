#!/usr/bin/env bash
# Everything the test suite runs besides Node packages, fetched or built once and cached (git-ignored):
#
#   deps.sh fetch [kafka] [minio] [k8s] [python] [bfcl] [redis] [templates]   fetch what is missing (all by default); idempotent
#   deps.sh status                        what is cached, what is missing (exit 1 when something is)
#
#   kafka  Apache Kafka broker jars, Maven Central (mvn)  -> scripts/kafka/lib (+ ~/.m2)     ~15 s cold
#   minio  MinIO server, built from the Go module proxy   -> .cache/minio/bin                ~4 min cold
#   k8s    kustomize + kubeconform (Go module proxy), Kubernetes JSON schemas (PyPI)
#                                                          -> .cache/k8s                      ~30 s cold
#   python a venv with pyarrow + datasets + duckdb + jinja2 (PyPI): the readers of the output-directory tests,
#          and jinja2 as transformers renders chat templates
#                                                          -> .cache/python                   ~25 s cold
#   bfcl   BFCL multi-turn data of bfcl-eval (PyPI), for decontamination tests -> .cache/bfcl/data  ~3 s cold
#   templates  25 published models' chat templates, from the llama-cpp-python sdist (PyPI), for the
#          template export's tests                                   -> .cache/templates         ~80 s cold
#   redis  Redis server, Debian's redis-server package (apt-get; root) -> /usr/bin (skipped when
#          redis-server is already on PATH)                                                    ~10 s cold
#
# The vitest global setup (tests/global-setup.ts) runs `deps.sh fetch` before any test, so `npm test` on a
# fresh clone fetches what it needs; with everything cached this takes well under a second. Each item
# prints its progress and how long it took; a failure names the registry and whether it was reachable.
# Concurrent runs in one checkout wait for each other (flock on .cache/deps.lock) instead of building twice.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p .cache

say() { echo "deps: $*" >&2; }

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Says whether a registry answers at all, to tell "unreachable" from "the build failed".
# (Cold-cache times above: measured on the project's 2-core machine, 2026-12, with empty Go / Maven caches.)
probe() { # name url
  local err
  if err="$(curl -sS -o /dev/null --max-time 15 "$2" 2>&1)"; then
    say "  $1 at $2 is reachable"
  else
    say "  $1 at $2 is UNREACHABLE: ${err:-no answer}"
    say "  check the network / proxy settings (HTTPS_PROXY, GOPROXY, ~/.m2/settings.xml, pip config)"
  fi
}

go_proxy_url() {
  local p
  p="$(go env GOPROXY 2>/dev/null | cut -d, -f1)"
  [[ "$p" == http* ]] && echo "$p" || echo "https://proxy.golang.org"
}

kafka_cached() { [[ -f scripts/kafka/lib/.complete ]]; }
minio_cached() { bash scripts/minio/minio.sh fetched; }
k8s_cached() { bash scripts/k8s/tools.sh fetched; }
python_cached() { bash scripts/python/venv.sh fetched; }
bfcl_cached() { bash scripts/bfcl/fetch.sh fetched; }
templates_cached() { bash scripts/templates/fetch.sh fetched; }
redis_cached() { bash scripts/redis/redis.sh fetched; }

need() { # tool why
  command -v "$1" >/dev/null || { say "ERROR: '$1' is not installed; it is needed $2"; exit 1; }
}

fetch_one() { # item
  local item="$1" started=$SECONDS
  case "$item" in
    kafka)
      kafka_cached && return 0
      need java "to run the Kafka broker (Java 17+)"
      need mvn "once, to fetch the Kafka jars from Maven Central"
      say "kafka: fetching the Apache Kafka broker jars from Maven Central (about 15 s on a cold ~/.m2) ..."
      bash scripts/kafka/kafka.sh fetch || { say "ERROR: fetching the Kafka jars failed"; probe "Maven Central" https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/maven-metadata.xml; return 1; }
      ;;
    minio)
      minio_cached && return 0
      need go "once, to build MinIO from the Go module proxy"
      say "minio: building the MinIO server from the Go module proxy (about 4 min on 2 cores with a cold Go cache) ..."
      bash scripts/minio/minio.sh fetch || { say "ERROR: building MinIO failed"; probe "the Go module proxy" "$(go_proxy_url)/github.com/minio/minio/@v/list"; return 1; }
      ;;
    k8s)
      k8s_cached && return 0
      need go "once, to build kustomize and kubeconform from the Go module proxy"
      need python3 "once, to fetch the Kubernetes JSON schemas from PyPI (pip download)"
      say "k8s: building kustomize + kubeconform (Go module proxy), fetching Kubernetes schemas (PyPI) (about 30 s cold) ..."
      bash scripts/k8s/tools.sh fetch || {
        say "ERROR: fetching the Kubernetes tools failed"
        probe "the Go module proxy" "$(go_proxy_url)/sigs.k8s.io/kustomize/kustomize/v5/@v/list"
        probe "PyPI" "https://pypi.org/simple/kubernetes-validate/"
        return 1
      }
      ;;
    python)
      python_cached && return 0
      need python3 "once, to create the venv with pyarrow and datasets from PyPI"
      say "python: creating a venv with pyarrow and datasets from PyPI (about 25 s cold) ..."
      bash scripts/python/venv.sh fetch || { say "ERROR: installing pyarrow / datasets failed"; probe "PyPI" "https://pypi.org/simple/pyarrow/"; return 1; }
      ;;
    bfcl)
      bfcl_cached && return 0
      need python3 "once, to fetch the BFCL multi-turn data from PyPI (pip download)"
      say "bfcl: fetching the bfcl-eval wheel from PyPI and extracting its multi-turn data (a few seconds) ..."
      bash scripts/bfcl/fetch.sh fetch || { say "ERROR: fetching bfcl-eval failed"; probe "PyPI" "https://pypi.org/simple/bfcl-eval/"; return 1; }
      ;;
    templates)
      templates_cached && return 0
      need python3 "once, to fetch the llama-cpp-python source from PyPI (pip download) for its chat templates"
      say "templates: fetching the llama-cpp-python sdist from PyPI and extracting its models' chat templates (about 80 s cold) ..."
      bash scripts/templates/fetch.sh fetch || { say "ERROR: fetching the chat templates failed"; probe "PyPI" "https://pypi.org/simple/llama-cpp-python/"; return 1; }
      ;;
    redis)
      redis_cached && return 0
      say "redis: installing Debian's redis-server package (apt-get update + install, about 10 s) ..."
      bash scripts/redis/redis.sh fetch || { say "ERROR: installing redis-server failed (the message above says why)"; probe "the Debian mirror" http://deb.debian.org/debian/dists/stable/Release; return 1; }
      ;;
    *) usage ;;
  esac
  say "$item: ready in $((SECONDS - started)) s"
}

status() {
  local missing=0 item
  for item in kafka minio k8s python bfcl redis templates; do
    if "${item}_cached"; then say "$item: cached"; else say "$item: MISSING"; missing=1; fi
  done
  return $missing
}

CMD="${1:-}"
[[ -n "$CMD" ]] || usage
shift
case "$CMD" in
  fetch)
    items=("$@")
    ((${#items[@]})) || items=(kafka minio k8s python bfcl redis templates)
    todo=()
    for item in "${items[@]}"; do
      [[ "$item" == kafka || "$item" == minio || "$item" == k8s || "$item" == python || "$item" == bfcl || "$item" == redis || "$item" == templates ]] || usage
      "${item}_cached" || todo+=("$item")
    done
    if ((${#todo[@]} == 0)); then say "${items[*]}: cached"; exit 0; fi
    say "missing: ${todo[*]} (cached under .cache/ and scripts/kafka/lib once fetched)"
    exec 9>.cache/deps.lock
    flock -n 9 || { say "another run is fetching in this checkout; waiting for it ..."; flock 9; }
    started=$SECONDS
    for item in "${todo[@]}"; do fetch_one "$item"; done
    say "all fetched in $((SECONDS - started)) s"
    ;;
  status) status ;;
  *) usage ;;
esac
