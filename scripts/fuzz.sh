#!/usr/bin/env bash
# Runs every fuzz target in the repository, one after the other, and prints
# per target the executions, the new corpus entries the engine kept (in
# Go's cache, not the repository) and whether it found a crash. Exits
# non-zero if any target crashed or could not run.
#
# A crash leaves its input in PKG/testdata/fuzz/TARGET/, where the plain
# `go test` that CI runs replays it: fix the package, keep the file.
#
# Environment: FUZZTIME (per target, default 60s; "Nx" for N executions),
# FUZZ_PARALLEL (workers, default 1: the engine otherwise starts one per
# CPU and starves whatever else runs), FUZZ_MINIMIZE (time the engine may
# spend shrinking each new input, default 2s; Go's 60s spends most of a
# short run shrinking large seeds instead of fuzzing), FUZZ_ONLY (a regular
# expression: run only the targets whose name matches), KEEP=1 keeps the
# logs.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-60s}
FUZZ_PARALLEL=${FUZZ_PARALLEL:-1}
FUZZ_MINIMIZE=${FUZZ_MINIMIZE:-2s}
FUZZ_ONLY=${FUZZ_ONLY:-.}
LOGS=$(mktemp -d /tmp/govs-fuzz.XXXXXX)
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "# logs in $LOGS" >&2 || rm -rf "$LOGS"; }
trap cleanup EXIT

# Targets are found rather than listed, so that a new one is fuzzed
# without anyone remembering to add it here.
targets=()
while IFS= read -r line; do
	file=${line%%:*}
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"${line#*:}")
	[[ $name =~ $FUZZ_ONLY ]] || continue
	targets+=("./$(dirname "${file#./}") $name")
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort)
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no targets match $FUZZ_ONLY" >&2
	exit 1
fi

corpus() { # pkg target: the inputs the repository holds for it
	ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true
}

failed=0
printf '%-10s %-16s %8s %12s %6s  %s\n' package target time execs kept result
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	log="$LOGS/${pkg//\//_}.$name.log"
	before=$(corpus "$pkg" "$name")
	rc=0
	# -timeout 0: go test's default 10 minutes would end a long -fuzztime
	# run as a failure. -run '^$' skips the package's other tests.
	go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZ_MINIMIZE" \
		-parallel "$FUZZ_PARALLEL" -timeout 0 "$pkg" >"$log" 2>&1 || rc=$?
	last=$(grep -E '^fuzz: elapsed' "$log" | tail -n 1 || true)
	took=$(sed -nE 's/^fuzz: elapsed: ([^,]+),.*/\1/p' <<<"$last")
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	kept=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	new=$(comm -13 <(echo "$before") <(corpus "$pkg" "$name") | grep . || true)
	if [ -n "$new" ]; then
		result="CRASH: ${pkg#./}/testdata/fuzz/$name/$(head -n 1 <<<"$new")"
		failed=1
	elif [ "$rc" = 0 ]; then
		result=ok
	elif grep -q '^    context deadline exceeded$' "$log"; then
		# go.dev/issue/75804 (fixed in Go 1.27): the engine can report its
		# own -fuzztime deadline as a failure. No input failed.
		result="ok (the engine's deadline race, no failing input)"
	else
		result="FAILED (exit $rc)"
		failed=1
	fi
	printf '%-10s %-16s %8s %12s %6s  %s\n' "${pkg#./}" "$name" "${took:-?}" "${execs:-?}" "${kept:-?}" "$result"
	if [[ $result != ok* ]]; then
		if grep -q -- '--- FAIL' "$log"; then
			sed -n '/--- FAIL/,$p' "$log" | head -n 40 >&2 || true
		else
			tail -n 20 "$log" >&2
		fi
	fi
done
exit "$failed"
