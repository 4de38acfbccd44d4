#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# The guest's /init (vmtest/run.sh fills in the @...@ values): mounts, modules,
# what the kernel runs natively, then each test file with its exit status.
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
# Emulated CPUs are slow: smaller transfers, shorter waits (the same checks).
export SSBPF_TIER_MB=@TIER_MB@ SSBPF_SLOW_SECONDS=@SLOW_S@ SSBPF_TORTURE_CONNS=40
export SSBPF_RESET_TRIALS=@RESET_TRIALS@ SSBPF_GW_MB=@GW_MB@ SSBPF_SHORTCUT_MB=@TIER_MB@
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
# What this kernel has: BPF program and map types the daemon uses, and BTF.
bpftool feature probe kernel > /tmp/features 2>/dev/null
has() { grep -q "$1 is available" /tmp/features && echo yes || echo no; }
echo "VMTEST FEATURE sockmap $(has 'map_type sockhash')"
echo "VMTEST FEATURE sk_lookup $(has 'program_type sk_lookup')"
echo "VMTEST FEATURE sockops/sk_msg $( [ "$(has 'program_type sock_ops')$(has 'program_type sk_msg')" = yesyes ] && echo yes || echo no)"
echo "VMTEST FEATURE cgroup_sock_addr $(has 'program_type cgroup_sock_addr')"
echo "VMTEST FEATURE BTF $( [ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
echo "VMTEST FEATURE netns_cookie $(python3 -c 'import socket; socket.socket().getsockopt(1, 71, 8)' 2>/dev/null && echo yes || echo no)"
# What the daemon chose on it: the pass-through tier (sockmap, or splice after its one log line).
./build/ssserver -s 127.0.0.1 -p 18388 -k x -m none --allow-private --workers 1 >/tmp/probe.log 2>&1 &
sleep 2; kill $! 2>/dev/null; wait
tier=$(grep -o 'legs carry the same bytes: [a-z]*' /tmp/probe.log | awk '{print $NF}')
echo "VMTEST TIER ${tier:-unknown}"
grep -i 'falling back\|fall back\|not available\|unsupported' /tmp/probe.log | head -3 | sed 's/^/VMTEST NOTE /'
# The files to run: the kernel command line's vmtest_tests= (a re-run after
# a guest crash names the files left), else the whole list.
tests=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^vmtest_tests=//p' | tr , ' ')
for t in ${tests:-@TESTS@}; do
	echo "VMTEST FILE $t"
	{ python3 "$t" 2>&1; echo "VMTEST EXIT $t $?"; } | sed 's/^/  /' 
done
echo "VMTEST DONE"
echo o > /proc/sysrq-trigger
sleep 10
