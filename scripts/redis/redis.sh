#!/usr/bin/env bash
# A real Redis server for development, tests and CI, from Debian's redis-server package.
#
#   redis.sh fetch            apt-get install redis-server when `redis-server` is not on PATH (needs root + apt)
#   redis.sh fetched          exit 0 when redis-server is on PATH (scripts/deps.sh asks)
#   redis.sh start --dir D    start on a free 127.0.0.1 port, data in D; prints URL=redis://127.0.0.1:PORT
#   redis.sh stop --dir D     SHUTDOWN (SIGTERM), wait, SIGKILL fallback
#   redis.sh kill --dir D     SIGKILL (crash test); `start` on the same D brings it back on the same port
#
# D holds redis.conf, redis.env (PORT, URL), redis.log, pid and the data (appendonly.aof: every write is in
# the append-only file before its reply, so a SIGKILL of the server loses nothing; fsync once a second).
# Memory: REDIS_MAXMEMORY (default 256mb) with maxmemory-policy volatile-lru (gemflow sets a TTL on every
# key). Environment: REDIS_START_TIMEOUT_S (default 30).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
START_TIMEOUT_S="${REDIS_START_TIMEOUT_S:-30}"
STOP_TIMEOUT_S=20

die() { echo "redis.sh: $*" >&2; exit 1; }
usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

fetched() { command -v redis-server >/dev/null && command -v redis-cli >/dev/null; }

fetch() {
  fetched && return 0
  command -v apt-get >/dev/null || die "redis-server is not installed and this machine has no apt-get: install Redis (or Valkey) >= 6.2 so that redis-server and redis-cli are on PATH"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || die "redis-server is not installed and installing it needs root (apt-get install -y redis-server): run this as root or install it yourself"
    sudo=(sudo -n)
  fi
  echo "== apt-get update && apt-get install -y redis-server (Debian package)" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed (is the Debian mirror reachable?)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2 || die "apt-get install redis-server failed"
  # The package enables a system-wide service where an init system runs; tests start their own servers.
  fetched || die "redis-server still not on PATH after apt-get install"
}

running() {
  [[ -f "$DIR/pid" ]] || return 1
  local pid
  pid="$(cat "$DIR/pid")"
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server"
}

start() {
  fetched || fetch
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  if [[ ! -f "$DIR/redis.env" ]]; then
    local port
    port="$(node "$HERE/../kafka/free-ports.mjs" 1)"
    cat >"$DIR/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
dir $DIR
daemonize no
appendonly yes
appendfsync everysec
save ""
maxmemory ${REDIS_MAXMEMORY:-256mb}
maxmemory-policy volatile-lru
logfile $DIR/redis.log
CONF
    printf 'PORT=%s\nURL=redis://127.0.0.1:%s\n' "$port" "$port" >"$DIR/redis.env"
  fi
  # shellcheck disable=SC1091
  source "$DIR/redis.env"
  if ! running; then
    redis-server "$DIR/redis.conf" </dev/null >>"$DIR/redis.stdout" 2>&1 &
    echo $! >"$DIR/pid"
  fi
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until [[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" == PONG ]]; do
    running || die "redis-server exited during startup; last log lines:
$(tail -n 20 "$DIR/redis.log" 2>/dev/null) $(tail -n 5 "$DIR/redis.stdout" 2>/dev/null)"
    ((SECONDS < deadline)) || die "redis-server not ready after ${START_TIMEOUT_S}s (log: $DIR/redis.log)"
    sleep 0.1
  done
  echo "URL=$URL"
}

stop() {
  running || { rm -f "$DIR/pid"; return 0; }
  local pid
  pid="$(cat "$DIR/pid")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "redis.sh: still up after ${STOP_TIMEOUT_S}s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$DIR/pid"
}

kill_server() {
  running || return 0
  local pid
  pid="$(cat "$DIR/pid")"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
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
  stop) [[ -n "$DIR" ]] || die "stop needs --dir D"; [[ -d "$DIR" ]] || exit 0; DIR="$(cd "$DIR" && pwd)"; stop ;;
  kill) [[ -n "$DIR" ]] || die "kill needs --dir D"; DIR="$(cd "$DIR" && pwd)"; kill_server ;;
  *) usage ;;
esac
