#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vmtest/run.sh [KERNEL_IMAGE [MODULES_DIR]]: boots a kernel under qemu (KVM
# when /dev/kvm is there, software emulation otherwise) with an initramfs
# built here (busybox, the built binaries and their libraries, python3, the
# kernel-facing tests, the modules they need), runs the tests inside, and
# reports each result, the guest's uname -r and the tiers it ran natively,
# ending with "N passed, N failed". Default kernel: Debian's 6.1
# (linux-image-6.1.0-*-amd64-unsigned, fetched with apt-get download).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${SSBPF_BUILD:-build}
WORK=${VMTEST_DIR:-$BUILD/vmtest}
TIMEOUT=${VMTEST_TIMEOUT:-1800}
TESTS=${VMTEST_TESTS:-"tests/integration/test_tiers.py tests/integration/test_resets.py tests/netns/test_gateway.py"}
KERNEL=${1:-}
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
for b in ssserver sslocal ssctl; do
	[ -x "$BUILD/$b" ] || { echo "vmtest: $BUILD/$b is missing; run make first" >&2; exit 1; }
done
mkdir -p "$WORK"

# The kernel: given, or Debian's 6.1 from its package.
if [ -z "$KERNEL" ]; then
	pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | awk '{print $1}' |
		sort -V | tail -1)
	[ -n "$pkg" ] || { echo "vmtest: no linux-image-6.1.0-*-amd64-unsigned package found" >&2; exit 1; }
	if [ ! -d "$WORK/kernel/$pkg" ]; then
		rm -rf "$WORK/kernel/dl" && mkdir -p "$WORK/kernel/dl"
		(cd "$WORK/kernel/dl" && apt-get download "$pkg" >/dev/null)
		dpkg -x "$WORK"/kernel/dl/*.deb "$WORK/kernel/$pkg"
	fi
	KERNEL=$(ls "$WORK/kernel/$pkg"/boot/vmlinuz-*)
	MODDIR=$(ls -d "$WORK/kernel/$pkg"/lib/modules/*)
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
for b in ssserver sslocal ssctl; do
	copy "$BUILD/$b"
	cp "$BUILD/$b" "$R/ssbpf/build/$b"
done
mkdir -p "$R/ssbpf/tests"
cp -r tests/lib tests/integration tests/netns "$R/ssbpf/tests/"
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
	while read -r ko; do
		cp "$ko" "$R/lib/modules/$KVER/"
	done < "$R/modules.order"
	sed -i 's|.*/||' "$R/modules.order"
fi

cat > "$R/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
# Emulated CPUs are slow: smaller transfers, shorter waits (the same checks).
export SSBPF_TIER_MB=@TIER_MB@ SSBPF_SLOW_SECONDS=@SLOW_S@ SSBPF_TORTURE_CONNS=40
# The tests read helpers' output as it comes (the host runs them so too).
export PYTHONUNBUFFERED=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t bpf bpf /sys/fs/bpf
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /var/lib/ssbpf /run/netns /root
ulimit -n 65536
ip link set lo up
for m in $(cat /modules.order 2>/dev/null); do insmod "/lib/modules/$(uname -r)/$m" 2>/dev/null; done
echo "VMTEST UNAME $(uname -r)"
cd /ssbpf
# What this kernel runs natively: the pass-through tier and redir steering.
./build/ssserver -s 127.0.0.1 -p 18388 -k x -m none --allow-private --workers 1 >/tmp/probe.log 2>&1 &
sleep 1; kill $! 2>/dev/null; wait
tier=$(grep -o 'legs carry the same bytes: [a-z]*' /tmp/probe.log | awk '{print $NF}')
echo "VMTEST TIER ${tier:-unknown}"
bpftool feature probe kernel 2>/dev/null | grep -q "sk_lookup.*is available" && echo "VMTEST STEER sk_lookup" ||
	echo "VMTEST STEER nftables"
for t in $VMTEST_TESTS; do
	echo "VMTEST FILE $t"
	python3 "$t" 2>&1 | sed 's/^/  /'
done
echo "VMTEST DONE"
echo o > /proc/sysrq-trigger
sleep 10
INIT
sed -i "s|\$VMTEST_TESTS|$TESTS|; s|@TIER_MB@|${VMTEST_TIER_MB:-64}|; s|@SLOW_S@|${VMTEST_SLOW_S:-5}|" "$R/init"
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$WORK/initrd.gz"

log=$WORK/console.log
# KVM when /dev/kvm works (a nested one may not boot the guest: then
# software emulation); the whole run is bounded by VMTEST_TIMEOUT.
boot() { # accel...
	rm -f "$log"
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 "$@" -m 2048 -smp 2 -nographic \
		-no-reboot -kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 panic=-1 loglevel=4" -serial "file:$log" -monitor none \
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
echo "vmtest: booting $KERNEL (${KVER:-no modules}); console in $log" >&2
if [ -w /dev/kvm ] && [ "${VMTEST_KVM:-1}" = 1 ] && boot -enable-kvm; then
	echo "vmtest: ran under KVM" >&2
else
	echo "vmtest: running under software emulation (no usable KVM)" >&2
	boot -cpu max || true
fi
python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
uname = re.search(r"VMTEST UNAME (\S+)", text)
tier = re.search(r"VMTEST TIER (\S+)", text)
steer = re.search(r"VMTEST STEER (\S+)", text)
rows = re.findall(r"^  (PASS|FAIL) (\S+)", text, re.M)
done = "VMTEST DONE" in text
print("guest kernel: %s" % (uname.group(1) if uname else "did not boot"))
print()
print("| test | result | native in the guest |")
print("| --- | --- | --- |")
for res, name in rows:
    native = (steer.group(1) if steer else "?") if name.startswith("gateway/") else (tier.group(1) if tier else "?")
    print("| %s | %s | %s |" % (name, res, native))
passed = sum(1 for r, _ in rows if r == "PASS")
failed = sum(1 for r, _ in rows if r == "FAIL") + (0 if done else 1)
if not done:
    print("\nthe guest did not finish (timeout or crash): counted as one failure")
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
