#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A captured container against the same container using SOCKS5 explicitly
and against the gateway path (sk_lookup steering of routed traffic), with
and without the local shortcut, in one run: the node/wan/container
namespaces of tests/netns/test_capture.py. From container c1 to an echo and
an HTTP server in wan, through sslocal on node and ssserver on wan:
connections/s with p50/p99 (connbench, concurrency 1 and 16), request/response
latency (64-byte ping-pong), one 64 MiB download (curl) and the CPU sslocal
spent on it (its processes' utime + stime per GiB).
make bench calls section(); alone: tools/bench_capture.py [--conns N]."""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "netns"))
os.environ.setdefault("SSBPF_BUILD", "build")
import test_capture as t  # noqa: E402

ECHO = 0  # connbench serve's port, read from its first line
CONNBENCH = os.path.join(t.BUILD, "connbench")
SOCKS = ("10.79.1.1", 1080)


def cpu_seconds(proc):
    """utime + stime of sslocal and its workers, from /proc."""
    total = 0
    for pid in [proc.pid] + proc.descendants():
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def connbench(env, *args):
    r = subprocess.run(t.in_container(t.C1, "env", *env, CONNBENCH, *args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    nums = r.stdout.split()
    return [float(x) for x in nums] if r.returncode == 0 and nums else None


def measure(node, env, conns):
    row = {}
    for conc in (1, 16):
        got = connbench(env, "run", str(ECHO), str(conns), str(conc))
        row["c%d" % conc] = got if got and got[0] == conns else None  # ok, conns/s, p50 us, p99 us
    row["pp"] = connbench(env, "pingpong", str(ECHO), "64", "2000")  # rounds, p50, p99
    proxy = ["-x", "socks5://%s:%d" % SOCKS] if any(e.startswith("CONNBENCH_SOCKS") for e in env) else []
    cpu0, t0 = cpu_seconds(node), time.time()
    r = subprocess.run(t.in_container(t.C1, "curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
                                      *proxy, "http://%s:%d/data.bin" % (t.T4, t.HTTP_PORT)),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    dt, cpu = time.time() - t0, cpu_seconds(node) - cpu0
    size = int(r.stdout or 0)
    row["gbps"] = size * 8 / dt / 1e9 if r.returncode == 0 and size else None
    row["cpu_gib"] = cpu / (size / 2 ** 30) if size else None
    return row


def start_socks(extra=()):
    path = os.path.join(t.LOGDIR, "socks.json")
    with open(path, "w") as f:
        f.write('{"server": "10.79.2.2", "server_port": %d, "password": "cap-pw", '
                '"method": "chacha20-ietf-poly1305", "local_address": "%s", "local_port": %d, '
                '"ctl_socket": "%s"}' % (t.SS_PORT, SOCKS[0], SOCKS[1], t.CTL))
    node = t.start(["nsenter", "--net=/run/netns/" + t.NODE, os.path.join(t.BUILD, "sslocal"), "-c", path]
                   + list(extra), name="sslocal-socks", default_workers=True)
    t.wait_until(lambda: "sslocal ready" in node.log_text(), what="sslocal socks")
    return node


def start_gateway():
    node = t.start(["nsenter", "--net=/run/netns/" + t.NODE, os.path.join(t.BUILD, "sslocal"), "--mode",
                    "redir", "-s", "10.79.2.2", "-p", str(t.SS_PORT), "-k", "cap-pw", "-m",
                    "chacha20-ietf-poly1305", "-l", "1234", "--steer", "10.79.9.0/24", "--bpf", "on",
                    "--ctl-socket", t.CTL], name="sslocal-gw", default_workers=True)
    # Worker 0 installs the steering; another worker may be ready before it is in place.
    t.wait_until(lambda: "steering (" in node.log_text(), what="sslocal gateway's steering")
    t.wait_until(lambda: "sslocal ready" in node.log_text(), what="sslocal gateway")
    return node


def section(out, conns=2000):
    t.setup()
    rows = []
    try:
        # Every mode makes thousands of connections from ssserver to the same target: let the
        # later ones reuse TIME-WAIT ports, or they measure the port search (as a busy server would).
        for n in (t.WAN, t.NODE):
            t.sh("ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
        wan = t.Wan()
        echo = t.start(["ip", "netns", "exec", t.WAN, "env", "CONNBENCH_BIND=" + t.T4, CONNBENCH, "serve"],
                       name="connbench")
        t.wait_until(lambda: echo.log_text().strip().isdigit(), what="connbench's echo port")
        global ECHO
        ECHO = int(echo.log_text().split()[0])
        host = ["CONNBENCH_HOST=" + t.T4]
        modes = [
            ("captured (--capture)", lambda: t.start_node(capture=(t.C1,)), host),
            ("captured + shortcut (--bpf-cgroup)",
             lambda: t.start_node(capture=(t.C1,), extra=["--bpf-cgroup", t.CG[t.C1]]), host),
            ("SOCKS5 explicitly (sslocal on node)", start_socks, host + ["CONNBENCH_SOCKS=%s:%d" % SOCKS]),
            ("SOCKS5 + shortcut (--bpf-cgroup)", lambda: start_socks(["--bpf-cgroup", t.CG[t.C1]]),
             host + ["CONNBENCH_SOCKS=%s:%d" % SOCKS]),
            ("gateway (sk_lookup steering of routed traffic)", start_gateway, host),
        ]
        for name, starter, env in modes:
            node = starter()
            rows.append((name, measure(node, env, conns)))
            node.stop()
        del wan, echo
    finally:
        t.stop_all()
        t.teardown()

    def f(v, i, fmt):
        return fmt % v[i] if v else "failed"

    out("## Container egress: c1 -> sslocal (node) -> ssserver (wan) -> target, %d connections" % conns)
    out()
    out("| path | conns/s c=1 | p50/p99 us c=1 | conns/s c=16 | p50/p99 us c=16 | ping-pong p50/p99 us "
        "| 64 MiB Gbit/s | sslocal CPU s/GiB |")
    out("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows:
        out("| %s | %s | %s/%s | %s | %s/%s | %s/%s | %s | %s |" % (
            name, f(r["c1"], 1, "%.0f"), f(r["c1"], 2, "%.0f"), f(r["c1"], 3, "%.0f"),
            f(r["c16"], 1, "%.0f"), f(r["c16"], 2, "%.0f"), f(r["c16"], 3, "%.0f"),
            f(r["pp"], 1, "%.0f"), f(r["pp"], 2, "%.0f"),
            "%.2f" % r["gbps"] if r["gbps"] else "failed",
            "%.2f" % r["cpu_gib"] if r["cpu_gib"] is not None else "failed"))
    out()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conns", type=int, default=2000)
    section(print, ap.parse_args().conns)
    sys.exit(0)
