#!/usr/bin/env bash
# Installs, from Debian's archive only, what synfin needs to build, run and
# be tested. Idempotent: does nothing when everything is there.
set -euo pipefail

pkgs=(
	# build
	make gcc libc6-dev linux-libc-dev clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libmnl-dev libjansson-dev libsystemd-dev libncurses-dev pkg-config
	# fuzzing and sanitizers: clang's libFuzzer/ASan/UBSan runtimes (only
	# recommended by clang, so not there with --no-install-recommends)
	libclang-rt-dev
	# run and test
	iproute2 nftables python3 jq tcpdump tshark libbpf-tools util-linux procps socat tmux
	# fault tests: a SYN flood (tests/kernel/test_synflood.sh)
	hping3
	# --metrics (libmicrohttpd), its tests against a real Prometheus server
	libmicrohttpd-dev prometheus curl
	# the service under a real systemd, its man page and Debian package
	systemd systemd-container mandoc man-db dpkg-dev build-essential debhelper lintian
)

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
	echo "install-deps: not a Debian system (no dpkg/apt-get): install by hand: ${pkgs[*]}" >&2
	exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root (sudo make ...) to install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive # tshark asks whether non-root may capture: no
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
