#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench: relay throughput and CPU cost on loopback, all measured in one run.

Pass-through (bytes identical on both legs):
  direct iperf3; one hop: haproxy (mode tcp, splice) and sslocal --relay with
  each STREAM tier forced (userspace, splice, sockmap); two hops: sslocal -L ->
  ssserver with method none, each tier forced.
Encrypted (AEAD) chains:
  ssbpf sslocal -L -> ssserver against shadowsocks-libev ss-tunnel -> ss-server.
Connection set-up: connections per second and p50/p99 connect-to-first-byte
latency at concurrency 1, 16 and 128 (build/connbench), the relays' CPU per
connection, RSS per 1,000 idle connections and system calls per connection,
ssbpf against libev with aes-256-gcm, with and without TCP Fast Open.
Each throughput case runs iperf3 for --seconds with 1 and 8 parallel streams and reports
Gbit/s (receiver) and CPU seconds per GiB for the whole machine (/proc/stat:
both relay processes, iperf3 and kernel workers), then ratios. Writes the
tables to bench/results.md and a chart to bench/throughput.png (gnuplot).
Usage: tools/bench.py [--seconds N] [--methods m1,m2] [--skip-aead]
"""
import argparse
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))  # the test helpers it shares
import cgroup2  # noqa: E402
import syscalls  # noqa: E402
BUILD = os.path.join(ROOT, os.environ.get("SSBPF_BUILD", "build"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listening(port):
    """Is a TCP socket listening on port? Read from /proc, without connecting: a test
    connection through a relay would reach the iperf3 server and upset its next test."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if listening(port):
            return
        time.sleep(0.05)
    raise SystemExit("bench: nothing listens on %d" % port)


def cpu_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def iperf(port, seconds, streams, tries=3, preexec=None):
    """One iperf3 run; a run the server refused (the harness's own port probe,
    relayed to the iperf3 server, can leave it busy for a moment) is retried."""
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-P", str(streams), "-J"]
    for attempt in range(tries):
        c0 = cpu_busy_seconds()
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=seconds + 60,
                           preexec_fn=preexec)
        cpu = cpu_busy_seconds() - c0
        try:
            end = json.loads(r.stdout)["end"]["sum_received"]
        except (ValueError, KeyError):
            err = (json.loads(r.stdout or b"{}") if r.stdout.startswith(b"{") else {}).get("error", r.stderr)
            print("bench: iperf3 through port %d failed (%s)%s" % (
                port, err, "; retrying" if attempt + 1 < tries else ""), file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        gib = end["bytes"] / float(1 << 30)
        return end["bits_per_second"] / 1e9, (cpu / gib if gib else None)
    return None, None


def spawn(args, preexec=None):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec)


def bench_key(method):
    """A password: any for the 2017 methods, a base64 key of the method's length for 2022 ones."""
    if not method.startswith("2022-"):
        return "bench"
    return base64.b64encode(os.urandom(16 if "aes-128" in method else 32)).decode()


def chain_ssbpf(target, method, tier=None, workers=None, metrics=False, fast_open=False, more=()):
    sp, tp = free_port(), free_port()
    common = ["-s", "127.0.0.1", "-p", str(sp), "-k", bench_key(method), "-m", method]
    extra = (["--tier", tier] if tier else []) + (["--workers", str(workers)] if workers else [])
    extra += list(more)
    extra += ["--fast-open"] if fast_open else []
    if metrics:
        extra += ["--metrics", "127.0.0.1:%d" % free_port()]
    procs = [spawn([os.path.join(BUILD, "ssserver"), "--allow-private"] + common + extra)]
    wait_port(sp)
    procs.append(spawn([os.path.join(BUILD, "sslocal")] + common + extra +
                       ["-b", "127.0.0.1", "-l", str(tp), "-L", "127.0.0.1:%d" % target]))
    wait_port(tp)
    return procs, tp


def chain_users(target, users):
    """sslocal -> ssserver whose port has `users` users; the client holds the last one's key."""
    sp, tp = free_port(), free_port()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"server": "127.0.0.1", "server_port": sp, "method": "aes-256-gcm",
               "users": [{"name": "u%d" % i, "password": "pw%d" % i} for i in range(users)]}, cfg)
    cfg.close()
    procs = [spawn([os.path.join(BUILD, "ssserver"), "-c", cfg.name, "--allow-private", "--workers", "1"])]
    wait_port(sp)
    procs.append(spawn([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-k",
                        "pw%d" % (users - 1), "-m", "aes-256-gcm", "--workers", "1", "-b", "127.0.0.1",
                        "-l", str(tp), "-L", "127.0.0.1:%d" % target]))
    wait_port(tp)
    return procs, tp


def relay_ssbpf(target, tier):
    """One hop, like haproxy: sslocal --relay (a transit node) with a forced tier."""
    port = free_port()
    procs = [spawn([os.path.join(BUILD, "sslocal"), "--relay", "-b", "127.0.0.1", "-l", str(port),
                    "-L", "127.0.0.1:%d" % target, "--tier", tier])]
    wait_port(port)
    return procs, port


def chain_libev(target, method, fast_open=False):
    sp, tp = free_port(), free_port()
    common = ["-s", "127.0.0.1", "-p", str(sp), "-k", "bench", "-m", method]
    common += ["--fast-open"] if fast_open else []
    procs = [spawn([shutil.which("ss-server")] + common)]
    wait_port(sp)
    procs.append(spawn([shutil.which("ss-tunnel")] + common +
                       ["-b", "127.0.0.1", "-l", str(tp), "-L", "127.0.0.1:%d" % target]))
    wait_port(tp)
    return procs, tp


def chain_haproxy(target):
    port = free_port()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    cfg.write("global\n  maxconn 1000\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n"
              "  timeout client 60s\n  timeout server 60s\n  option splice-auto\n"
              "frontend f\n  bind 127.0.0.1:%d\n  default_backend b\nbackend b\n"
              "  server s 127.0.0.1:%d\n" % (port, target))
    cfg.close()
    procs = [spawn(["haproxy", "-f", cfg.name, "-db"])]
    wait_port(port)
    return procs, port


def measure(start, seconds):
    res = {}
    for streams in (1, 8):
        procs, port = start() if start else ([], None)
        try:
            res[streams] = iperf(port, seconds, streams)
        finally:
            for p in procs:
                p.terminate()
                p.wait()
    return res


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return total


@contextlib.contextmanager
def connbench_echo():
    """build/connbench's echo target for the set-up measurements; yields its port."""
    echo = subprocess.Popen([os.path.join(BUILD, "connbench"), "serve"], stdout=subprocess.PIPE)
    try:
        yield int(echo.stdout.readline())
    finally:
        echo.kill()
        echo.wait()


def tree_cpu_s(procs):
    """CPU seconds (user + system) used so far by the relay processes and their workers."""
    total = 0
    for p in procs:
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            pids = [p.pid] + [int(c) for c in f.read().split()]
        for pid in pids:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
            total += int(st[11]) + int(st[12])
    return total / os.sysconf("SC_CLK_TCK")


def conn_rates(start_chain, echo_port, runs):
    """{concurrency: (conns/s, p50 us, p99 us, relay CPU us per connection)} from
    build/connbench, a fresh chain per run."""
    res = {}
    for conc, total in runs:
        procs, port = start_chain(echo_port)
        try:
            cpu0 = tree_cpu_s(procs)
            r = subprocess.run([os.path.join(BUILD, "connbench"), "run", str(port), str(total), str(conc)],
                               stdout=subprocess.PIPE, timeout=120)
            ok, rate, p50, p99 = map(float, r.stdout.split())
            res[conc] = (rate, p50, p99, (tree_cpu_s(procs) - cpu0) * 1e6 / max(1, ok))
        finally:
            for p in procs:
                p.terminate()
                p.wait()
    return res


SETUP_RUNS = ((1, 3000), (16, 8000), (128, 12000))


def setup_rounds(chains, echo_port, rounds=3):
    """conn_rates of every chain, the chains alternated `rounds` times (the machine's
    drift hits them alike); {name: {concurrency: per-figure medians}}."""
    runs = {name: [] for name, _ in chains}
    for _ in range(rounds):
        for name, ch in chains:
            runs[name].append(conn_rates(ch, echo_port, SETUP_RUNS))
    med = {}
    for name, rs in runs.items():
        med[name] = {conc: tuple(sorted(r[conc][i] for r in rs)[len(rs) // 2] for i in range(4))
                     for conc, _ in SETUP_RUNS}
    return med


def idle_rss(start_chain, echo_port):
    """RSS of the relay processes per 1,000 idle connections (KiB)."""
    procs, port = start_chain(echo_port)
    if not procs:
        return 0
    try:
        time.sleep(0.3)
        base = rss_kib([p.pid for p in procs])
        socks = []
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"x")
            socks.append(s)
        for s in socks:
            s.recv(1)
        time.sleep(0.3)
        rss = rss_kib([p.pid for p in procs]) - base
        for s in socks:
            s.close()
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    return rss


def syscalls_per_conn(start_chain, echo_port, n=2000):
    """System calls per relayed connection (connect + 1 byte echoed + close, one at a time),
    counted by strace -c -f on every relay process of the chain, and the busiest calls."""
    if not shutil.which("strace"):
        return None, {}
    procs, port = start_chain(echo_port)
    try:
        run = [os.path.join(BUILD, "connbench"), "run", str(port)]
        subprocess.run(run + ["50", "1"], stdout=subprocess.DEVNULL, timeout=60)
        by_call = syscalls.count([p.pid for p in procs], lambda: subprocess.run(
            run + [str(n), "1"], stdout=subprocess.DEVNULL, timeout=300))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    return sum(by_call.values()) / n, {k: v / n for k, v in by_call.items()}


@contextlib.contextmanager
def fast_open_both_ways():
    """net.ipv4.tcp_fastopen = 3 (client and server) while the block runs, restored after."""
    path = "/proc/sys/net/ipv4/tcp_fastopen"
    was = open(path).read().strip() if os.access(path, os.W_OK) else None
    if was is not None:
        with open(path, "w") as f:
            f.write("3")
    try:
        yield
    finally:
        if was is not None:
            with open(path, "w") as f:
                f.write(was)


def setup_section(out):
    """Connection set-up: ssbpf against libev and direct, with and without TCP Fast Open."""
    out("## Connection set-up (aes-256-gcm chain, connect + 1 byte echoed + close) and idle memory")
    out()
    out("Each figure is the median of 3 runs, the chains of a group alternated (`--workers 1` for ssbpf). "
        "Relay CPU is what both relay processes used (user + system, the kernel's TCP work included) "
        "per connection at concurrency 16.")
    out()
    out("| chain | conns/s at 1 | p50 / p99 us | conns/s at 16 | p50 / p99 us | conns/s at 128 | p50 / p99 us "
        "| relay CPU us per connection | RSS per 1,000 idle connections | syscalls per connection |")
    out("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    plain = (("direct", lambda t: ([], t)),
             ("ssbpf", lambda t: chain_ssbpf(t, "aes-256-gcm", workers=1)),
             ("libev", lambda t: chain_libev(t, "aes-256-gcm")))
    tfo = (("ssbpf --fast-open", lambda t: chain_ssbpf(t, "aes-256-gcm", workers=1, fast_open=True)),
           ("libev --fast-open", lambda t: chain_libev(t, "aes-256-gcm", fast_open=True)))
    setup, rss, calls = {}, {}, {}
    with connbench_echo() as echo_port:
        for group in (plain, tfo):
            with fast_open_both_ways() if group is tfo else contextlib.nullcontext():
                setup.update(setup_rounds(group, echo_port))
                for name, ch in group:
                    if name != "direct":
                        rss[name] = idle_rss(ch, echo_port)
                        calls[name] = syscalls_per_conn(ch, echo_port)
    for name, _ in plain + tfo:
        r = setup[name]
        sc = calls.get(name, (None, {}))[0]
        out("| %s | %.0f | %.0f / %.0f | %.0f | %.0f / %.0f | %.0f | %.0f / %.0f | %s | %s | %s |" % (
            name, r[1][0], r[1][1], r[1][2], r[16][0], r[16][1], r[16][2], r[128][0], r[128][1],
            r[128][2], "%.0f" % r[16][3] if name != "direct" else "-",
            "%d KiB (both relays)" % rss[name] if name in rss else "-", "%.1f" % sc if sc else "-"))
    out()
    ours, theirs = setup["ssbpf"], setup["libev"]
    out("Ratios ssbpf / libev: connections/s %.2fx at concurrency 1, %.2fx at 16, %.2fx at 128; "
        "relay CPU per connection %.2fx; idle RSS %.2fx." % (
            ours[1][0] / theirs[1][0], ours[16][0] / theirs[16][0], ours[128][0] / theirs[128][0],
            ours[16][3] / max(1, theirs[16][3]), rss["ssbpf"] / max(1, rss["libev"])))
    for name in ("ssbpf", "libev"):
        top = sorted(calls.get(name, (None, {}))[1].items(), key=lambda kv: -kv[1])[:8]
        if top:
            out("System calls per connection, %s (both relays): %s." % (
                name, ", ".join("%s %.1f" % kv for kv in top)))
    out()
    out("The --fast-open rows run with net.ipv4.tcp_fastopen = 3 (client and server) for their "
        "duration: the header and first data ride in the SYN of the sslocal -> ssserver leg.")


def users_section(out):
    """Connections/s to a port with 1, 10 and 100 users, the client holding the last user's key."""
    out()
    out("## Users on one port (aes-256-gcm, connect + 1 byte echoed + close, the client holds the last user's key)")
    out()
    out("A client's first connection tries every key (the last one opens it: `build/bench-crypto` times that, "
        "about 2 us per key); later ones from the same address try its key first.")
    out()
    out("| users | conns/s, 1 at a time | p50 / p99 us | conns/s, 16 at a time | p50 / p99 us |")
    out("| --- | --- | --- | --- | --- |")
    with connbench_echo() as echo_port:
        for n in (1, 10, 100):
            res = conn_rates(lambda t: chain_users(t, n), echo_port, ((1, 2000), (16, 6000)))
            out("| %d | %.0f | %.0f / %.0f | %.0f | %.0f / %.0f |" % (
                n, res[1][0], res[1][1], res[1][2], res[16][0], res[16][1], res[16][2]))


def metrics_section(out, iperf_port, seconds):
    """The cost of counting and serving /metrics: the same chain with --metrics on and off."""
    out()
    out("## The cost of metrics (aes-256-gcm chain, same run)")
    out()
    out("| /metrics | 1 stream Gbit/s | CPU s/GiB | conns/s, 16 at a time | p99 us |")
    out("| --- | --- | --- | --- | --- |")
    with connbench_echo() as echo_port:
        for on in (False, True):
            tp = measure(lambda: chain_ssbpf(iperf_port, "aes-256-gcm", metrics=on), seconds)
            cr = conn_rates(lambda t: chain_ssbpf(t, "aes-256-gcm", workers=1, metrics=on), echo_port,
                            ((16, 6000),))
            out("| %s | %s | %s | %.0f | %.0f |" % ("on" if on else "off", fmt(tp[1][0], "%.2f"),
                                                   fmt(tp[1][1], "%.2f"), cr[16][0], cr[16][2]))


SIP022_PAIRS = (("aes-128-gcm", "2022-blake3-aes-128-gcm"), ("aes-256-gcm", "2022-blake3-aes-256-gcm"),
                ("chacha20-ietf-poly1305", "2022-blake3-chacha20-poly1305"))


def sip022_section(out, iperf_port, seconds):
    """The 2022 methods beside the 2017 method of the same cipher (libev has no 2022)."""
    out()
    out("## Shadowsocks 2022 against 2017, same cipher (ssbpf sslocal -> ssserver, same run)")
    out()
    out("| cipher | 2017 1 stream | CPU s/GiB | 2022 1 stream | CPU s/GiB | ratio | 2017 8 streams | 2022 8 streams | "
        "2017 conns/s at 16 | 2022 conns/s at 16 |")
    out("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with connbench_echo() as echo_port:
        for old, new in SIP022_PAIRS:
            tp = {m: measure(lambda: chain_ssbpf(iperf_port, m), seconds) for m in (old, new)}
            cr = {m: conn_rates(lambda t: chain_ssbpf(t, m, workers=1), echo_port, ((16, 6000),))
                  for m in (old, new)}
            r1 = "%.2fx" % (tp[new][1][0] / tp[old][1][0]) if tp[new][1][0] and tp[old][1][0] else "-"
            out("| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f |" % (
                old, fmt(tp[old][1][0], "%.2f"), fmt(tp[old][1][1], "%.2f"), fmt(tp[new][1][0], "%.2f"),
                fmt(tp[new][1][1], "%.2f"), r1, fmt(tp[old][8][0], "%.2f"), fmt(tp[new][8][0], "%.2f"),
                cr[old][16][0], cr[new][16][0]))


@contextlib.contextmanager
def app_cgroup():
    """A cgroup v2 directory for the applications of the local-shortcut rows; yields it."""
    cg = cgroup2.make("bench")
    try:
        yield cg[1]
    finally:
        cgroup2.remove(*cg)


def shortcut_section(out, seconds):
    """The local shortcut (--bpf-cgroup) on and off, same run: the applications (a
    ping-pong client, an echo target, iperf3) in a cgroup, the relays outside."""
    out()
    out("## Container egress node: the local shortcut on and off (aes-256-gcm tunnel chain, client and "
        "target on this host, same run)")
    out()
    out("Ping-pong: 3,000 round trips on one connection, three runs alternated, the median of each figure.")
    out()
    out("| shortcut | 1 B ping-pong p50 / p99 us | 1 KiB ping-pong p50 / p99 us | 1 stream Gbit/s | CPU s/GiB |")
    out("| --- | --- | --- | --- | --- |")
    with app_cgroup() as cg:
        def inside():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write("0")
        echo = subprocess.Popen([os.path.join(BUILD, "connbench"), "serve"], stdout=subprocess.PIPE,
                                preexec_fn=inside)
        ip = free_port()
        server = spawn(["iperf3", "-s", "-p", str(ip)], preexec=inside)
        try:
            echo_port = int(echo.stdout.readline())
            wait_port(ip)
            pp = {(on, size): [] for on in (False, True) for size in (1, 1024)}
            for _ in range(3):  # alternated: this machine's latency drifts
                for on in (False, True):
                    procs, port = chain_ssbpf(echo_port, "aes-256-gcm", workers=1,
                                              more=["--bpf-cgroup", cg] if on else [])
                    try:
                        for size in (1, 1024):
                            r = subprocess.run([os.path.join(BUILD, "connbench"), "pingpong", str(port),
                                                str(size), "3000"], capture_output=True, text=True,
                                               timeout=120, preexec_fn=inside)
                            if r.returncode == 0:
                                pp[(on, size)].append([float(x) for x in r.stdout.split()[1:3]])
                    finally:
                        for p in procs:
                            p.terminate()
                            p.wait()
            for on in (False, True):
                procs, port = chain_ssbpf(ip, "aes-256-gcm", more=["--bpf-cgroup", cg] if on else [])
                try:
                    gbit, cpu = iperf(port, seconds, 1, preexec=inside)
                finally:
                    for p in procs:
                        p.terminate()
                        p.wait()
                lat = []
                for size in (1, 1024):
                    runs = pp[(on, size)]
                    lat.append("%.0f / %.0f" % (sorted(r[0] for r in runs)[len(runs) // 2],
                                                sorted(r[1] for r in runs)[len(runs) // 2]) if runs else "-")
                out("| %s | %s | %s | %s | %s |" % ("on" if on else "off", lat[0], lat[1], fmt(gbit, "%.2f"),
                                                   fmt(cpu, "%.2f")))
        finally:
            for p in (echo, server):
                p.kill()
                p.wait()
    out()
    out("With the shortcut, what the application sends to sslocal and what the target sends to ssserver skip "
        "the loopback TCP stack; the relays' bytes into applications keep TCP, and a sender that outruns "
        "the relay by 4 MiB (iperf3 here) takes its leg off the shortcut, onto plain TCP "
        "(README: Container egress node).")


def chart(path, rows):
    """A PNG bar chart (gnuplot) of single-stream throughput, for a reader at a glance."""
    if not shutil.which("gnuplot"):
        return False
    data = path + ".dat"
    with open(data, "w") as f:
        for name, g in rows:
            f.write('"%s" %.2f\n' % (name, g or 0))
    script = ("set terminal png size 1000,520 font ',10'\nset output '%s'\n"
              "set title 'Single-stream throughput over loopback (Gbit/s, higher is better)'\n"
              "set style fill solid 0.8\nset boxwidth 0.6\nset yrange [0:*]\nset grid ytics\n"
              "set xtics rotate by -30\nunset key\n"
              "plot '%s' using 0:2:xtic(1) with boxes lc rgb '#3a7bd5', "
              "'' using 0:2:(sprintf('%%.1f',$2)) with labels offset 0,1\n" % (path, data))
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    os.unlink(data)
    return True


def fmt(v, spec):
    return spec % v if v else "-"


def other_sections(out):
    """The benchmarks that live in their own files."""
    import bench_gateway  # the lan/gw/wan namespaces of the gateway tests
    bench_gateway.section(out)
    import bench_capture  # the node/wan/container namespaces of the capture tests
    bench_capture.section(out)
    import bench_ports  # ssserver with 10 to 10,000 ports, against libev's ss-manager
    bench_ports.section(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--methods", default="chacha20-ietf-poly1305,aes-256-gcm,aes-128-gcm,xchacha20-ietf-poly1305")
    ap.add_argument("--skip-aead", action="store_true")
    a = ap.parse_args()
    ip = free_port()
    server = spawn(["iperf3", "-s", "-p", str(ip)])
    wait_port(ip)
    lines = []
    aead_bars = []

    def out(s=""):
        print(s, flush=True)
        lines.append(s)

    try:
        rows = [("direct", measure(lambda: ([], ip), a.seconds)),
                ("haproxy splice", measure(lambda: chain_haproxy(ip), a.seconds))]
        for tier in ("user", "splice", "sockmap"):
            rows.append(("ssbpf --relay, %s" % tier, measure(lambda: relay_ssbpf(ip, tier), a.seconds)))
        for tier in ("user", "splice", "sockmap"):
            rows.append(("ssbpf none chain (2 hops), %s" % tier,
                         measure(lambda: chain_ssbpf(ip, "none", tier), a.seconds)))
        hp = rows[1][1]
        out("## Pass-through relay, iperf3 over loopback, %d s each" % a.seconds)
        out()
        out("One hop: haproxy and `sslocal --relay` (transit node). Two hops: sslocal -> ssserver with method none.")
        out()
        out("| chain | 1 stream Gbit/s | CPU s/GiB | 8 streams Gbit/s | CPU s/GiB | vs haproxy (1 stream: speed, CPU) | 8 streams vs direct |")
        out("| --- | --- | --- | --- | --- | --- | --- |")
        for name, r in rows:
            g1, c1 = r[1]
            g8, c8 = r[8]
            vs = ""
            if name.startswith("ssbpf") and g1 and hp[1][0]:
                vs = "%.2fx, %.2fx" % (g1 / hp[1][0], c1 / hp[1][1])
            vd = "%.0f%%" % (100 * g8 / rows[0][1][8][0]) if g8 and rows[0][1][8][0] else ""
            out("| %s | %s | %s | %s | %s | %s | %s |" % (name, fmt(g1, "%.2f"), fmt(c1, "%.2f"),
                                                         fmt(g8, "%.2f"), fmt(c8, "%.2f"), vs, vd))
        if not a.skip_aead:
            out()
            out("## AEAD chain: ssbpf sslocal -> ssserver against libev ss-tunnel -> ss-server")
            out()
            out("| method | ssbpf 1 stream | CPU s/GiB | libev 1 stream | CPU s/GiB | ratio | ssbpf 8 streams | libev 8 streams | ratio |")
            out("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for m in a.methods.split(","):
                ours = measure(lambda: chain_ssbpf(ip, m), a.seconds)
                theirs = measure(lambda: chain_libev(ip, m), a.seconds)
                aead_bars.append((m, ours[1][0]))
                aead_bars.append(("libev " + m, theirs[1][0]))
                r1 = "%.2fx" % (ours[1][0] / theirs[1][0]) if ours[1][0] and theirs[1][0] else "-"
                r8 = "%.2fx" % (ours[8][0] / theirs[8][0]) if ours[8][0] and theirs[8][0] else "-"
                out("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    m, fmt(ours[1][0], "%.2f"), fmt(ours[1][1], "%.2f"), fmt(theirs[1][0], "%.2f"),
                    fmt(theirs[1][1], "%.2f"), r1, fmt(ours[8][0], "%.2f"), fmt(theirs[8][0], "%.2f"), r8))
        out()
        setup_section(out)
        users_section(out)
        metrics_section(out, ip, a.seconds)
        sip022_section(out, ip, a.seconds)
        shortcut_section(out, a.seconds)
        other_sections(out)
    finally:
        server.terminate()
        server.wait()
    os.makedirs(os.path.join(ROOT, "bench"), exist_ok=True)
    bars = [(name, r[1][0]) for name, r in rows] + \
        [(m if m.startswith("libev") else "ssbpf " + m, g) for m, g in aead_bars]
    if chart(os.path.join(ROOT, "bench", "throughput.png"), bars):
        lines.append("\n![single-stream throughput](throughput.png)")
    with open(os.path.join(ROOT, "bench", "results.md"), "w") as f:
        f.write("# ssbpf benchmark results\n\nProduced by `make bench` (tools/bench.py) on %s, kernel %s, %d CPUs.\n\n"
                % (time.strftime("%Y-%m-%d"), os.uname().release, os.cpu_count()))
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
