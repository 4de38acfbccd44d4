#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""UDP datagrams per second through a shadowsocks chain, ssbpf against
shadowsocks-libev in the same run (loopback only):

  client -> [sslocal -U -L | ss-tunnel -U -L] -> [ssserver -U | ss-server -U] -> echo

A C-speed client is not needed: the client keeps a window of datagrams in
flight and counts echoes for a fixed time, so the relay chain is the limit.
Usage: tools/bench-udp.py [--seconds N] [--method M]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, os.environ.get("SSBPF_BUILD", "build"))


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def echo_server():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", 0))

    def run():
        while True:
            d, a = s.recvfrom(65535)
            s.sendto(d, a)
    threading.Thread(target=run, daemon=True).start()
    return s.getsockname()[1]


def measure(port, size, seconds, window=64):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    c.settimeout(0.2)
    payload = os.urandom(size)
    dest = ("127.0.0.1", port)
    got = 0
    inflight = 0
    end = time.time() + seconds
    t0 = time.time()
    while time.time() < end:
        while inflight < window:
            c.sendto(payload, dest)
            inflight += 1
        try:
            c.recv(65535)
            got += 1
            inflight -= 1
        except socket.timeout:
            inflight = 0  # lost ones are forgotten; the window refills
    return got / (time.time() - t0)


def chain(kind, method, echo_port):
    sp, tp = free_port(), free_port(socket.SOCK_DGRAM)
    common = ["-s", "127.0.0.1", "-p", str(sp), "-k", "bench", "-m", method, "-U"]
    if kind == "ssbpf":
        srv = [os.path.join(BUILD, "ssserver"), "--allow-private"] + common
        loc = [os.path.join(BUILD, "sslocal")] + common
    else:
        srv = [shutil.which("ss-server")] + common
        loc = [shutil.which("ss-tunnel")] + common
    procs = [subprocess.Popen(srv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen(loc + ["-l", str(tp), "-L", "127.0.0.1:%d" % echo_port],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(0.5)
    return procs, tp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--method", default="chacha20-ietf-poly1305")
    a = ap.parse_args()
    echo = echo_server()
    print("%-6s %-24s %8s %14s %12s" % ("chain", "method", "payload", "datagrams/s", "ssbpf/libev"))
    for size in (100, 1400):
        res = {}
        for kind in ("ssbpf", "libev"):
            procs, tp = chain(kind, a.method, echo)
            try:
                res[kind] = measure(tp, size, a.seconds)
            finally:
                for p in procs:
                    p.terminate()
                    p.wait()
        for kind in ("ssbpf", "libev"):
            ratio = "%.2fx" % (res["ssbpf"] / res["libev"]) if kind == "ssbpf" and res["libev"] else ""
            print("%-6s %-24s %8d %14.0f %12s" % (kind, a.method, size, res[kind], ratio))


if __name__ == "__main__":
    sys.exit(main())
