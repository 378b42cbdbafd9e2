#!/usr/bin/env bash
# make bench: the whole-daemon fleet benchmark plus the package benchmarks.
# Figures go into BENCHMARKS.md together with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 || true
export OUTPOST_BIN="$PWD/outpost"
go test -run '^$' -bench 'BenchmarkFleet' -benchtime 1x -timeout 30m ./appliance/bench/
go test -run '^$' -bench . -benchmem -timeout 20m $(go list ./... | grep -v /appliance/bench)
