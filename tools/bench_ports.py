#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Many ports in one run: ssserver with 10, 1,000 and 10,000 ports in
port_password (2 workers) served through the sk_lookup program (one socket
per worker and protocol) against the same with --bpf off (a socket per port),
and libev's ss-manager with a process per port (10 and 100 ports: a process
each is as far as this is worth taking). For each: the time until every port
serves, the servers' RSS, the sockets they hold, the connection rate
through sslocal (build/connbench, 16 at a time) to a port picked at random,
and the servers' CPU time per connection and per datagram sent straight to
the last port of the list (tests/lib/aead_probe.py: the worst case for a
lookup that walks the ports), after a datagram to every port.
make bench calls section(); alone: tools/bench_ports.py."""
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("SSBPF_BUILD", "build")
from aead_probe import tcp_round_trip, udp_round_trip  # noqa: E402
from sstest import BUILD, free_port, start, stop_all, wait_port  # noqa: E402
from test_many_ports import free_block, rss_kib, sockets_of, tree_pids  # noqa: E402
from test_udp import UdpEcho  # noqa: E402

M = "aes-256-gcm"
TMP = tempfile.mkdtemp(prefix="ssbpf-bench-ports.")


def conn_rate(port, password, echo_port):
    lp = free_port()
    local = start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(port), "-k", password,
                   "-m", M, "-l", str(lp), "--workers", "2"], name="sslocal", wait=lp)
    env = dict(os.environ, CONNBENCH_SOCKS="127.0.0.1:%d" % lp)
    r = subprocess.run([os.path.join(BUILD, "connbench"), "run", str(echo_port), "6000", "16"],
                       stdout=subprocess.PIPE, timeout=120, env=env)
    local.stop()
    return float(r.stdout.split()[1])


def cpu_s(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_per_use(pids, base, n, echo_port, uecho):
    """Server CPU us per connection and per datagram to the last port, once every port has a
    datagram's relay (a port's UDP socket, or with sk_lookup a relay made on first use)."""
    last, pw, k = base + n - 1, "pw-%d" % (base + n - 1), 2000
    c0 = cpu_s(pids)
    for _ in range(k):
        assert tcp_round_trip(last, pw, echo_port, b"x") == b"x"
    tcp = (cpu_s(pids) - c0) / k * 1e6
    if not uecho:
        return tcp, None
    for p in range(base, base + n):
        udp_round_trip(p, "pw-%d" % p, uecho.port, b"warm", timeout=0.5)
    c0 = cpu_s(pids)
    for _ in range(k):
        assert udp_round_trip(last, pw, uecho.port, b"x") == b"x"
    return tcp, (cpu_s(pids) - c0) / k * 1e6


def ssserver(n, bpf, echo_port, uecho):
    # A socket per port and protocol must fit in a worker's open file limit (the hard one).
    udp = bpf or 2 * n + 1000 < resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    base = free_block(n)
    path = os.path.join(TMP, "ports-%d.json" % n)
    with open(path, "w") as f:
        json.dump({"server": "127.0.0.1", "method": M, "replay_file": "off",
                   "port_password": {str(p): "pw-%d" % p for p in range(base, base + n)}}, f)
    t0 = time.time()
    srv = start([os.path.join(BUILD, "ssserver"), "-c", path, "--allow-private", "--workers", "2",
                 "--bpf", "auto" if bpf else "off"] + (["-u"] if udp else []), name="ssserver")
    # The ports open from the last of the file to the first.
    wait_port(base, proc=srv, timeout=120)
    took = time.time() - t0
    time.sleep(1)
    pids = tree_pids(srv)
    rss, socks = rss_kib(pids), sum(sockets_of(pids))
    p = random.randrange(base, base + n)
    # CPU first: the rate's thousands of connections leave TIME-WAIT sockets that make every
    # later connect() of the server (to the echo) cost more.
    cpu = cpu_per_use(pids, base, n, echo_port, uecho if udp else None)
    rate = conn_rate(p, "pw-%d" % p, echo_port)
    srv.stop()
    return (took, rss, socks, rate) + cpu


def libev_manager(n, echo_port, uecho):
    mp = free_port(socket.SOCK_DGRAM)
    mgr = start([shutil.which("ss-manager"), "--manager-address", "127.0.0.1:%d" % mp, "-m", M, "-u",
                 "-s", "127.0.0.1", "--executable", shutil.which("ss-server")], name="ss-manager")
    time.sleep(0.5)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(10)
    base = free_block(n)
    t0 = time.time()
    for p in range(base, base + n):
        c.sendto(b'add: {"server_port": %d, "password": "pw-%d"}' % (p, p), ("127.0.0.1", mp))
        c.recv(100)
    wait_port(base + n - 1, timeout=120)
    took = time.time() - t0
    time.sleep(1)
    out = subprocess.run(["pgrep", "-f", "shadowsocks_"], capture_output=True, text=True).stdout
    pids = [int(x) for x in out.split()]
    rss, socks = rss_kib(pids), sum(sockets_of(pids))
    p = random.randrange(base, base + n)
    cpu = cpu_per_use(pids, base, n, echo_port, uecho)
    rate = conn_rate(p, "pw-%d" % p, echo_port)
    for p in range(base, base + n):
        c.sendto(b'remove: {"server_port": %d}' % p, ("127.0.0.1", mp))
        c.recv(100)
    mgr.stop()
    return (took, rss, socks, rate) + cpu


def section(out):
    echo = subprocess.Popen([os.path.join(BUILD, "connbench"), "serve"], stdout=subprocess.PIPE)
    echo_port = int(echo.stdout.readline())
    uecho = UdpEcho()
    rows = []
    try:
        for n in (10, 1000, 10000):
            rows.append(("ssserver, sk_lookup (one socket)", n, ssserver(n, True, echo_port, uecho)))
            rows.append(("ssserver --bpf off (socket per port)", n, ssserver(n, False, echo_port, uecho)))
        for n in (10, 100):
            rows.append(("libev ss-manager (process per port)", n, libev_manager(n, echo_port, uecho)))
    finally:
        stop_all()
        echo.kill()
        echo.wait()
        uecho.close()
    out("## Many ports: ssserver with port_password, 2 workers, against libev's ss-manager")
    out()
    out("| server | ports | all serving after s | RSS MiB | sockets | conns/s through sslocal "
        "| server CPU us per connection, last port | per datagram |")
    out("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, n, (took, rss, socks, rate, cpu_conn, cpu_dgram) in rows:
        out("| %s | %d | %.2f | %.1f | %d | %.0f | %.0f | %s |" % (
            name, n, took, rss / 1024, socks, rate, cpu_conn,
            "%.0f" % cpu_dgram if cpu_dgram is not None else "TCP only: a socket per port and protocol "
            "passes the open file limit"))
    out()


if __name__ == "__main__":
    section(print)
