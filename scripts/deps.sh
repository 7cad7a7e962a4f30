#!/usr/bin/env bash
# Installs the Debian packages govs's tests use (real peers and network
# tools; Debian does not start vsftpd on install, the FTP test runs its
# own). Safe to run repeatedly: it installs only what is missing, and only
# as root on a Debian-family system; elsewhere it says what it would need.
set -euo pipefail

want=(iproute2 curl vsftpd chromium keepalived tcpdump prometheus)

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	echo "deps: not installing ${missing[*]} (needs root and apt-get); tests that need them will skip" >&2
	exit 0
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Packages are installed for their programs (promtool, keepalived, vsftpd),
# not to run as services: policy-rc.d keeps their daemons from starting.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
