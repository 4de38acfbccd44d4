#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Forwarding of excluded traffic through a steering gateway, against the
same gateway with no steering, in one run: the lan/gw/wan namespaces of
tests/netns/test_gateway.py, sslocal --mode redir on gw with 0, 10,000 and
100,000 excluded prefixes (a file) in each steering mode, and iperf3 from lan
to an excluded address on wan: one TCP stream (Gbit/s) and UDP 64-byte
datagrams (packets/s received). Each figure is the best of 3 runs.
make bench calls section(); alone: tools/bench_gateway.py [--seconds N]."""
import argparse
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "netns"))
os.environ.setdefault("SSBPF_BUILD", "build")
import test_gateway as g  # noqa: E402
import test_gateway_lists as gl  # noqa: E402


def udp_pps(target, seconds):
    srv = g.start(["ip", "netns", "exec", g.WAN, "iperf3", "-s", "-1", "-B", target, "-p", "5203",
                   "--forceflush"], name="iperf3u")
    g.wait_until(lambda: "listening" in srv.log_text(), what="iperf3 server")
    out = g.ns(g.LAN, "iperf3", "-c", target, "-p", "5203", "-u", "-l", "64", "-b", "0",
               "-t", str(seconds), "-J")
    srv.wait(10)
    s = json.loads(out)["end"]["sum"]
    return (s["packets"] - s["lost_packets"]) / s["seconds"]


def measure(seconds):
    tcp = max(gl.iperf(g.X4, seconds) for _ in range(3))
    pps = max(udp_pps(g.X4, seconds) for _ in range(3))
    return tcp, pps


def section(out, seconds=3):
    g.topology_up()
    rows = []
    try:
        g.setup_wan()
        rows.append(("no steering (plain forwarding)", measure(seconds)))
        for n in (0, 10000, 100000):
            path = gl.prefixes_file(n, os.path.join(g.LOGDIR, "bench-%d.txt" % n))
            for bpf in (True, False):
                gw, took = gl.start_redir(bpf, ["--steer", "0.0.0.0/0,::/0", "--exclude",
                                                "%s,%s" % (g.X4, g.X6), "--exclude-file", path])
                name = "%s, %d prefixes (installed in %.2f s)" % (
                    "sk_lookup" if bpf else "nftables", n, took)
                rows.append((name, measure(seconds)))
                gw.stop()
    finally:
        g.stop_all()
        g.topology_down()
    base = rows[0][1]
    out("## Gateway: excluded traffic forwarded lan -> gw -> wan, iperf3, best of 3 x %d s" % seconds)
    out()
    out("| steering | TCP 1 stream Gbit/s | vs plain | UDP 64 B packets/s | vs plain |")
    out("| --- | --- | --- | --- | --- |")
    for name, (tcp, pps) in rows:
        out("| %s | %.2f | %.0f%% | %.0f | %.0f%% |" % (name, tcp, 100 * tcp / base[0], pps,
                                                      100 * pps / base[1]))
    out()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=3)
    section(print, ap.parse_args().seconds)
