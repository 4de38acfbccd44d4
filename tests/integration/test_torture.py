# SPDX-License-Identifier: MIT
"""Randomized integrity torture of every STREAM tier, in both pass-through
topologies (sslocal --relay, and sslocal -> ssserver with method none):
concurrent connections of random sizes doing echo, downloads and uploads that
end with a FIN or a reset, half-close from either side, ping-pong and slow
readers. Every byte of both directions is checked, then fds and memory.

Seeded and reproducible: the seed of each round is printed, and
SSBPF_TORTURE_SEED=N runs that round alone. make test runs 3 short rounds
(SSBPF_TORTURE_ROUNDS, SSBPF_TORTURE_CONNS); make torture runs long ones."""
import fcntl
import hashlib
import itertools
import os
import random
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

TIERS = ("user", "splice", "sockmap")
ROUNDS = int(os.environ.get("SSBPF_TORTURE_ROUNDS", "3"))
CONNS = int(os.environ.get("SSBPF_TORTURE_CONNS", "40"))
MAX_SIZE = int(os.environ.get("SSBPF_TORTURE_MAX", str(2 << 20)))
HEAD = struct.Struct(">cIIIB")  # mode, id, size, seed, flags
FLAG_RESET, FLAG_SLOW = 1, 2


_ids = itertools.count(1)  # target result keys, unique in the process


def data(seed, size):
    return random.Random(seed).randbytes(size)


def drained_reset(sock):
    """A reset once the kernel has sent everything (a reset drops unsent bytes)."""
    end = time.time() + 5
    while time.time() < end and struct.unpack(
            "i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]:
        time.sleep(0.001)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def recv_n(sock, n):
    buf = b""
    while len(buf) < n:
        d = sock.recv(n - len(buf))
        if not d:
            raise EOFError("short read")
        buf += d
    return buf


class Target:
    def __init__(self):
        self.results = {}
        self.cond = threading.Condition()

        def handler(sock):
            try:
                mode, tid, size, seed, flags = HEAD.unpack(recv_n(sock, HEAD.size))
            except EOFError:  # a port probe
                return
            if mode == b"E":
                echo_handler(sock)
            elif mode == b"D":
                sock.sendall(data(seed, size))
                if flags & FLAG_RESET:
                    drained_reset(sock)
                else:
                    sock.close()
            elif mode in (b"U", b"H"):
                if mode == b"H":  # the target half-closes first, then reads
                    sock.sendall(data(seed + 1, size // 2))
                    sock.shutdown(socket.SHUT_WR)
                got, how = read_to_end(sock, flags & FLAG_SLOW, timeout=60)
                with self.cond:
                    self.results[tid] = (hashlib.sha256(got).hexdigest(), len(got), how)
                    self.cond.notify_all()
            elif mode == b"P":
                for _ in range(size):
                    n = struct.unpack(">H", recv_n(sock, 2))[0]
                    sock.sendall(struct.pack(">H", n) + recv_n(sock, n))
                sock.close()
        self.srv = Server(handler)
        self.port = self.srv.port

    def result(self, tid, timeout=60):
        with self.cond:
            self.cond.wait_for(lambda: tid in self.results, timeout)
            return self.results.pop(tid, None)


def one(connect, target, rnd, tid):
    """Runs one random scenario; returns None or what went wrong."""
    mode = rnd.choice(b"EDUHP")
    mode = bytes([mode])
    size = rnd.choice((0, 1, 100, 1500, 65536, 300000, rnd.randint(0, MAX_SIZE)))
    seed = rnd.randrange(1 << 31)
    flags = (FLAG_RESET if rnd.random() < 0.4 else 0) | (FLAG_SLOW if rnd.random() < 0.2 else 0)
    if mode == b"P":
        size = rnd.randint(1, 50)
    what = "%s size %d seed %d flags %d" % (mode.decode(), size, seed, flags)
    s = connect()
    s.sendall(HEAD.pack(mode, tid, size, seed, flags))
    body = data(seed, size) if mode != b"P" else b""
    if mode == b"E":
        t = threading.Thread(target=lambda: (s.sendall(body), s.shutdown(socket.SHUT_WR)))
        t.start()
        got, how = read_to_end(s, flags & FLAG_SLOW, timeout=60)
        t.join()
        s.close()
        if got != body or how != "eof":
            return "%s: echo got %d bytes then %s" % (what, len(got), how)
    elif mode == b"D":
        got, how = read_to_end(s, flags & FLAG_SLOW, timeout=60)
        s.close()
        want = "reset" if flags & FLAG_RESET else "eof"
        if got != body or how != want:
            return "%s: download got %d bytes then %s, want %s" % (what, len(got), how, want)
    elif mode in (b"U", b"H"):
        if mode == b"H":
            got, how = read_to_end(s, timeout=60)
            if got != data(seed + 1, size // 2) or how != "eof":
                return "%s: half-closed target sent %d bytes then %s" % (what, len(got), how)
        s.sendall(body)
        if flags & FLAG_RESET:
            drained_reset(s)
        else:
            s.close()
        r = target.result(tid)
        want = (hashlib.sha256(body).hexdigest(), len(body), "reset" if flags & FLAG_RESET else "eof")
        if r != want:
            return "%s: target got %s, want %d bytes then %s" % (what, r and r[1:], len(body), want[2])
    else:
        for _ in range(size):
            msg = rnd.randbytes(rnd.randint(1, 3000))
            s.sendall(struct.pack(">H", len(msg)) + msg)
            if recv_n(s, 2 + len(msg))[2:] != msg:
                return "%s: ping-pong reply differs" % what
        s.close()
    return None


def topologies(tier, target):
    rp = free_port()
    relay = start([os.path.join(BUILD, "sslocal"), "--relay", "-l", str(rp), "-L",
                   "127.0.0.1:%d" % target.port, "--tier", tier], wait=rp)
    yield "relay", [relay], lambda: socket.create_connection(("127.0.0.1", rp), timeout=30)
    stop_all()
    srv, loc, lp = pair(method="none", server_extra=["--tier", tier], local_extra=["--tier", tier])

    def via_socks():
        s, rep = socks_connect(lp, "127.0.0.1", target.port, timeout=30)
        assert rep == 0, rep
        return s
    yield "none", [srv, loc], via_socks
    stop_all()


def run_round(seed, target):
    failures = []
    for tier in TIERS:
        for name, procs, connect in topologies(tier, target):
            base = fd_baseline(*procs)
            rnd = random.Random("%d/%s/%s" % (seed, tier, name))
            plans = [(random.Random(rnd.randrange(1 << 62)), i) for i in range(CONNS)]
            errs = []

            def worker(r, i):
                try:
                    e = one(connect, target, r, next(_ids))
                except Exception as ex:  # noqa: BLE001
                    e = "exception %r" % ex
                if e:
                    errs.append(e)
            threads = [threading.Thread(target=worker, args=p) for p in plans]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            try:
                # Pooled splice pipes (at most 8 pairs a process) may stay.
                wait_until(lambda: all(n <= b + 16 for n, b in zip((p.fd_count() for p in procs), base)),
                           timeout=15, what="fds back near %s" % (base,))
            except AssertionError as e:
                errs.append(str(e))
            rss = [p.rss_kib() for p in procs]
            if max(rss) > 256 << 10:
                errs.append("RSS %s KiB" % rss)
            print("seed %d %s/%s: %d connections, %d failures, RSS %s KiB%s" % (
                seed, tier, name, CONNS, len(errs), rss, (": " + errs[0]) if errs else ""), flush=True)
            failures += ["seed %d %s/%s: %s" % (seed, tier, name, e) for e in errs]
    return failures


def test_torture_every_tier_both_topologies():
    target = Target()
    if os.environ.get("SSBPF_TORTURE_SEED"):
        seeds = [int(os.environ["SSBPF_TORTURE_SEED"])]
    else:
        seeds = [random.randrange(1 << 30) for _ in range(ROUNDS)]
    failures = []
    for seed in seeds:
        print("round seed %d (re-run alone with SSBPF_TORTURE_SEED=%d)" % (seed, seed), flush=True)
        failures += run_round(seed, target)
    target.srv.close()
    assert not failures, "%d failures; first: %s" % (len(failures), failures[:3])


if __name__ == "__main__":
    sys.exit(run_tests([test_torture_every_tier_both_topologies], "torture"))
