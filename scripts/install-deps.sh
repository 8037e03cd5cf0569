#!/usr/bin/env bash
# Installs the real servers the test suite runs against: mosquitto, VictoriaMetrics,
# promtool and chromium for the status page test (Debian packages) and InfluxDB 1.8.10
# (built from its Go module, cached).
# Idempotent: anything already present is skipped.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto mosquitto-clients)
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
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
echo "install-deps: ok (influxd at $INFLUXD_DIR/influxd)"
