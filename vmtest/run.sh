#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vmtest/run.sh [KERNEL [MODULES_DIR]]: boots a kernel under qemu (KVM when
# /dev/kvm is there, software emulation otherwise) with an initramfs built
# here (busybox, the built binaries and their libraries, python3, the
# kernel-facing tests and every module they import, the kernel modules they
# need), runs the tests inside, and reports the guest's kernel, what it ran
# natively and what fell back, and each result, ending with "N passed, N
# failed". KERNEL is 5.10, 6.1 (the default) or 6.12 (Debian's newest of that
# series, fetched by vmtest/kernel.sh), or the path of a kernel image.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${SSBPF_BUILD:-build}
WORK=${VMTEST_DIR:-$BUILD/vmtest}
TIMEOUT=${VMTEST_TIMEOUT:-1800}
TESTS=${VMTEST_TESTS:-"tests/integration/test_tiers.py tests/integration/test_resets.py tests/integration/test_udp.py tests/netns/test_gateway.py tests/netns/test_shortcut.py"}
KERNEL=${1:-${KERNEL:-6.1}}
MODDIR=${2:-}

need() { # package command
	command -v "$2" >/dev/null && return
	echo "vmtest: installing $1" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}
need qemu-system-x86 qemu-system-x86_64
need busybox-static busybox
need cpio cpio
need kmod modprobe
need xz-utils xz
need zstd zstd
for b in ssserver sslocal ssctl; do
	[ -x "$BUILD/$b" ] || { echo "vmtest: $BUILD/$b is missing; run make first" >&2; exit 1; }
done
mkdir -p "$WORK"

# The kernel: a Debian series by number, or an image given by path.
if [ ! -e "$KERNEL" ]; then
	mapfile -t k < <(vmtest/kernel.sh "$KERNEL" "$WORK")
	[ "${#k[@]}" = 2 ] || { echo "vmtest: cannot get kernel $KERNEL" >&2; exit 1; }
	KERNEL=${k[0]}
	MODDIR=${k[1]}
fi
KVER=$(basename "${MODDIR:-/nonexistent}")

# The root file system, kept in the initramfs.
R=$WORK/root
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,var/lib,ssbpf/build,lib/modules}
cp "$(command -v busybox)" "$R/bin/busybox"
copy() { # a file and the shared libraries it needs, at the same paths
	local f
	for f in "$@"; do
		f=$(readlink -f "$f")
		mkdir -p "$R$(dirname "$f")"
		cp -n "$f" "$R$f" 2>/dev/null || true
		{ ldd "$f" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | while read -r l; do
			mkdir -p "$R$(dirname "$l")"
			cp -nL "$l" "$R$l" 2>/dev/null || true
		done
	done
}
for t in /usr/bin/python3 ip nft bpftool curl ss setpriv iperf3; do
	p=$(command -v "$t") || { echo "vmtest: $t is missing on the host" >&2; exit 1; }
	copy "$p"
	mkdir -p "$R$(dirname "$p")"
	[ -e "$R$p" ] || ln -s "$(readlink -f "$p")" "$R$p"
done
copy /lib64/ld-linux-x86-64.so.2
# Loaded at run time, so ldd does not list it: python's threads need it to exit.
copy "$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/ {print $NF; exit}')"
py=$(/usr/bin/python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
mkdir -p "$R/usr/lib"
tar -C /usr/lib --exclude=test --exclude=idlelib --exclude=tkinter \
	--exclude=ensurepip -cf - "$py" | tar -C "$R/usr/lib" -xf -
for b in ssserver sslocal ssctl asan/ssserver asan/sslocal; do
	[ -x "$BUILD/$b" ] || continue # the sanitizer builds come with make test
	copy "$BUILD/$b"
	mkdir -p "$(dirname "$R/ssbpf/build/$b")"
	cp "$BUILD/$b" "$R/ssbpf/build/$b"
done
# libev's daemons, for the UDP tests that check interoperation.
for t in ss-server ss-local ss-tunnel; do
	p=$(command -v "$t") && copy "$p" && mkdir -p "$R$(dirname "$p")" &&
		{ [ -e "$R$p" ] || ln -s "$(readlink -f "$p")" "$R$p"; }
done
mkdir -p "$R/ssbpf/tests" "$R/ssbpf/tools"
cp -r tests/lib tests/integration tests/netns "$R/ssbpf/tests/"
cp tools/*.py "$R/ssbpf/tools/"
printf 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$R/etc/hosts"
printf 'nameserver 127.0.0.1\n' > "$R/etc/resolv.conf"

# The modules the tests may need, with their dependencies (when the kernel has modules).
if [ -n "$MODDIR" ] && [ -d "$MODDIR" ]; then
	base=$(dirname "$(dirname "$(dirname "$MODDIR")")")
	want="veth nf_tables nft_tproxy nf_tproxy_ipv4 nf_tproxy_ipv6 nft_socket nf_socket_ipv4
	      nf_socket_ipv6 nft_chain_nat nft_nat nft_redir nf_nat nft_ct nf_conntrack nft_fib_inet
	      nft_reject_inet nft_compat sch_ingress cls_bpf"
	mkdir -p "$R/lib/modules/$KVER"
	[ -e "$MODDIR/modules.dep" ] || depmod -b "$base" "$KVER"
	for m in $want; do
		{ modprobe -d "$base" -S "$KVER" --show-depends "$m" 2>/dev/null || true; } |
			awk '$1 == "insmod" {print $2}'
	done | awk '!seen[$0]++' > "$R/modules.order"
	# busybox insmod takes plain modules: compressed ones (trixie's .ko.xz) are unpacked.
	while read -r ko; do
		case "$ko" in
		*.xz) xz -dc "$ko" > "$R/lib/modules/$KVER/$(basename "${ko%.xz}")" ;;
		*.zst) zstd -qdc "$ko" > "$R/lib/modules/$KVER/$(basename "${ko%.zst}")" ;;
		*) cp "$ko" "$R/lib/modules/$KVER/" ;;
		esac
	done < "$R/modules.order"
	sed -i 's|.*/||; s|\.ko\.[a-z]*$|.ko|' "$R/modules.order"
fi

sed -e "s|@TESTS@|$TESTS|" -e "s|@TIER_MB@|${VMTEST_TIER_MB:-64}|" -e "s|@SLOW_S@|${VMTEST_SLOW_S:-5}|" \
    -e "s|@RESET_TRIALS@|${VMTEST_RESET_TRIALS:-50}|" -e "s|@GW_MB@|${VMTEST_GW_MB:-16}|" \
    vmtest/init.sh > "$R/init"
chmod +x "$R/init"

# Every test file must import in the guest's file system (tools/ moved in
# once and every file died at import while the run said it passed).
for t in $TESTS; do
	chroot "$R" /usr/bin/python3 -c '
import importlib.util, os, sys
os.chdir("/ssbpf")
spec = importlib.util.spec_from_file_location("vmtest_check", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))' "/ssbpf/$t" ||
		{ echo "vmtest: $t does not import in the guest image (see above)" >&2; exit 1; }
done
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$WORK/initrd.gz"

log=$WORK/console.log
# KVM when /dev/kvm works (a nested one may not boot the guest: then
# software emulation); the whole run is bounded by VMTEST_TIMEOUT.
boot() { # accel...
	rm -f "$log"
	local extra=""
	[ -n "${RUN_TESTS:-}" ] && extra=" vmtest_tests=${RUN_TESTS// /,}"
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 "$@" -m 2048 -smp 2 -nographic \
		-no-reboot -kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 panic=-1 loglevel=4$extra" -serial "file:$log" -monitor none \
		-display none -net none &
	local pid=$! t
	for t in $(seq 1 90); do
		grep -q "VMTEST UNAME" "$log" 2>/dev/null && break
		kill -0 $pid 2>/dev/null || break
		sleep 1
	done
	if ! grep -q "VMTEST UNAME" "$log" 2>/dev/null; then
		kill $pid 2>/dev/null
		wait $pid 2>/dev/null
		return 1
	fi
	wait $pid || true
}
run_guest() {
	echo "vmtest: booting $KERNEL (${KVER:-no modules}); console in $log" >&2
	if [ -w /dev/kvm ] && [ "${VMTEST_KVM:-1}" = 1 ] && boot -enable-kvm; then
		echo "vmtest: ran under KVM" >&2
	else
		echo "vmtest: running under software emulation (no usable KVM)" >&2
		boot -cpu max || true
	fi
}
RUN_TESTS=
run_guest
logs=("$log")
# A guest that died before the end (a kernel crash, qemu killed) is booted
# once more for the files it did not finish; report.py prints the crash and
# counts a file by its last run, so a second crash still fails.
if grep -q "VMTEST UNAME" "$log" && ! grep -q "VMTEST DONE" "$log"; then
	left=""
	for t in $TESTS; do grep -q "VMTEST EXIT $t " "$log" || left="$left $t"; done
	first=$WORK/console-crashed.log
	mv "$log" "$first"
	logs=("$first" "$log")
	echo "vmtest: the guest died before the end; running again:$left" >&2
	RUN_TESTS=${left# }
	run_guest
fi
/usr/bin/python3 vmtest/report.py "${logs[@]}" -- $TESTS
