#!/usr/bin/env bash
# The govs test suite: formatting, vet, and every test. As root on Linux it
# also runs the network-namespace tests (they skip, saying why, elsewhere).
# Installs what the tests need first (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" $unformatted >&2
	exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m ./...
# The proxy plane once more on the goroutine path that systems other than
# Linux use.
GOVS_PROXY_GOROUTINES=1 go test -race -count=1 ./dataplane/proxy/
