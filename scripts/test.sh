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

echo "== go test -race: the patched OPC UA stack (third_party/gopcua, its own module)"
# TestResolveEndpoint resolves example.com: it needs DNS, which the test machines lack
# (it fails offline upstream too); every patch test runs.
(cd third_party/gopcua && go test -race -count=1 -skip '^TestResolveEndpoint$' ./ua ./uasc ./uacp ./id)

# Fuzz budgets are execution counts, not durations: a duration-bounded run can fail with a
# bare "context deadline exceeded" when the deadline hits a worker mid-input (a race in Go's
# fuzz coordinator, golang/go#75804, fixed in Go 1.27). Each count is about 5-10 s on a
# 2-core machine; FUZZ_SCALE multiplies them (e.g. FUZZ_SCALE=20 for a long local run).
declare -A FUZZ_EXECS=(
  [config/FuzzLoad]=30000         # YAML parse + validate, ~5 000 execs/s
  [config/FuzzUpsert]=50000       # edits and re-parses a file per input, ~7 000 execs/s
  [queue/FuzzReadSegment]=6000    # writes and opens a queue directory per input, ~1 000 execs/s
  [mqtt/FuzzDecode]=20000         # every configuration variant per input, ~2 500 execs/s
  [mqtt/FuzzPayloadPaths]=50000   # lists and re-resolves every path, ~8 000 execs/s
  [mqtt/FuzzSessionRead]=50000    # a session reader over a pipe per input, ~8 000 execs/s
  [api/FuzzParseQuery]=30000      # aggregator targets: 2 000-7 000 execs/s
  [api/FuzzWriteCSV]=30000
  [api/FuzzPeriod]=30000
  [service/FuzzParseDuration]=30000
  [opcua/FuzzConvertValue]=50000  # 5 000-10 000 execs/s
  [modbus/FuzzRTUReply]=50000     # ~7 500 execs/s
  [devsim/FuzzRTURequest]=30000   # ~5 000 execs/s
  [corrections/FuzzStoreOpen]=10000 # fsyncs a file per input, ~2 700 execs/s
)                                 # others: 100 000, ~10 000-20 000 execs/s
echo "== fuzz (execution-count budgets x${FUZZ_SCALE:=1})"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    n=$(( ${FUZZ_EXECS[$(basename "$pkg")/$target]:-100000} * FUZZ_SCALE ))
    echo "-- $pkg $target (${n} execs)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${n}x" "$pkg"
  done
done
# The patched OPC UA stack's own fuzz targets (its own module: not in ./... above).
for target in FuzzDecodePublishResponse; do
  n=$(( 100000 * FUZZ_SCALE ))
  echo "-- third_party/gopcua/ua $target (${n} execs)"
  (cd third_party/gopcua && go test -run '^$' -fuzz "^${target}\$" -fuzztime "${n}x" ./ua)
done
echo "== all tests passed"
