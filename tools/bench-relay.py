#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Single-stream TCP throughput through a shadowsocks chain, ssbpf against
shadowsocks-libev in the same run (loopback only).

  iperf3 -c -> [sslocal -L | ss-tunnel -L] -> [ssserver | ss-server] -> iperf3 -s

Reports Gbit/s (receiver side) and CPU seconds per GiB (whole machine, from
/proc/stat, so kernel work and both relay processes count) for each chain,
uploads and downloads (-R), and the ratio ssbpf / libev.
Usage: tools/bench-relay.py [--seconds N] [--methods m1,m2]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, "build")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench: nothing listens on %d" % port)


def cpu_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / os.sysconf("SC_CLK_TCK")


def iperf(port, seconds, reverse):
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    if reverse:
        args.append("-R")
    c0 = cpu_busy_seconds()
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=seconds + 30)
    cpu = cpu_busy_seconds() - c0
    if r.returncode:
        return None, None
    j = json.loads(r.stdout)
    end = j["end"]["sum_received"]
    gib = end["bytes"] / float(1 << 30)
    return end["bits_per_second"] / 1e9, cpu / gib if gib else None


def chain(kind, method, iperf_port):
    sp, tp = free_port(), free_port()
    pw = "bench-" + method
    if kind == "ssbpf":
        srv = [os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1"]
        loc = [os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-b", "127.0.0.1"]
    else:
        srv = [shutil.which("ss-server"), "-s", "127.0.0.1"]
        loc = [shutil.which("ss-tunnel"), "-s", "127.0.0.1", "-b", "127.0.0.1"]
    common = ["-p", str(sp), "-k", pw, "-m", method]
    procs = [subprocess.Popen(srv + common, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    wait_port(sp)
    procs.append(subprocess.Popen(loc + common + ["-l", str(tp), "-L", "127.0.0.1:%d" % iperf_port],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_port(tp)
    return procs, tp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--methods", default="chacha20-ietf-poly1305,aes-256-gcm,aes-128-gcm")
    a = ap.parse_args()
    ip = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-p", str(ip)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_port(ip)
    time.sleep(0.2)
    rows = []
    try:
        for rev in (False, True):
            g, c = iperf(ip, a.seconds, rev)
            rows.append(("direct", "-", "down" if rev else "up", g, c, None))
        for m in a.methods.split(","):
            for rev in (False, True):
                res = {}
                for kind in ("ssbpf", "libev"):
                    procs, tp = chain(kind, m, ip)
                    try:
                        res[kind] = iperf(tp, a.seconds, rev)
                    finally:
                        for p in procs:
                            p.terminate()
                            p.wait()
                for kind in ("ssbpf", "libev"):
                    g, c = res[kind]
                    ratio = None
                    if kind == "ssbpf" and g and res["libev"][0]:
                        ratio = g / res["libev"][0]
                    rows.append((kind, m, "down" if rev else "up", g, c, ratio))
    finally:
        server.terminate()
        server.wait()
    print("%-6s %-24s %-4s %9s %12s %14s" % ("chain", "method", "dir", "Gbit/s", "CPU s/GiB", "ssbpf/libev"))
    for kind, m, d, g, c, ratio in rows:
        print("%-6s %-24s %-4s %9s %12s %14s" % (
            kind, m, d, "%.2f" % g if g else "fail", "%.2f" % c if c else "-",
            "%.2fx" % ratio if ratio else ""))


if __name__ == "__main__":
    sys.exit(main())
