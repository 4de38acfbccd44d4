# SPDX-License-Identifier: MIT
"""Bad input and faults: every case gets a clear error and a clean close, the
daemons keep serving, and their fd counts return to where they started."""
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403


def check_still_serves(lp, echo, srv, loc, base):
    assert socks_echo(lp, "127.0.0.1", echo.port, b"still here") == b"still here"
    wait_until(lambda: (srv.fd_count(), loc.fd_count()) == base, timeout=15,
               what="fd counts back to %s (now %s)" % (base, (srv.fd_count(), loc.fd_count())))


def socks_raw(lp, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", lp), timeout=timeout)
    s.sendall(data)
    return s


def test_socks5_garbage_bind_udp_and_unknown_atyp():
    echo = Server(echo_handler)
    srv, loc, lp = pair()
    base = fd_baseline(srv, loc)
    # Garbage instead of a greeting (a TLS ClientHello's start): closed without a reply.
    s = socks_raw(lp, b"\x16\x03\x01\x02\x00garbage")
    assert closed_within(s, 5)
    # An HTTP request that is no proxy request (origin form): 400, then closed.
    s = socks_raw(lp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 400 ")
    assert closed_within(s, 5)
    # BIND: reply 0x07 (command not supported), then close.
    s = socks_raw(lp, b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x02\x00" + encode_addr("127.0.0.1", 80))
    assert recv_socks_reply(s) == 0x07
    assert closed_within(s, 5)
    # An unknown command byte: also 0x07.
    s = socks_raw(lp, b"\x05\x01\x00\x05\x09\x00" + encode_addr("127.0.0.1", 80))
    assert recv_exact(s, 2) == b"\x05\x00"
    assert recv_socks_reply(s) == 0x07
    # Unknown address type: 0x08.
    s = socks_raw(lp, b"\x05\x01\x00")
    recv_exact(s, 2)
    s.sendall(b"\x05\x01\x00\x09" + b"\x00" * 8)
    assert recv_socks_reply(s) == 0x08
    assert closed_within(s, 5)
    # A zero-length domain is malformed: general failure 0x01.
    s = socks_raw(lp, b"\x05\x01\x00\x05\x01\x00\x03\x00\x00\x50")
    recv_exact(s, 2)
    assert recv_socks_reply(s) == 0x01
    check_still_serves(lp, echo, srv, loc, base)
    assert "not a SOCKS5, SOCKS4 or HTTP proxy request" in loc.log_text()
    assert "SOCKS5 BIND is not supported" in loc.log_text()
    echo.close()


def test_refused_target_and_unresolvable_domain():
    echo = Server(echo_handler)
    srv, loc, lp = pair()
    base = fd_baseline(srv, loc)
    dead = free_port()
    s, rep = socks_connect(lp, "127.0.0.1", dead)
    assert rep == 0  # the server, not sslocal, learns the target's answer
    s.sendall(b"anyone?")
    assert closed_within(s, 10)
    s.close()
    wait_until(lambda: "Connection refused" in srv.log_text(), what="refusal logged")
    s, rep = socks_connect(lp, "no-such-host.invalid", 80)
    assert closed_within(s, 10)
    s.close()
    wait_until(lambda: "resolve: No such file" in srv.log_text(), what="resolve failure logged")
    check_still_serves(lp, echo, srv, loc, base)
    echo.close()


def test_wrong_password_held_until_timeout():
    echo = Server(echo_handler)
    sp, lp, bad_lp = free_port(), free_port(), free_port()
    srv = ssserver(sp, extra=["--handshake-timeout", "3"])
    loc = sslocal(lp, sp)
    sslocal(bad_lp, sp, password="wrong-pw")
    base = fd_baseline(srv)[0]
    s, rep = socks_connect(bad_lp, "127.0.0.1", echo.port)
    assert rep == 0
    t0 = time.time()
    s.sendall(b"x" * 5000)
    # Meanwhile a client with the right key is served normally.
    g, rep = socks_connect(lp, "127.0.0.1", echo.port)
    g.sendall(b"good")
    g.shutdown(socket.SHUT_WR)
    assert recv_all(g) == b"good"
    assert closed_within(s, 10)
    held = time.time() - t0
    assert 2.5 <= held <= 4.5, "closed after %.1fs, expected the 3s handshake deadline" % held
    assert "authentication failed" in srv.log_text()
    assert echo.accepts == 1  # the bad client never reached the target
    wait_until(lambda: srv.fd_count() == base, what="server fds back to baseline")
    echo.close()


def test_random_probes_get_nothing_and_close_at_the_same_deadline():
    """Probes of random bytes, 1-300 long (49, 50, 51 and 221 among them: the
    lengths around salt + length block where implementations have leaked),
    all at once: no byte back, and every one closed at the handshake deadline
    measured from accept, whatever its length."""
    deadline = 2.0
    srv = ssserver(free_port(), extra=["--handshake-timeout", "2"])
    port = int(srv.args[srv.args.index("-p") + 1])
    lengths = sorted(set([1, 2, 16, 31, 32, 33, 48, 49, 50, 51, 52, 64, 100, 128, 200, 221, 255, 256, 299, 300] +
                         random.sample(range(1, 301), 20)))
    results = {}

    def probe(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        t0 = time.time()
        s.sendall(os.urandom(n))
        try:
            results[n] = (closed_within(s, 10), time.time() - t0)
        except AssertionError as e:
            results[n] = (str(e), 0)
        s.close()
    threads = [threading.Thread(target=probe, args=(n,)) for n in lengths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == len(lengths)
    for n, (closed, held) in results.items():
        assert closed is True, (n, closed)
        assert deadline - 0.05 <= held <= deadline + 0.5, "probe of %d bytes closed after %.2fs" % (n, held)
    spread = max(h for _, h in results.values()) - min(h for _, h in results.values())
    assert spread < 0.4, "close times differ by %.2fs across lengths" % spread
    assert srv.poll() is None


class Recorder:
    """A fake ssserver: records the ciphertext a client sends."""

    def __init__(self):
        self.data = b""
        self.done = threading.Event()

        def handler(sock):
            chunks = []
            while True:
                d = sock.recv(65536)
                if not d:
                    break
                chunks.append(d)
            self.data = b"".join(chunks)
            self.done.set()
        self.srv = Server(handler)
        self.port = self.srv.port


def capture_flight(target_port, payload, method="chacha20-ietf-poly1305"):
    """Runs sslocal in tunnel mode against a recorder; returns the ciphertext."""
    rec = Recorder()
    tp = free_port()
    p = start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(rec.port), "-l", str(tp),
               "-k", "test-pw", "-m", method, "-L", "127.0.0.1:%d" % target_port], wait=tp)
    s = socket.create_connection(("127.0.0.1", tp), timeout=5)
    s.sendall(payload)
    time.sleep(0.3)
    s.close()
    assert rec.done.wait(10)
    p.stop()
    rec.srv.close()
    return rec.data


def test_a_client_fin_right_after_its_data_or_none_reaches_the_server_at_once():
    """sslocal sends the header with the first data as soon as it is connected;
    a client that closes at once (with data or without) has its FIN passed on
    after that flight, without waiting for a timeout."""
    for payload in (b"", b"x", os.urandom(40000)):
        conns = []

        def handler(sock):
            t0 = time.time()
            got = read_to_end(sock, timeout=10)
            conns.append((len(got[0]), got[1], time.time() - t0))
        rec = Server(handler)
        tp = free_port()
        p = start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(rec.port), "-l", str(tp),
                   "-k", "test-pw", "-m", "chacha20-ietf-poly1305", "-L", "127.0.0.1:9"], wait=tp)
        wait_until(lambda: len(conns) == 1, what="the start-up probe's flight")
        s = socket.create_connection(("127.0.0.1", tp), timeout=5)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        wait_until(lambda: len(conns) == 2, timeout=5, what="the flight and its FIN")
        n, how, took = conns[1]
        plain = 7 + len(payload)  # the address header shares the first chunk
        want = 32 + plain + 34 * ((plain + 16382) // 16383)
        assert (n, how) == (want, "eof") and took < 2, (len(payload), conns)
        s.close()
        p.stop()
        rec.close()


def test_half_closed_probes_close_at_the_deadline():
    """A probe that sends bytes, then FIN, gets no reaction: closed at the
    handshake deadline, whatever its length, like a probe that stays open."""
    srv = ssserver(free_port(), extra=["--handshake-timeout", "2"])
    port = int(srv.args[srv.args.index("-p") + 1])
    socks, t0 = [], time.time()
    for n in (1, 16, 49, 50, 51, 100, 221):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(os.urandom(n))
        s.shutdown(socket.SHUT_WR)
        socks.append(s)
    for s in socks:
        assert closed_within(s, 10)
        assert time.time() - t0 >= 1.8, "a half-closed probe was closed before the deadline"
        s.close()


def test_truncated_stream_and_client_disconnects_in_every_stage():
    hs = Server(hash_reply_handler)
    echo = Server(echo_handler)
    srv, loc, lp = pair(server_extra=["-t", "5", "--handshake-timeout", "2"])
    port = int(srv.args[srv.args.index("-p") + 1])
    base = fd_baseline(srv, loc)
    payload = os.urandom(40000)  # 3 chunks: 16383 + 16383 + 7234
    flight = capture_flight(hs.port, payload)
    # Header chunk + 2 whole data chunks + part of the third.
    cut = len(flight) - 1000
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(flight[:cut])
    s.shutdown(socket.SHUT_WR)
    assert closed_within(s, 10)
    wait_until(lambda: "truncated stream" in srv.log_text(), what="truncation logged")
    # Server side: close after 0 bytes, inside the salt, inside the first chunk
    # (held to the handshake deadline, like any probe).
    for n in (0, 10, 40, 60):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if n:
            s.sendall(flight[:n])
        time.sleep(0.05)
        s.close()
    # sslocal side: close in INIT, mid-greeting, in ADDR, mid-request, in STREAM.
    for data in (b"", b"\x05", b"\x05\x01\x00", b"\x05\x01\x00\x05\x01\x00\x01\x7f"):
        s = socket.create_connection(("127.0.0.1", lp), timeout=5)
        if data:
            s.sendall(data)
        time.sleep(0.05)
        s.close()
    s, rep = socks_connect(lp, "127.0.0.1", echo.port)
    s.sendall(b"half a conversation")
    s.close()
    check_still_serves(lp, echo, srv, loc, base)
    hs.close()
    echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_socks5_garbage_bind_udp_and_unknown_atyp,
        test_refused_target_and_unresolvable_domain,
        test_wrong_password_held_until_timeout,
        test_random_probes_get_nothing_and_close_at_the_same_deadline,
        test_truncated_stream_and_client_disconnects_in_every_stage,
        test_a_client_fin_right_after_its_data_or_none_reaches_the_server_at_once,
        test_half_closed_probes_close_at_the_deadline,
    ], "badinput"))
