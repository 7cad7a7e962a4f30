#!/usr/bin/env bash
# Screenshots of every page of the web tool, at desktop and phone sizes, as
# the Chromium end-to-end test takes them (it fails on any browser error):
#   bash scripts/screenshots.sh [DIR]     # default docs/screenshots
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-docs/screenshots}
mkdir -p "$dir"
GOVS_SCREENSHOTS=$(cd "$dir" && pwd) go test -count=1 -run 'TestWebToolInChromium$' ./test/e2e
ls "$dir"
