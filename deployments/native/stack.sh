#!/usr/bin/env bash
# Runs the whole Ganlink stack on one machine without Docker: mosquitto, VictoriaMetrics,
# the simulated workshop (devsim), the gateway and the aggregator (with the example
# registry and tokens from configs/), all bound to 127.0.0.1.
#
#   deployments/native/stack.sh start [DIR]   # default DIR=./ganlink-stack
#   deployments/native/stack.sh status [DIR]
#   deployments/native/stack.sh stop [DIR]
#
# Ports: MQTT 1883, OPC UA 4840, VictoriaMetrics 8428, gateway admin 9273, aggregator API
# 9280 (override with MQTT_PORT, OPCUA_PORT, VM_PORT, ADMIN_PORT, API_PORT). Needs
# scripts/install-deps.sh first.
set -euo pipefail
cmd=${1:-start}
dir=$(realpath -m "${2:-./ganlink-stack}")
root=$(cd "$(dirname "$0")/../.." && pwd)
MQTT_PORT=${MQTT_PORT:-1883} OPCUA_PORT=${OPCUA_PORT:-4840} VM_PORT=${VM_PORT:-8428} ADMIN_PORT=${ADMIN_PORT:-9273}
API_PORT=${API_PORT:-9280}

wait_port() { # name port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && { exec 3>&- 3<&-; return 0; }
    sleep 0.1
  done
  echo "stack: $1 not listening on $2; see $dir/$1.log" >&2; return 1
}

start_bg() { # name command...
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

case $cmd in
start)
  mkdir -p "$dir/bin" "$dir/vm"
  (cd "$root" && go build -o "$dir/bin/" ./cmd/gateway ./cmd/devsim ./cmd/aggregator)
  cat >"$dir/mosquitto.conf" <<CONF
per_listener_settings false
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
CONF
  start_bg mosquitto mosquitto -c "$dir/mosquitto.conf"
  start_bg victoria-metrics victoria-metrics -httpListenAddr=127.0.0.1:$VM_PORT -storageDataPath="$dir/vm" -retentionPeriod=1y
  wait_port mosquitto "$MQTT_PORT"; wait_port victoria-metrics "$VM_PORT"
  start_bg devsim "$dir/bin/devsim" -machines 4 -opcua-addr 127.0.0.1:$OPCUA_PORT -mqtt-broker tcp://127.0.0.1:$MQTT_PORT
  wait_port devsim "$OPCUA_PORT"
  "$dir/bin/devsim" config -machines 4 -legacy 1 -opcua-endpoint opc.tcp://127.0.0.1:$OPCUA_PORT \
    -mqtt-broker tcp://127.0.0.1:$MQTT_PORT -influx-url http://127.0.0.1:$VM_PORT \
    -queue-dir "$dir/queue" -admin 127.0.0.1:$ADMIN_PORT >"$dir/gateway.yaml"
  "$dir/bin/gateway" validate "$dir/gateway.yaml"
  start_bg gateway "$dir/bin/gateway" -config "$dir/gateway.yaml"
  wait_port gateway "$ADMIN_PORT"
  cat >"$dir/aggregator.yaml" <<CONF
listen: "127.0.0.1:$API_PORT"
registry: $root/configs/registry.example.yaml
tokens_file: $root/configs/aggregator.tokens.example.yaml
window: 1m
backend: {type: promql, url: "http://127.0.0.1:$VM_PORT"}
write_back: {enabled: true, url: "http://127.0.0.1:$VM_PORT", bucket: ganlink, interval: 1m, period: 1h}
CONF
  "$dir/bin/aggregator" validate "$dir/aggregator.yaml"
  start_bg aggregator "$dir/bin/aggregator" -config "$dir/aggregator.yaml"
  wait_port aggregator "$API_PORT"
  echo "stack running in $dir"
  echo "  gateway status:   http://127.0.0.1:$ADMIN_PORT/"
  echo "  gateway metrics:  http://127.0.0.1:$ADMIN_PORT/metrics"
  echo "  VictoriaMetrics:  http://127.0.0.1:$VM_PORT/vmui"
  echo "  aggregator API:   http://127.0.0.1:$API_PORT/api/v1/programme (Authorization: Bearer example-province-token)"
  ;;
status)
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid)
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$n: running (pid $(cat "$f"))"; else echo "$n: stopped"; fi
  done
  ;;
stop)
  for n in aggregator gateway devsim victoria-metrics mosquitto; do
    f="$dir/$n.pid"
    [ -e "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
  echo "stack stopped"
  ;;
*) echo "usage: $0 start|status|stop [DIR]" >&2; exit 2 ;;
esac
