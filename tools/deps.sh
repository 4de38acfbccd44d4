#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package that building, testing and benchmarking ssbpf
# needs. Idempotent: prints nothing and touches nothing when all are present.
set -euo pipefail

pkgs=(
	# build
	make gcc clang llvm pkg-config libbpf-dev bpftool libsodium-dev libssl-dev
	libmnl-dev libc-ares-dev libelf-dev zlib1g-dev libqrencode-dev
	# libFuzzer and sanitizer runtimes for clang
	libclang-rt-14-dev
	# tests: peers, clients, sanitizer runtimes, namespaces
	shadowsocks-libev simple-obfs shadowsocks-v2ray-plugin curl python3 netcat-openbsd
	iproute2 nftables valgrind procps util-linux
	# a QR decoder for ssctl url --qr
	zbar-tools
	# observability tests: the metrics checkers, a terminal for ssctl top
	prometheus python3-prometheus-client tmux
	# the second BLAKE3 oracle (SIP022)
	b3sum python3-cryptography
	# make deb and its test
	debhelper lintian dpkg-dev fakeroot zsh
	# benchmarks
	iperf3 haproxy gnuplot-nox
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]}; run tools/deps.sh as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package enables a system ss-server on 8388; ssbpf's own tests and
# `make run` use that port, so keep the packaged service from starting.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl disable --now shadowsocks-libev prometheus >/dev/null 2>&1 || true
fi
