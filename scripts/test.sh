#!/usr/bin/env bash
# The whole test suite: installs the real servers the tests use (mosquitto,
# VictoriaMetrics, InfluxDB 1.8.10, promtool, chromium), then vet, gofmt, race-enabled tests and a
# short run of every fuzz target. Test helpers start and stop the servers themselves on
# free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed:"; echo "$unformatted"; exit 1
fi

echo "== cross-compile the gateway for edge boxes (linux/arm64, linux/arm v7)"
for arch in arm64 arm; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOARM=7 go build -trimpath -o /dev/null ./cmd/gateway
done

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

echo "== fuzz (${FUZZTIME:=10s} each)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
  done
done
echo "== all tests passed"
