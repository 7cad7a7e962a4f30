#!/usr/bin/env bash
# Failover times of govs and keepalived side by side, in one harness: two
# VRRP routers, a client and a real server on a bridge in network
# namespaces, 100 ms adverts. The master (priority 150) crashes (stopped,
# link down) at a random phase of its advert timer; the time runs until the
# client's first fresh connection is answered by the new master. Pairings:
# keepalived→keepalived (the reference), govs→keepalived, keepalived→govs,
# govs→govs.
#
# Needs root, Linux, Go, keepalived and tcpdump (scripts/deps.sh installs
# them). RUNS (default 20) sets the runs per pairing; about 2.5 s each.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
out=$(mktemp /tmp/govs-failover.XXXXXX)
trap 'rm -f "$out"' EXIT
GOVS_VRRP_BENCH=$RUNS GOVS_VRRP_BENCH_OUT=$out go test -count=1 -timeout 30m -run '^TestFailoverTimes$' ./test/e2e/ >/dev/null
echo "failover, 100 ms adverts, master crash to first answer from the new master ($RUNS runs each):"
cat "$out"
awk '/^keepalived→keepalived/ {ref=$8} {med[$1]=$8} END {
	if (ref > 0) for (p in med) if (p != "keepalived→keepalived") printf "%-22s median %.2fx keepalived→keepalived\n", p, med[p]/ref }' "$out" | sort
