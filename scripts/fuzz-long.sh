#!/usr/bin/env bash
# Long fuzz campaign: runs every FuzzXxx target of the module (or those matching $1, a
# regular expression on "package/Target") for FUZZ_MINUTES minutes each (default 2,
# multiplied by FUZZ_SCALE), then copies the corpus the fuzzer found (kept in Go's cache)
# into each package's testdata/fuzz/<Target>/, so that every `go test` (and CI) replays
# it. Commit the new files. Run it whenever a decoder changed.
#
#   scripts/fuzz-long.sh                     # all targets, 2 minutes each
#   FUZZ_MINUTES=10 scripts/fuzz-long.sh mqtt/FuzzDecode
#
# A run that ends with Go's bare "context deadline exceeded" (golang/go#75804: the
# deadline hit a worker mid-input) is not a finding; a real one is reported with its
# failing input under testdata/fuzz, and the script exits 1 after the other targets.
set -uo pipefail
cd "$(dirname "$0")/.."

minutes=$(( ${FUZZ_MINUTES:-2} * ${FUZZ_SCALE:-1} ))
filter=${1:-.}
cache=$(go env GOCACHE)/fuzz
max_entry=$((64 << 10)) # larger corpus entries stay in the cache only
failed=0
summary=()

for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    name="$(basename "$pkg")/$target"
    [[ "$name" =~ $filter ]] || continue
    echo "== $pkg $target (${minutes}m)"
    log=$(mktemp)
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${minutes}m" "$pkg" 2>&1 | tee "$log" | grep -E 'elapsed|FAIL|PASS|written' | tail -n 3
    status=${PIPESTATUS[0]}
    execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
    if [ "$status" -ne 0 ]; then
      if grep -q 'Failing input written to' "$log"; then
        echo "!! $name: a failing input was found (see above); fix the code and keep the file"
        failed=1
      elif ! grep -q 'context deadline exceeded' "$log"; then
        echo "!! $name: go test failed"; tail -n 20 "$log"; failed=1
      fi
    fi
    rm -f "$log"
    src="$cache/$pkg/$target"
    dst="$dir/testdata/fuzz/$target"
    added=0
    if [ -d "$src" ]; then
      mkdir -p "$dst"
      for f in "$src"/*; do
        [ -f "$f" ] || continue
        [ "$(stat -c %s "$f")" -le "$max_entry" ] || continue
        if [ ! -e "$dst/$(basename "$f")" ]; then
          cp "$f" "$dst/" && added=$((added + 1))
        fi
      done
    fi
    total=$(find "$dst" -type f 2>/dev/null | wc -l)
    summary+=("$name: ${execs:-0} execs, $added new corpus entries ($total in testdata)")
  done
done
echo "== summary (${minutes} min per target)"
printf '%s\n' "${summary[@]}"
exit $failed
