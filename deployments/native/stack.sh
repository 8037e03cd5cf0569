#!/usr/bin/env bash
# Runs a park's whole Ganlink stack on one machine without Docker, on 127.0.0.1 only:
# two demo workshops (ws1 and ws2 of the example registry, each a `gateway -demo` with its
# own simulation), VictoriaMetrics, vmauth in front of it (one reader per park and region
# of the registry, passwords generated at the first start), vmalert with the shipped alert
# rules and Alertmanager, and the aggregator with a province API token generated at the
# first start. Nothing uses an example secret.
#
#   deployments/native/stack.sh start [DIR]   # default DIR=./ganlink-stack
#   deployments/native/stack.sh status [DIR]
#   deployments/native/stack.sh stop [DIR]
#
# Ports: VictoriaMetrics 8428 (gateways and aggregator only), vmauth 8427 (readers:
# Grafana), vmalert 8880, Alertmanager 9093, gateway status pages 9273 (ws1) and 9274
# (ws2), aggregator API 9280; override with VM_PORT, VMAUTH_PORT, VMALERT_PORT, AM_PORT,
# ADMIN_PORT, ADMIN2_PORT, API_PORT. Secrets are in DIR/access (mode 0600). Needs
# scripts/install-deps.sh first.
set -euo pipefail
cmd=${1:-start}
dir=$(realpath -m "${2:-./ganlink-stack}")
root=$(cd "$(dirname "$0")/../.." && pwd)
VM_PORT=${VM_PORT:-8428} VMAUTH_PORT=${VMAUTH_PORT:-8427} VMALERT_PORT=${VMALERT_PORT:-8880} AM_PORT=${AM_PORT:-9093}
ADMIN_PORT=${ADMIN_PORT:-9273} ADMIN2_PORT=${ADMIN2_PORT:-9274} API_PORT=${API_PORT:-9280}
services="aggregator vmalert alertmanager vmauth gateway-ws2 gateway-ws1 victoria-metrics"

wait_port() { # name port
  for _ in $(seq 1 300); do
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
  mkdir -p "$dir/bin" "$dir/vm" "$dir/alertmanager"
  install -d -m 0700 "$dir/access"
  (cd "$root" && go build -o "$dir/bin/" ./cmd/gateway ./cmd/aggregator)
  vm=http://127.0.0.1:$VM_PORT
  start_bg victoria-metrics victoria-metrics -httpListenAddr=127.0.0.1:$VM_PORT -storageDataPath="$dir/vm" -retentionPeriod=1y
  wait_port victoria-metrics "$VM_PORT"
  start_bg gateway-ws1 "$dir/bin/gateway" -demo -workshop ws1 -seed 1 -listen 127.0.0.1:$ADMIN_PORT \
    -data-dir "$dir/ws1" -influx-url "$vm"
  start_bg gateway-ws2 "$dir/bin/gateway" -demo -workshop ws2 -seed 2 -listen 127.0.0.1:$ADMIN2_PORT \
    -data-dir "$dir/ws2" -influx-url "$vm"

  # Secrets, made at the first start and kept after: the TSDB readers (one per park and
  # region of the registry, behind vmauth) and the province's API token.
  "$dir/bin/aggregator" init-secrets -registry "$root/configs/registry.example.yaml" -backend "$vm" -dir "$dir/access" >"$dir/access/init-secrets.txt"
  key=$(awk '$1 == "vmauth" {print $2}' "$dir/access/vmauth.key")
  start_bg vmauth vmauth -httpListenAddr=127.0.0.1:$VMAUTH_PORT -auth.config="$dir/access/vmauth.yml" \
    -metricsAuthKey="$key" -pprofAuthKey="$key" -reloadAuthKey="$key"

  cat >"$dir/alertmanager/alertmanager.yml" <<CONF
# Receives the alerts of vmalert; add receivers (e-mail, WeCom, DingTalk webhooks) here.
route: {receiver: operators, group_by: [alertname, workshop]}
receivers:
  - name: operators
CONF
  start_bg alertmanager prometheus-alertmanager --config.file="$dir/alertmanager/alertmanager.yml" \
    --storage.path="$dir/alertmanager" --web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address=
  wait_port alertmanager "$AM_PORT"
  start_bg vmalert vmalert -httpListenAddr=127.0.0.1:$VMALERT_PORT -rule="$root/deployments/alerts/ganlink.rules.yml" \
    -datasource.url="$vm" -notifier.url=http://127.0.0.1:$AM_PORT

  cat >"$dir/aggregator.yaml" <<CONF
listen: "127.0.0.1:$API_PORT"
registry: $root/configs/registry.example.yaml
tokens_file: $dir/access/tokens.yaml
window: 1m
backend: {type: promql, url: "$vm"}
write_back: {enabled: true, url: "$vm", bucket: ganlink, interval: 1m, period: 1h}
CONF
  "$dir/bin/aggregator" validate "$dir/aggregator.yaml"
  start_bg aggregator "$dir/bin/aggregator" -config "$dir/aggregator.yaml"
  wait_port gateway-ws1 "$ADMIN_PORT"; wait_port gateway-ws2 "$ADMIN2_PORT"
  wait_port vmauth "$VMAUTH_PORT"; wait_port vmalert "$VMALERT_PORT"; wait_port aggregator "$API_PORT"
  echo "stack running in $dir"
  echo "  workshop ws1 status:  http://127.0.0.1:$ADMIN_PORT/"
  echo "  workshop ws2 status:  http://127.0.0.1:$ADMIN2_PORT/"
  echo "  TSDB for Grafana:     http://127.0.0.1:$VMAUTH_PORT (Prometheus type; users and passwords in $dir/access/tsdb-users.txt)"
  echo "  alerts:               http://127.0.0.1:$VMALERT_PORT/vmalert/alerts, Alertmanager http://127.0.0.1:$AM_PORT/"
  echo "  aggregator API:       http://127.0.0.1:$API_PORT/api/v1/programme (Authorization: Bearer \$(cat $dir/access/api-token))"
  ;;
status)
  for n in $services; do
    f="$dir/$n.pid"
    [ -e "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$n: running (pid $(cat "$f"))"; else echo "$n: stopped"; fi
  done
  ;;
stop)
  for n in $services; do
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
