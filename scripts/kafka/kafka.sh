#!/usr/bin/env bash
# A real Apache Kafka (KRaft, no ZooKeeper) for development, tests and CI, from Maven Central alone.
#
#   kafka.sh fetch                              jars into scripts/kafka/lib (cached in ~/.m2; idempotent)
#   kafka.sh start [--nodes 1|3] --dir D        start (formatting D on first use); prints BOOTSTRAP=...
#   kafka.sh stop --dir D [--node I]            SIGTERM, wait, SIGKILL fallback (all nodes, or node I)
#   kafka.sh kill --dir D --node I              SIGKILL node I (crash test); `start` brings it back
#
# D holds everything: cluster.env (node count, ports, cluster id) and node-I/{server.properties,data,
# server.log,pid}. A second `start` on the same D reuses the ports and data and only launches nodes that
# are not running, so stop+start is a broker restart and kill+start is a node recovery.
# Environment: KAFKA_JAVA_OPTS (default -Xmx512m), KAFKA_START_TIMEOUT_S (default 180: a JVM on a loaded 2-core machine can take minutes).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIB="$HERE/lib"
JAVA_OPTS="${KAFKA_JAVA_OPTS:--Xmx512m}"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-180}"
STOP_TIMEOUT_S=20

die() { echo "kafka.sh: $*" >&2; exit 1; }

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

fetch() {
  if [[ -f "$LIB/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
  rm -rf "$LIB"
  mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIB" -DincludeScope=runtime >&2
  touch "$LIB/.complete"
}

storage_tool() { java -cp "$LIB/*" kafka.tools.StorageTool "$@"; }

# True when the pid in node-I/pid is alive and is this node's broker (guards against pid reuse).
node_running() {
  local node_dir="$DIR/node-$1" pid
  [[ -f "$node_dir/pid" ]] || return 1
  pid="$(cat "$node_dir/pid")"
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$node_dir/server.properties"
}

write_properties() { # node_id broker_port controller_port
  local id="$1" bport="$2" cport="$3" node_dir="$DIR/node-$1" rf quorum
  if [[ "$NODES" == 1 ]]; then
    rf=1
    quorum="controller.quorum.bootstrap.servers=127.0.0.1:$cport"
  else
    rf=3
    quorum="controller.quorum.voters=$VOTERS"
  fi
  mkdir -p "$node_dir/data"
  cat >"$node_dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
$quorum
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$node_dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=1
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.flush.interval.messages=9223372036854775807
EOF
}

# First start on DIR: pick ports, write every node's properties, format every node's storage.
init_cluster() {
  local ports i
  read -r -a ports <<<"$(node "$HERE/free-ports.mjs" $((NODES * 2)))"
  BOOTSTRAP="" VOTERS=""
  for ((i = 1; i <= NODES; i++)); do
    BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${ports[2 * i - 2]}"
    VOTERS+="${VOTERS:+,}$i@127.0.0.1:${ports[2 * i - 1]}"
  done
  for ((i = 1; i <= NODES; i++)); do write_properties "$i" "${ports[2 * i - 2]}" "${ports[2 * i - 1]}"; done
  local cluster_id
  cluster_id="$(storage_tool random-uuid 2>"$DIR/random-uuid.log" | tail -n 1)"
  local pids=()
  for ((i = 1; i <= NODES; i++)); do
    local extra=()
    [[ "$NODES" == 1 ]] && extra=(--standalone) # dynamic quorum; three nodes use static voters
    storage_tool format -t "$cluster_id" -c "$DIR/node-$i/server.properties" "${extra[@]}" \
      >"$DIR/node-$i/format.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 0; i < NODES; i++)); do
    wait "${pids[$i]}" || die "storage format failed for node $((i + 1)): $(cat "$DIR/node-$((i + 1))/format.log")"
  done
  printf 'NODES=%s\nBOOTSTRAP=%s\nVOTERS=%s\nCLUSTER_ID=%s\n' "$NODES" "$BOOTSTRAP" "$VOTERS" "$cluster_id" >"$DIR/cluster.env"
}

start() {
  [[ -f "$LIB/.complete" ]] || fetch
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  if [[ -f "$DIR/cluster.env" ]]; then
    local want="$NODES"
    # shellcheck disable=SC1091
    source "$DIR/cluster.env"
    [[ -z "$NODES_ARG" || "$want" == "$NODES" ]] || die "$DIR holds a $NODES-node cluster, not $want"
  else
    init_cluster
  fi
  local i
  for ((i = 1; i <= NODES; i++)); do
    node_running "$i" && continue
    local node_dir="$DIR/node-$i"
    # shellcheck disable=SC2086
    java $JAVA_OPTS -Djava.awt.headless=true -cp "$LIB/*" kafka.Kafka "$node_dir/server.properties" \
      </dev/null >>"$node_dir/server.log" 2>&1 &
    echo $! >"$node_dir/pid"
  done
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until node "$HERE/broker-ready.mjs" "$BOOTSTRAP" "$NODES"; do
    for ((i = 1; i <= NODES; i++)); do
      node_running "$i" || die "node $i exited during startup; last log lines:
$(tail -n 20 "$DIR/node-$i/server.log")"
    done
    ((SECONDS < deadline)) || die "cluster not ready after ${START_TIMEOUT_S}s (logs in $DIR/node-*/server.log)"
    sleep 0.5
  done
  echo "BOOTSTRAP=$BOOTSTRAP"
}

signal_nodes() { # signal node...
  local sig="$1" i
  shift
  for i in "$@"; do
    node_running "$i" && kill "-$sig" "$(cat "$DIR/node-$i/pid")" 2>/dev/null || true
  done
}

stop() {
  [[ -f "$DIR/cluster.env" ]] || return 0
  # shellcheck disable=SC1091
  source "$DIR/cluster.env"
  local nodes=() i
  if [[ -n "$NODE" ]]; then nodes=("$NODE"); else for ((i = 1; i <= NODES; i++)); do nodes+=("$i"); done; fi
  signal_nodes TERM "${nodes[@]}"
  local deadline=$((SECONDS + STOP_TIMEOUT_S)) left
  while :; do
    left=0
    for i in "${nodes[@]}"; do node_running "$i" && left=1; done
    ((left)) || break
    if ((SECONDS >= deadline)); then
      echo "kafka.sh: nodes still up after ${STOP_TIMEOUT_S}s, sending SIGKILL" >&2
      signal_nodes KILL "${nodes[@]}"
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  for i in "${nodes[@]}"; do rm -f "$DIR/node-$i/pid"; done
}

kill_node() {
  [[ -n "$NODE" ]] || die "kill needs --node I"
  signal_nodes KILL "$NODE"
  while node_running "$NODE"; do sleep 0.1; done
}

CMD="${1:-}"
[[ -n "$CMD" ]] || usage
shift
DIR="" NODES=1 NODES_ARG="" NODE=""
while (($#)); do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --nodes) NODES="$2"; NODES_ARG=1; shift 2 ;;
    --node) NODE="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$NODES" == 1 || "$NODES" == 3 ]] || die "--nodes must be 1 or 3"

case "$CMD" in
  fetch) fetch ;;
  start) [[ -n "$DIR" ]] || die "start needs --dir D"; start ;;
  stop) [[ -n "$DIR" ]] || die "stop needs --dir D"; DIR="$(cd "$DIR" && pwd)"; stop ;;
  kill) [[ -n "$DIR" ]] || die "kill needs --dir D"; DIR="$(cd "$DIR" && pwd)"; kill_node ;;
  *) usage ;;
esac
