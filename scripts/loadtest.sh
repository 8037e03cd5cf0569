#!/usr/bin/env bash
# The load harness of issue 9 in one command: installs the servers (mosquitto,
# VictoriaMetrics), builds the gateway and loadgen, runs the reference workloads
# against them and prints the table (docs/benchmarks.md, "Load harness").
#
#   scripts/loadtest.sh                                  # all five workloads, 30 s each
#   scripts/loadtest.sh mqtt -rate 10000 -runs 3         # one workload, three runs
#   scripts/loadtest.sh mqtt -rate 2000 -duration 5s -assert-zero-loss   # smoke
#   PROFILE_DIR=/tmp/prof scripts/loadtest.sh            # plus a CPU and a heap profile per run
#   scripts/loadtest.sh peers                            # issue 16: Ganlink, Telegraf 1.39.3 and the
#                                                        # floor program, side by side with ratios
#   scripts/loadtest.sh mqtt -rate 5000 -peers ganlink,telegraf
#   scripts/loadtest.sh soak                             # one hour, MQTT + OPC UA, TSDB outage (docs/benchmarks.md)
#
# Telegraf (a peer, never a dependency) is built from the Go module proxy with only the
# plugins the workloads use and cached in $GANLINK_CACHE (default ~/.cache/ganlink),
# like influxd; only when a run needs it.
#
# Arguments are passed to loadgen (default: "all -duration 30s"); run
# "loadgen help" for its flags.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
echo "== build gateway and loadgen"
go build -o "$bin/gateway" ./cmd/gateway
go build -o "$bin/loadgen" ./cmd/loadgen

if [ $# -eq 0 ]; then
  set -- all -duration 30s
fi

# Telegraf, when a run uses it: mode "peers", or -peers naming telegraf.
telegraf_version=1.39.3
needs_telegraf=no
prev=
for a in "$@"; do
  case "$a" in
    peers) [ "$prev" = "" ] && needs_telegraf=yes ;;
  esac
  if [ "$prev" = "-peers" ] && [[ "$a" == *telegraf* ]]; then needs_telegraf=yes; fi
  case "$a" in -peers=*telegraf*) needs_telegraf=yes ;; esac
  prev=$a
done
extra=()
if [ "$needs_telegraf" = yes ]; then
  cache=${GANLINK_CACHE:-$HOME/.cache/ganlink}/telegraf-$telegraf_version
  if [ ! -x "$cache/bin/telegraf" ]; then
    echo "== build Telegraf $telegraf_version (inputs.mqtt_consumer, inputs.opcua_listener, outputs.influxdb_v2; ~5 min on 2 cores, cached in $cache)"
    mkdir -p "$cache"
    CGO_ENABLED=0 GOBIN="$cache/bin" go install \
      -tags "custom,inputs.mqtt_consumer,inputs.opcua_listener,outputs.influxdb_v2,outputs.discard,parsers.json" \
      -ldflags "-X github.com/influxdata/telegraf/internal.Version=$telegraf_version" \
      "github.com/influxdata/telegraf/cmd/telegraf@v$telegraf_version"
  fi
  echo "== $("$cache/bin/telegraf" --version)"
  extra+=(-telegraf "$cache/bin/telegraf")
fi
if [ -n "${PROFILE_DIR:-}" ]; then
  extra+=(-profile-dir "$PROFILE_DIR")
fi
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, $(go version | cut -d' ' -f3), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "== loadgen $*"
mode=$1
shift
"$bin/loadgen" "$mode" -gateway "$bin/gateway" "${extra[@]}" "$@"
if [ -n "${PROFILE_DIR:-}" ]; then
  cp "$bin/gateway" "$PROFILE_DIR/gateway"
  echo "== profiles in $PROFILE_DIR: go tool pprof -top $PROFILE_DIR/gateway $PROFILE_DIR/<workload>-<run>.pprof (CPU, whole run) or <workload>-<run>.heap.pprof (live heap at the end of the load)"
fi
