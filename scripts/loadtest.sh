#!/usr/bin/env bash
# The load harness of issue 9 in one command: installs the servers (mosquitto,
# VictoriaMetrics), builds the gateway and loadgen, runs the reference workloads
# against them and prints the table (docs/benchmarks.md, "Load harness").
#
#   scripts/loadtest.sh                                  # all five workloads, 30 s each
#   scripts/loadtest.sh mqtt -rate 10000 -runs 3         # one workload, three runs
#   scripts/loadtest.sh mqtt -rate 2000 -duration 5s -assert-zero-loss   # smoke
#   PROFILE_DIR=/tmp/prof scripts/loadtest.sh            # plus a CPU and a heap profile per run
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
extra=()
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
