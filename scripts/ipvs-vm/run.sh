#!/usr/bin/env bash
# Runs the kernel data plane's guest suite (dataplane/ipvs) against
# Debian's own kernel in a qemu guest, since a test machine's kernel may
# have no IPVS. Needs root on a Debian-family system; installs what it
# needs with apt-get, downloads the kernel package without installing it,
# and caches the kernel and the base image so reruns take seconds.
#
# Usage: bash scripts/ipvs-vm/run.sh [go test flags for the guest, e.g. -test.run Guest]
# Environment:
#   GOVS_IPVS_VM_CACHE  cache directory (default $XDG_CACHE_HOME/govs-ipvs-vm)
#   GOVS_IPVS_BENCH     services for the benchmark (default 10000; 0 skips it)
#   GOVS_IPVS_VM_TIMEOUT seconds the guest may run (default 600)
#
# Prints "ipvs-vm: PASS (N tests)" or the failures, and exits non-zero on
# failure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${GOVS_IPVS_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/govs-ipvs-vm}
vm_timeout=${GOVS_IPVS_VM_TIMEOUT:-600}
bench=${GOVS_IPVS_BENCH:-10000}
started=$(date +%s)

say() { echo "ipvs-vm: $*" >&2; }
die() {
	echo "ipvs-vm: FAIL ($*)"
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root: apt-get, and root inside the guest image"
command -v apt-get >/dev/null || die "needs a Debian-family system with apt-get"
command -v go >/dev/null || die "needs the Go toolchain"

# --- host tools -------------------------------------------------------------
want_pkgs=(qemu-system-x86 busybox-static ipvsadm nftables iproute2 kmod cpio xz-utils zstd gzip libc-bin vsftpd curl)
missing=()
for p in "${want_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
apt_updated=0
apt_update() {
	if [ $apt_updated = 0 ]; then
		say "apt-get update"
		apt-get update -qq >/dev/null
		apt_updated=1
	fi
}
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt_update
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$cache"

# --- the kernel ---------------------------------------------------------------
# The versioned package that linux-image-amd64 depends on; remembered, so a
# rerun without a network still finds its cached kernel.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true)
if [ -z "$kpkg" ]; then
	apt_update
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true)
fi
if [ -z "$kpkg" ] && [ -f "$cache/kernel.pkg" ]; then
	kpkg=$(cat "$cache/kernel.pkg")
fi
[ -n "$kpkg" ] || die "cannot find the kernel package linux-image-amd64 depends on"
kroot="$cache/$kpkg"
if [ ! -f "$kroot/.done" ]; then
	say "downloading $kpkg"
	rm -rf "$kroot" "$cache/dl"
	mkdir -p "$cache/dl"
	(cd "$cache/dl" && apt-get download -qq "$kpkg" >/dev/null 2>&1) || {
		apt_update
		(cd "$cache/dl" && apt-get download -qq "$kpkg" >/dev/null)
	}
	dpkg-deb -x "$cache"/dl/*.deb "$kroot"
	rm -rf "$cache/dl"
	touch "$kroot/.done"
	echo "$kpkg" >"$cache/kernel.pkg"
fi
kver=$(ls "$kroot/lib/modules" | head -n1)
vmlinuz="$kroot/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || die "no vmlinuz in $kpkg"

# --- the base image: busybox, tools, modules (cached) --------------------------
modules=(crc32c_generic libcrc32c ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sed ip_vs_nq
	ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_mh ip_vs_fo ip_vs_ovf ip_vs_twos ip_vs_ftp
	nf_tables nft_ct veth bridge ipip ip6_tunnel tunnel6)
# vsftpd and curl are the FTP test's real servers and client.
tools=(ip ipvsadm nft vsftpd curl)
base_key=$( (echo "$kpkg ${modules[*]} ${tools[*]}"; cat "$0" "$repo/scripts/ipvs-vm/init") | sha256sum | cut -c1-16)
base="$cache/base-$base_key.cpio.gz"
if [ ! -f "$base" ]; then
	say "building the base image for $kver"
	rm -f "$cache"/base-*.cpio.gz
	[ -f "$kroot/lib/modules/$kver/modules.dep" ] || depmod -b "$kroot" "$kver"
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage"/{bin,sbin,lib,lib64,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,var,modules}
	cp "$(command -v busybox)" "$stage/bin/busybox"
	file -L "$stage/bin/busybox" 2>/dev/null | grep -q dynamic && die "busybox is not static (install busybox-static)"
	for t in "${tools[@]}"; do
		p=$(command -v "$t") || die "no $t"
		cp "$p" "$stage/sbin/$t"
		for lib in $(ldd "$p" | awk '/=>/ {print $3} /^[ \t]*\// {print $1}'); do
			mkdir -p "$stage$(dirname "$lib")"
			cp -L "$lib" "$stage$lib"
		done
	done
	# The dynamic loader sits where the binaries expect it.
	for ld in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
		[ -e "$ld" ] && mkdir -p "$stage$(dirname "$ld")" && cp -L "$ld" "$stage$ld"
	done
	echo "$kver" >"$stage/etc/kver"
	# vsftpd runs anonymous sessions as ftp, its unprivileged side as nobody.
	printf 'root:x:0:0:root:/tmp:/bin/sh\nftp:x:100:100:ftp:/tmp:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$stage/etc/passwd"
	printf 'root:x:0:\nftp:x:100:\nnogroup:x:65534:\n' >"$stage/etc/group"
	: >"$stage/modules/order"
	declare -A seen=()
	for m in "${modules[@]}"; do
		deps=$(modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>/dev/null) || {
			say "kernel $kver has no module $m; skipping it"
			continue
		}
		while read -r kind path _; do
			[ "$kind" = insmod ] || continue
			[ -n "${seen[$path]:-}" ] && continue
			seen[$path]=1
			name=$(basename "$path")
			case "$name" in
			*.xz) xz -dc "$path" >"$stage/modules/${name%.xz}"; name=${name%.xz} ;;
			*.zst) zstd -qdc "$path" >"$stage/modules/${name%.zst}"; name=${name%.zst} ;;
			*.gz) gzip -dc "$path" >"$stage/modules/${name%.gz}"; name=${name%.gz} ;;
			*) cp "$path" "$stage/modules/$name" ;;
			esac
			echo "/modules/$name" >>"$stage/modules/order"
		done <<<"$deps"
	done
	cp "$repo/scripts/ipvs-vm/init" "$stage/init"
	chmod +x "$stage/init"
	(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$base.tmp"
	mv "$base.tmp" "$base"
	rm -rf "$stage"
	trap - EXIT
fi

# --- the test binary and govs (rebuilt every run; Go's build cache keeps it quick)
work="$cache/run"
rm -rf "$work"
mkdir -p "$work/img"
say "building the test binary and govs"
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$work/img/ipvs.test" ./dataplane/ipvs/)
# The real govs binary, which TestGuestGovsBinary runs as /govs.
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/img/govs" ./cmd/govs)
# The guest's arguments, one per line, so that spaces survive.
{
	echo "-test.v"
	echo "-test.timeout=$((vm_timeout - 30))s"
	for a in "$@"; do echo "$a"; done
} >"$work/img/test.args"
echo "$bench" >"$work/img/bench"
(cd "$work/img" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$work/tests.cpio.gz"
# Linux unpacks concatenated archives in turn: the cached base, then the tests.
cat "$base" "$work/tests.cpio.gz" >"$work/initrd.gz"

# --- boot ----------------------------------------------------------------------
say "booting $kver in qemu (timeout ${vm_timeout}s)"
boot=$(date +%s)
set +e
timeout "$vm_timeout" qemu-system-x86_64 -accel tcg,thread=multi -m 1024 -smp 2 -nographic -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null >"$work/console.log" 2>&1
qrc=$?
set -e
tr -d '\r' <"$work/console.log" >"$work/console.txt"
end=$(date +%s)

if [ -n "${GOVS_IPVS_VM_VERBOSE:-}" ]; then
	cat "$work/console.txt" >&2
fi
grep -E '^ipvs-vm bench:' "$work/console.txt" >&2 || true
passed=$(grep -cE '^--- PASS' "$work/console.txt" || true)
skipped=$(grep -cE '^--- SKIP' "$work/console.txt" || true)
failed=$(grep -E '^--- FAIL' "$work/console.txt" || true)
rc_line=$(grep -E '^ipvs-vm: tests exited [0-9]+' "$work/console.txt" | tail -n1 || true)
times="boot+tests $((end - boot))s, total $((end - started))s"
if [ $qrc = 124 ]; then
	tail -n 60 "$work/console.txt" >&2
	die "the guest did not finish in ${vm_timeout}s; console in $work/console.txt"
fi
if [ -z "$rc_line" ]; then
	tail -n 60 "$work/console.txt" >&2
	die "the guest stopped before reporting (qemu exit $qrc); console in $work/console.txt"
fi
if [ "$rc_line" != "ipvs-vm: tests exited 0" ] || [ -n "$failed" ]; then
	# Show each failing test's output: from its === RUN to its --- FAIL.
	awk '/^=== RUN/ {buf=""} {buf=buf $0 "\n"} /^--- FAIL/ {printf "%s", buf}' "$work/console.txt" | tail -n 200 >&2
	echo "ipvs-vm: FAIL ($(echo "$failed" | grep -c . || true) failed, $passed passed; $times; console in $work/console.txt)"
	echo "$failed"
	exit 1
fi
echo "ipvs-vm: PASS ($passed tests, $skipped skipped; $times)"
