#!/usr/bin/env bash
# The soak: the router under mixed TCP and UDP load, reloaded every 3 s,
# a real server drained and put back every 5 s, the web tool read, for
# a long time (30 minutes unless told: bench/soak.sh 2h). It prints failed
# requests and the router's RSS and descriptors over time, and fails on
# any failure or growth. CI runs the same test for 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOVS_SOAK=${1:-30m}
# The soak bounds itself; go test's default 10-minute timeout would not.
# The whole output, with the router's log when it fails, is kept in
# soak.log; the terminal gets the report.
log=${SOAK_LOG:-soak.log}
echo "full output in $log"
go test ./test/e2e -run '^TestSoak$' -count=1 -v -timeout 0 2>&1 | tee "$log" | grep -v '^[[:space:]]*time='
