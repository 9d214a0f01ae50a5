#!/usr/bin/env bash
# A real S3-compatible object store (MinIO) for development, tests and CI, built from the Go module proxy.
#
#   minio.sh fetch            build the server into <repo>/.cache/minio/bin (git-ignored; minutes, once)
#   minio.sh fetched          exit 0 when the pinned version is built (scripts/deps.sh asks)
#   minio.sh start --dir D    start on a free 127.0.0.1 port with data in D/data; prints ENDPOINT=http://...
#   minio.sh stop --dir D     SIGTERM, wait, SIGKILL fallback
#
# D also holds minio.env (ENDPOINT, ACCESS_KEY, SECRET_KEY), minio.log and pid. Root credentials come from
# MINIO_ROOT_USER / MINIO_ROOT_PASSWORD, default gemflow-test / gemflow-test-secret (a local test server).
# Buckets are created by the clients (the AWS SDK), so the `mc` client is not needed.
# Environment: MINIO_VERSION (default: the pinned pseudo-version below), MINIO_START_TIMEOUT_S (default 60).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="$ROOT/.cache/minio/bin"
# MinIO tags are not semver, so the module proxy knows its releases as pseudo-versions; pinned so every
# checkout builds the same server (`go list -m github.com/minio/minio@latest` shows the newest).
VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
START_TIMEOUT_S="${MINIO_START_TIMEOUT_S:-60}"
STOP_TIMEOUT_S=20

die() { echo "minio.sh: $*" >&2; exit 1; }
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# A marker beside the binary records the version built; a missing one (or another version) rebuilds.
fetched() { [[ -x "$BIN/minio" && -f "$BIN/.minio-$VERSION" ]]; }

fetch() {
  if fetched; then return 0; fi
  command -v go >/dev/null || die "go not found (needed once to build MinIO)"
  mkdir -p "$BIN"
  echo "== building minio@$VERSION (Go module proxy)" >&2
  # Into a temp dir, then renamed: an interrupted build never leaves a binary that looks complete.
  local tmp
  tmp="$(mktemp -d "$BIN/.build.XXXXXX")"
  GOBIN="$tmp" go install "github.com/minio/minio@$VERSION" >&2 || { rm -rf "$tmp"; die "go install github.com/minio/minio@$VERSION failed"; }
  mv -f "$tmp/minio" "$BIN/minio"
  rm -rf "$tmp" "$BIN"/.minio-*
  touch "$BIN/.minio-$VERSION"
}

# True when D/pid is alive and is this directory's server (guards against pid reuse).
running() {
  [[ -f "$DIR/pid" ]] || return 1
  local pid
  pid="$(cat "$DIR/pid")"
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$DIR/data"
}

start() {
  fetched || fetch
  mkdir -p "$DIR/data"
  DIR="$(cd "$DIR" && pwd)"
  if running; then
    cat "$DIR/minio.env"
    return 0
  fi
  local port console user pass
  read -r port console <<<"$(node "$ROOT/scripts/kafka/free-ports.mjs" 2)"
  user="${MINIO_ROOT_USER:-gemflow-test}"
  pass="${MINIO_ROOT_PASSWORD:-gemflow-test-secret}"
  MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$pass" MINIO_BROWSER=off MINIO_UPDATE=off \
    "$BIN/minio" server "$DIR/data" --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" --quiet \
    </dev/null >>"$DIR/minio.log" 2>&1 &
  echo $! >"$DIR/pid"
  printf 'ENDPOINT=http://127.0.0.1:%s\nACCESS_KEY=%s\nSECRET_KEY=%s\n' "$port" "$user" "$pass" >"$DIR/minio.env"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/minio/health/live" 2>/dev/null; do
    running || die "minio exited during startup; last log lines:
$(tail -n 20 "$DIR/minio.log")"
    ((SECONDS < deadline)) || die "minio not live after ${START_TIMEOUT_S}s (log: $DIR/minio.log)"
    sleep 0.2
  done
  cat "$DIR/minio.env"
}

stop() {
  running || { rm -f "$DIR/pid"; return 0; }
  local pid
  pid="$(cat "$DIR/pid")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while running; do
    if ((SECONDS >= deadline)); then
      echo "minio.sh: still up after ${STOP_TIMEOUT_S}s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$DIR/pid"
}

CMD="${1:-}"
[[ -n "$CMD" ]] || usage
shift
DIR=""
while (($#)); do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    *) usage ;;
  esac
done

case "$CMD" in
  fetch) fetch ;;
  fetched) fetched ;;
  start) [[ -n "$DIR" ]] || die "start needs --dir D"; start ;;
  stop) [[ -n "$DIR" ]] || die "stop needs --dir D"; DIR="$(cd "$DIR" && pwd)"; stop ;;
  *) usage ;;
esac
