#!/usr/bin/env bash
# The soak: the router under mixed TCP and UDP load, reloaded every 3 s,
# a real server taken out and put back every 5 s, the web tool read, for
# a long time (30 minutes unless told: bench/soak.sh 2h). It prints failed
# requests and the router's RSS and descriptors over time, and fails on
# any failure or growth. CI runs the same test for 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOVS_SOAK=${1:-30m}
# The soak bounds itself; go test's default 10-minute timeout would not.
go test ./test/e2e -run '^TestSoak$' -count=1 -v -timeout 0 2>&1 | grep -v '^[[:space:]]*time='
