#!/usr/bin/env bash
# Installs the real servers the test suite runs against: mosquitto, VictoriaMetrics,
# promtool and chromium for the status page test, socat for the serial-bus tests (Debian
# packages), InfluxDB 1.8.10
# (built from its Go module, cached) and node-opcua (npm, cached).
# Idempotent: anything already present is skipped.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto mosquitto-clients)
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# InfluxDB 1.8.10 serves /api/v2/write; Debian's influxdb (1.6.7) does not.
INFLUXD_DIR="${GANLINK_CACHE:-$HOME/.cache/ganlink}/influxdb-1.8.10"
if [ ! -x "$INFLUXD_DIR/influxd" ]; then
  echo "install-deps: building influxd 1.8.10 into $INFLUXD_DIR (first run takes ~5 min)"
  mkdir -p "$INFLUXD_DIR"
  (cd /tmp && GOFLAGS=-mod=mod GOBIN="$INFLUXD_DIR" go install -ldflags "-X main.version=1.8.10" \
      github.com/influxdata/influxdb/cmd/influxd@v1.8.10)
fi
# node-opcua serves the OPC UA tests that need TranslateBrowsePathsToNodeIds (gopcua's
# server does not implement it); it needs Node.js and npm on the PATH.
NODE_OPCUA_DIR="${GANLINK_CACHE:-$HOME/.cache/ganlink}/node-opcua-2.186.4"
if [ ! -d "$NODE_OPCUA_DIR/node_modules/node-opcua" ]; then
  echo "install-deps: npm install node-opcua@2.186.4 into $NODE_OPCUA_DIR"
  mkdir -p "$NODE_OPCUA_DIR"
  (cd "$NODE_OPCUA_DIR" && npm install --no-audit --no-fund --loglevel=error node-opcua@2.186.4 >/dev/null)
fi
echo "install-deps: ok (influxd at $INFLUXD_DIR/influxd, node-opcua in $NODE_OPCUA_DIR)"
