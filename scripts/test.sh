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
# The default plane runs anywhere: a Linux-only name used from portable
# code must fail here, not on an operator's Mac. go vet type-checks the
# tests too, so on Windows, the farthest from Linux, a test that only
# builds on Linux fails here as well; the other targets are built.
GOOS=windows GOARCH=amd64 go vet ./...
for target in darwin/amd64 darwin/arm64 freebsd/amd64 linux/arm64; do
	GOOS=${target%/*} GOARCH=${target#*/} go build ./...
done
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/test/e2e$')
# The end-to-end suite on its own: its VRRP elections and failovers are
# timed in hundreds of milliseconds, and must not share two cores with the
# kernel-plane suite's emulated guest.
go test -race -count=1 -timeout 20m ./test/e2e/
# The proxy plane once more on the goroutine path that systems other than
# Linux use.
GOVS_PROXY_GOROUTINES=1 go test -race -count=1 ./dataplane/proxy/
