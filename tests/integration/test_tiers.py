# SPDX-License-Identifier: MIT
"""The STREAM-stage tiers (userspace, splice, sockmap) for pass-through pairs
(method none, sslocal --relay), each forced in turn: integrity, half-close,
concurrency, resets, bounded memory with a slow receiver, the fallback
without privileges, and BPF objects released at exit."""
import hashlib
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

TIERS = ("user", "splice", "sockmap")
GIB_MB = int(os.environ.get("SSBPF_TIER_MB", "1024"))
CHUNK = 16 << 20


def tier_pair(tier, method="none", extra=()):
    return pair(method=method, server_extra=["--tier", tier] + list(extra),
                local_extra=["--tier", tier] + list(extra))


def stats(proc):
    """Sends SIGUSR1 and parses the stats lines the daemon logs."""
    before = proc.log_text().count("TCP connections live")
    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: proc.log_text().count("TCP connections live") > before, what="stats")
    text = proc.log_text()
    live = re.findall(r"(\d+) TCP connections live; pairs handed to sockmap (\d+), to splice (\d+), "
                      r"moved out of sockmap by flow control (\d+); (\d+) pipe pairs pooled", text)[-1]
    out = dict(zip(("live", "sockmap", "splice", "left", "pipes"), map(int, live)))
    sm = re.findall(r"sockmap: (\d+) socket entries, (\d+) peer entries", text)
    if sm:
        out["entries"] = int(sm[-1][0]) + int(sm[-1][1])
    return out


class RandomSource:
    """Sends size random bytes to each client, then closes; remembers the hash."""

    def __init__(self, size):
        self.size = size
        self.digest = None

        def handler(sock):
            h = hashlib.sha256()
            left = self.size
            while left:
                d = os.urandom(min(left, CHUNK))
                h.update(d)
                sock.sendall(d)
                left -= len(d)
            self.digest = h.hexdigest()
            sock.shutdown(socket.SHUT_WR)
        self.srv = Server(handler)
        self.port = self.srv.port


def upload(lp, port, size):
    """Sends size random bytes, half-closes, expects the hash reply."""
    s, rep = socks_connect(lp, "127.0.0.1", port, timeout=60)
    assert rep == 0
    h = hashlib.sha256()
    left = size
    while left:
        d = os.urandom(min(left, CHUNK))
        h.update(d)
        s.sendall(d)
        left -= len(d)
    s.shutdown(socket.SHUT_WR)
    reply = recv_all(s).decode().split()
    s.close()
    return reply == [str(size), h.hexdigest()], reply


def download(lp, src):
    s, rep = socks_connect(lp, "127.0.0.1", src.port, timeout=60)
    assert rep == 0
    n, digest = sha256_stream(s)
    s.close()
    wait_until(lambda: src.digest is not None, what="source hash")
    return n == src.size and digest == src.digest, n


def fds_back(srv, loc, base):
    """fd counts equal the baseline once pooled splice pipes (2 fds a pair) are set aside."""
    def ok():
        return (srv.fd_count() - 2 * stats(srv)["pipes"], loc.fd_count() - 2 * stats(loc)["pipes"]) == base
    try:
        wait_until(ok, timeout=20, what="fds back to %s" % (base,))
    except AssertionError:
        for p in (srv, loc):
            d = "/proc/%d/fd" % p.pid
            fds = sorted(os.listdir(d), key=int)
            print("fds of %s: %s" % (p.pid, [(f, os.readlink(os.path.join(d, f))) for f in fds if os.path.exists(os.path.join(d, f))]))
        print(subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout)
        raise


def test_gib_each_way_and_half_close_every_tier():
    size = GIB_MB << 20
    hs = Server(hash_reply_handler)
    src = RandomSource(size)
    for tier in TIERS:
        srv, loc, lp = tier_pair(tier)
        assert "forced by --tier" in srv.log_text()
        t0 = time.time()
        ok, reply = upload(lp, hs.port, size)  # the client half-closes, then reads the reply
        assert ok, (tier, "upload", reply)
        t1 = time.time()
        src.digest = None
        ok, n = download(lp, src)
        assert ok, (tier, "download", n)
        t2 = time.time()
        st = stats(srv)
        print("%s: up %.2f Gbit/s, down %.2f Gbit/s, server %s" % (
            tier, size * 8 / 1e9 / (t1 - t0), size * 8 / 1e9 / (t2 - t1), st))
        if tier == "sockmap":
            assert st["sockmap"] >= 2, st
        if tier == "splice":
            assert st["splice"] >= 2 and st["sockmap"] == 0, st
        if tier == "user":
            assert st["splice"] == 0 and st["sockmap"] == 0, st
        stop_all()
    hs.close()
    src.srv.close()


def many_echo(lp, port, n):
    """n connections open at once, each echoing its own payload; returns how many matched."""
    socks, want, got = [], {}, {}
    for i in range(n):
        s, rep = socks_connect(lp, "127.0.0.1", port, timeout=30)
        assert rep == 0
        socks.append(s)
        want[s] = os.urandom(2000 + i)
        got[s] = b""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.sendall(want[s])
        s.shutdown(socket.SHUT_WR)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    open_ = set(socks)
    end = time.time() + 60
    while open_ and time.time() < end:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            if d:
                got[s] += d
            else:
                sel.unregister(s)
                open_.discard(s)
                s.close()
    return sum(1 for s in socks if got[s] == want[s])


def test_1000_concurrent_connections_every_tier():
    echo = Server(echo_handler)
    for tier in TIERS:
        srv, loc, lp = tier_pair(tier)
        base = fd_baseline(srv, loc)
        ok = many_echo(lp, echo.port, 1000)
        assert ok == 1000, (tier, ok)
        fds_back(srv, loc, base)
        st = stats(srv)
        if tier == "sockmap":
            assert st["sockmap"] >= 1000 and st["entries"] == 0, st
        stop_all()
    echo.close()


def resetting_handler(sock):
    """Sends 2 MiB, then resets the connection (SO_LINGER 0)."""
    sock.sendall(os.urandom(2 << 20))
    time.sleep(0.2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_peer_reset_tears_the_pair_down_every_tier():
    rs = Server(resetting_handler)
    for tier in TIERS:
        srv, loc, lp = tier_pair(tier)
        base = fd_baseline(srv, loc)
        s, rep = socks_connect(lp, "127.0.0.1", rs.port, timeout=10)
        assert rep == 0
        s.settimeout(10)
        n = 0
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                n += len(d)
        except ConnectionResetError:
            pass
        s.close()
        assert n <= 2 << 20
        fds_back(srv, loc, base)
        for p in (srv, loc):
            st = stats(p)
            assert st["live"] == 0, (tier, st)
            if tier == "sockmap":
                assert st["entries"] == 0, (tier, st)
        stop_all()
    rs.close()


def test_slow_receiver_memory_stays_bounded():
    """The sender pushes as fast as it can for 20 s; the client reads 1 MiB/s.
    Bound stated: TCP memory (all sockets on the machine, /proc/net/sockstat)
    under 96 MiB, and each daemon's RSS under 64 MiB."""
    seconds = float(os.environ.get("SSBPF_SLOW_SECONDS", "20"))
    bl = Blaster(1 << 20)
    for tier in ("sockmap", "splice"):
        bl.stop.clear()
        base_mem = sockstat_tcp_mem_kib()
        srv, loc, lp = tier_pair(tier)
        s, rep = socks_connect(lp, "127.0.0.1", bl.port, timeout=10)
        assert rep == 0
        got, peak_mem, peak_rss = slow_read(s, seconds, (srv, loc), base_mem)
        bl.stop.set()
        s.close()
        print("%s: received %d MiB in %.0fs, peak TCP memory +%d KiB, peak daemon RSS %d KiB, %s" % (
            tier, got >> 20, seconds, peak_mem, peak_rss, stats(srv)))
        assert got >= seconds * (1 << 20) * 0.5, "the slow receiver was starved"
        assert peak_mem < 96 << 10, "TCP memory grew to %d KiB" % peak_mem
        assert peak_rss < 64 << 10, "daemon RSS grew to %d KiB" % peak_rss
        stop_all()
    bl.close()


def as_nobody(args):
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"] + args


def test_without_privileges_bpf_on_fails_and_auto_uses_splice():
    port = free_port()
    r = subprocess.run(as_nobody([os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(port),
                                  "-m", "none", "--bpf", "on"]),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    out = r.stdout.decode()
    assert r.returncode != 0 and "CAP_BPF" in out, (r.returncode, out)
    echo = Server(echo_handler)
    sp, lp = free_port(), free_port()
    srv = start(as_nobody([os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(sp), "-m", "none",
                           "--allow-private"]),
                name="ssserver", wait=sp)
    loc = start(as_nobody([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(lp),
                           "-m", "none"]), name="sslocal", wait=lp)
    assert socks_echo(lp, "127.0.0.1", echo.port, b"unprivileged") == b"unprivileged"
    for p in (srv, loc):
        log = p.log_text()
        assert "sockmap tier unavailable: loading BPF needs CAP_BPF" in log, log
        assert "splice (kernel pipe copy) (BPF unavailable)" in log, log
        assert stats(p)["splice"] >= 1
    echo.close()


def bpf_maps_named(name):
    r = subprocess.run(["bpftool", "map", "show"], stdout=subprocess.PIPE, timeout=20)
    return len(re.findall(r"name %s\b" % name, r.stdout.decode()))


def test_bpf_programs_and_maps_released_on_exit_and_kill():
    base = bpf_maps_named("sock_run")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        srv = ssserver(free_port(), "none")
        assert bpf_maps_named("sock_run") == base + 1
        srv.send_signal(sig)
        srv.wait(10)
        wait_until(lambda: bpf_maps_named("sock_run") == base, what="maps freed after signal %d" % sig)
    assert not os.path.exists("/sys/fs/bpf/ssbpf")


def test_relay_transit_node_every_tier():
    """client -> sslocal (AEAD) -> sslocal --relay (no key) -> ssserver (AEAD) -> target."""
    web = HttpFiles(LOGDIR)
    path = random_file(64 << 20, "relay.bin")
    want = sha256_file(path)
    for tier in TIERS:
        sp, rp, lp = free_port(), free_port(), free_port()
        ssserver(sp, "aes-256-gcm")
        relay = start([os.path.join(BUILD, "sslocal"), "--relay", "-l", str(rp), "-L", "127.0.0.1:%d" % sp,
                       "--tier", tier], wait=rp)
        sslocal(lp, rp, "aes-256-gcm")
        r = curl(["--socks5-hostname", "127.0.0.1:%d" % lp, "http://127.0.0.1:%d/relay.bin" % web.port,
                  "-o", path + ".down"])
        assert r.returncode == 0 and sha256_file(path + ".down") == want, (tier, r.stderr)
        assert "upstream legs carry the same bytes" in relay.log_text()
        st = stats(relay)
        assert tier == "user" or st["sockmap" if tier == "sockmap" else "splice"] >= 1, st
        stop_all()
    web.close()


def test_sockmap_bytes_are_read_from_the_bpf_map():
    """The kernel's own count of redirected bytes, per socket, read from the relay's peers map
    while the pair lives: it carried every byte of both directions."""
    got = {"n": 0}
    release = threading.Event()

    def handler(sock):
        while got["n"] < 3_000_000:
            d = sock.recv(1 << 20)
            if not d:
                return
            got["n"] += len(d)
        sock.sendall(b"d" * 2_000_000)
        release.wait(30)
    srv = Server(handler)
    rp = free_port()
    relay = start([os.path.join(BUILD, "sslocal"), "--relay", "-l", str(rp), "-L", "127.0.0.1:%d" % srv.port,
                   "--tier", "sockmap"], wait=rp)
    c = socket.create_connection(("127.0.0.1", rp), timeout=10)
    time.sleep(0.2)  # the pair enters sockmap once its queues are empty
    c.sendall(b"u" * 3_000_000)
    assert len(recv_exact(c, 2_000_000)) == 2_000_000
    entries = bpf_map_dump(relay.pid, "peers")
    counts = sorted(e["value"]["bytes"] for e in entries)
    release.set()
    c.close()
    assert counts == [2_000_000, 3_000_000], entries
    srv.close()


def test_aead_server_keeps_userspace_and_says_so():
    srv = ssserver(free_port(), "chacha20-ietf-poly1305", extra=["--bpf", "on"])
    assert "STREAM tiers: userspace for both legs (method chacha20-ietf-poly1305 encrypts" in srv.log_text()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_gib_each_way_and_half_close_every_tier,
        test_1000_concurrent_connections_every_tier,
        test_peer_reset_tears_the_pair_down_every_tier,
        test_slow_receiver_memory_stays_bounded,
        test_without_privileges_bpf_on_fails_and_auto_uses_splice,
        test_bpf_programs_and_maps_released_on_exit_and_kill,
        test_relay_transit_node_every_tier,
        test_aead_server_keeps_userspace_and_says_so,
        test_sockmap_bytes_are_read_from_the_bpf_map,
    ], "tiers"))
