# SPDX-License-Identifier: MIT
"""Resets through every STREAM tier: a peer that sends N bytes and at once
resets (SO_LINGER 0) gets every byte delivered, and the other side then sees
a reset, not a clean EOF; a FIN stays a FIN. Also: the splice pipe pool gives
its fds back after a crowd."""
import fcntl
import os
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

TIERS = ("sockmap", "splice", "user")
SIZES = (8, 1024, 65536)
TRIALS = int(os.environ.get("SSBPF_RESET_TRIALS", "200"))
LINGER0 = struct.pack("ii", 1, 0)


def reset_now(sock):
    """Resets once the kernel has sent everything (a reset drops unsent bytes
    at the source, with or without a relay in between)."""
    end = time.time() + 5
    while time.time() < end:
        if struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0] == 0:
            break
        time.sleep(0.001)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    sock.close()


class Target:
    """down: sends the payload it is told by the first 4 bytes' size, then resets.
    up: reads until EOF or reset and reports (bytes, how) in a queue."""

    def __init__(self):
        self.results = {}
        self.cond = threading.Condition()

        def handler(sock):
            head = b""
            while len(head) < 9:
                try:
                    d = sock.recv(9 - len(head))
                except OSError:
                    d = b""
                if not d:
                    return
                head += d
            mode, tid, n = head[:1], struct.unpack(">I", head[1:5])[0], struct.unpack(">I", head[5:])[0]
            if mode == b"d":
                sock.sendall(payload(n))
                reset_now(sock)
            elif mode == b"f":
                sock.sendall(payload(n))
                sock.close()
            else:
                r = read_to_end(sock)
                with self.cond:
                    self.results[tid] = r
                    self.cond.notify_all()
        self.srv = Server(handler)
        self.port = self.srv.port

    def result(self, tid, timeout=10):
        with self.cond:
            self.cond.wait_for(lambda: tid in self.results, timeout)
            return self.results.pop(tid, (b"", "nothing reached the target"))

    def close(self):
        self.srv.close()


_ids = iter(range(1 << 30))


def head(mode, n):
    tid = next(_ids)
    return tid, mode + struct.pack(">II", tid, n)


def payload(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n)) if n < 4096 else (b"0123456789abcdef" * (n // 16 + 1))[:n]


def chains(tier, target):
    """Yields (name, connect) for the --relay chain and the -m none chain."""
    rp = free_port()
    start([os.path.join(BUILD, "sslocal"), "--relay", "-l", str(rp), "-L", "127.0.0.1:%d" % target.port,
           "--tier", tier], wait=rp)
    yield "relay", lambda: socket.create_connection(("127.0.0.1", rp), timeout=10)
    stop_all()
    _, _, lp = pair(method="none", server_extra=["--tier", tier], local_extra=["--tier", tier])

    def via_socks():
        s, rep = socks_connect(lp, "127.0.0.1", target.port)
        assert rep == 0, rep
        return s
    yield "none", via_socks
    stop_all()


def trial(connect, target, direction, n):
    """One connection; returns None when every byte arrived and a reset followed."""
    s = connect()
    if direction == "down":
        s.sendall(head(b"d", n)[1])
        got, how = read_to_end(s)
        s.close()
    else:
        tid, h = head(b"u", n)
        s.sendall(h + payload(n))
        reset_now(s)
        got, how = target.result(tid)
    if got != payload(n) or how != "reset":
        return "%s %d bytes: got %d bytes, then %s" % (direction, n, len(got), how)
    return None


def test_bytes_before_a_reset_arrive_then_the_reset_every_tier():
    target = Target()
    failures = []
    for tier in TIERS:
        for name, connect in chains(tier, target):
            bad = []
            for direction in ("down", "up"):
                for i in range(TRIALS):
                    r = trial(connect, target, direction, SIZES[i % len(SIZES)])
                    if r:
                        bad.append(r)
            print("%s/%s: %d of %d trials failed%s" % (tier, name, len(bad), 2 * TRIALS,
                                                      (": " + bad[0]) if bad else ""))
            failures += ["%s/%s: %s" % (tier, name, b) for b in bad]
    target.close()
    assert not failures, "%d failures, first: %s" % (len(failures), failures[:3])


def test_a_fin_stays_a_fin_every_tier():
    target = Target()
    for tier in TIERS:
        for name, connect in chains(tier, target):
            for n in SIZES:
                s = connect()
                s.sendall(head(b"f", n)[1])
                got, how = read_to_end(s)
                s.close()
                assert (len(got), how) == (n, "eof") and got == payload(n), (tier, name, n, len(got), how)
    target.close()


def test_aead_chain_passes_a_reset_on():
    target = Target()
    _, _, lp = pair(method="aes-256-gcm")
    for direction in ("down", "up"):
        for n in SIZES:
            def connect():
                s, rep = socks_connect(lp, "127.0.0.1", target.port)
                assert rep == 0
                return s
            r = trial(connect, target, direction, n)
            assert r is None, r
    target.close()


def test_splice_pipe_pool_gives_fds_back():
    echo = Server(echo_handler)
    _, loc, lp = pair(method="none", server_extra=["--tier", "splice"], local_extra=["--tier", "splice"])
    base = fd_baseline(loc)[0]
    socks = []
    for i in range(200):
        s, rep = socks_connect(lp, "127.0.0.1", echo.port)
        assert rep == 0
        s.sendall(b"x" * 100)
        socks.append(s)
    for s in socks:
        assert recv_exact(s, 100) == b"x" * 100
    peak = loc.fd_count()
    for s in socks:
        s.close()
    wait_until(lambda: loc.fd_count() <= base + 40, timeout=8,
               what="fds back within 40 of %d (peak %d, now %d)" % (base, peak, loc.fd_count()))
    echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_bytes_before_a_reset_arrive_then_the_reset_every_tier,
        test_a_fin_stays_a_fin_every_tier,
        test_aead_chain_passes_a_reset_on,
        test_splice_pipe_pool_gives_fds_back,
    ], "resets"))
