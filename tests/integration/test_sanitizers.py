# SPDX-License-Identifier: MIT
"""The ASan+UBSan+LSan build of ssserver and sslocal through normal and bad
traffic; any sanitizer report or leak at exit fails the test."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from aead_probe import udp_round_trip  # noqa: E402
from sstest import *  # noqa: E402,F401,F403
from test_udp import UdpEcho  # noqa: E402

SAN = os.path.join(BUILD, "asan")
os.environ["ASAN_OPTIONS"] = "detect_leaks=1:exitcode=23:halt_on_error=1"
os.environ["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"


def exit_with_one_open(srv, loc, lp, echo_port):
    """Both daemons stop with a connection open: exit 0, no sanitizer report, no leak."""
    left_open, rep = socks_connect(lp, "127.0.0.1", echo_port)
    left_open.sendall(b"x")
    assert recv_exact(left_open, 1) == b"x"
    assert loc.stop(signal.SIGTERM) == 0, loc.log_text()
    assert srv.stop(signal.SIGINT) == 0, srv.log_text()
    for p in (srv, loc):
        log = p.log_text()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]


def test_asan_relay_then_clean_exit_without_leaks():
    echo = Server(echo_handler)
    web = HttpFiles(LOGDIR)
    path = random_file(16 << 20, "asan.bin")
    srv, loc, lp = pair(method="aes-256-gcm", binary_dir=SAN, server_extra=["-t", "2", "-u"],
                        local_extra=["-u"])
    sp = int(srv.args[srv.args.index("-p") + 1])
    # Normal traffic: curl download, echo with half-close, a domain target.
    r = curl(["--socks5-hostname", "127.0.0.1:%d" % lp, "http://localhost:%d/asan.bin" % web.port,
              "-o", path + ".down"])
    assert r.returncode == 0 and sha256_file(path + ".down") == sha256_file(path), r.stderr
    for host in ("127.0.0.1", "localhost"):
        s, rep = socks_connect(lp, host, echo.port)
        s.sendall(os.urandom(100000))
        s.shutdown(socket.SHUT_WR)
        assert len(recv_all(s)) == 100000
        s.close()
    # Bad traffic: garbage SOCKS5, BIND, unresolvable name, refused port,
    # a random probe held by the server, and connections left open at exit.
    s = socket.create_connection(("127.0.0.1", lp), timeout=5)
    s.sendall(b"garbage")
    assert closed_within(s, 5)
    s, rep = socks_connect(lp, "x.invalid", 1)
    assert closed_within(s, 5)
    s, rep = socks_connect(lp, "127.0.0.1", free_port())
    assert closed_within(s, 5)
    probe = socket.create_connection(("127.0.0.1", sp), timeout=5)
    probe.sendall(os.urandom(77))
    # UDP: an association with traffic, a domain target, bad datagrams, one left open.
    sys.path.insert(0, os.path.dirname(__file__))
    from test_udp import Association, UdpEcho
    uecho = UdpEcho()
    a = Association(lp)
    for host in ("127.0.0.1", "localhost"):
        a.send(host, uecho.port, b"udp under asan")
        assert a.recv()[2] == b"udp under asan"
    a.send("127.0.0.1", uecho.port, b"frag", frag=2)
    a.udp.sendto(b"\0\0\0\x07", a.relay)
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.sendto(os.urandom(99), ("127.0.0.1", sp))
    raw.sendto(b"x", ("127.0.0.1", sp))
    exit_with_one_open(srv, loc, lp, echo.port)
    web.close()
    echo.close()


def test_asan_users_reload_control_socket_and_metrics():
    """Users on a port, a reload that re-keys, adds and removes ports with a
    connection open, ssctl and /metrics requests, a kill; a clean exit. A lone
    worker does it all itself; a tree's parent does its part too."""
    for workers in ("1", "2"):
        users_reload_ctl(workers)
        stop_all()


def users_reload_ctl(workers):
    import json
    import subprocess
    echo = Server(echo_handler)
    a, b = free_port(), free_port()
    cfg = os.path.join(LOGDIR, "san.json")
    ctl, mp = os.path.join(LOGDIR, "san.sock"), free_port()

    def write(ports):
        with open(cfg, "w") as f:
            json.dump({"server": "127.0.0.1", "method": "aes-256-gcm", "servers": ports}, f)
    write([{"server_port": a, "users": [{"name": "u1", "password": "p1"}, {"name": "u2", "password": "p2"}]},
           {"server_port": b, "password": "pb"}])
    srv = start([os.path.join(SAN, "ssserver"), "-c", cfg, "--allow-private", "--ctl-socket", ctl,
                 "--metrics", "127.0.0.1:%d" % mp, "--workers", workers, "-u"], wait=a)
    # Two ports: with BPF, one socket per worker; a datagram to b makes b's relay, which the
    # reload below closes with the port.
    uecho = UdpEcho()
    wait_until(lambda: udp_round_trip(b, "pb", uecho.port, b"dgram") == b"dgram", 5, "UDP through b")
    lp = free_port()
    loc = start([os.path.join(SAN, "sslocal"), "-s", "127.0.0.1", "-p", str(a), "-k", "p2", "-m", "aes-256-gcm",
                 "-l", str(lp)], wait=lp)
    assert socks_echo(lp, "127.0.0.1", echo.port, b"u2 under asan") == b"u2 under asan"
    held, rep = socks_connect(lp, "127.0.0.1", echo.port)
    held.sendall(b"held")
    assert recv_exact(held, 4) == b"held"
    write([{"server_port": a, "users": [{"name": "u2", "password": "p2-new"}]}])
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: "port %d removed" % b in srv.log_text(), 5, "the reload")
    held.sendall(b"still")
    assert recv_exact(held, 5) == b"still"
    ssctl = os.path.join(BUILD, "ssctl")
    rows = json.loads(subprocess.run([ssctl, "-s", ctl, "conns", "--json"], capture_output=True,
                                     text=True).stdout)["connections"]
    assert rows and subprocess.run([ssctl, "-s", ctl, "kill", str(rows[0]["id"])]).returncode == 0
    assert closed_within(held, 5)
    for req in (b"GET /metrics HTTP/1.0\r\n\r\n", b"junk\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", mp), timeout=5)
        s.sendall(req)
        assert read_to_end(s)[0].startswith(b"HTTP/1.1")
    subprocess.run([ssctl, "-s", ctl, "stats"], capture_output=True)
    assert loc.stop(signal.SIGTERM) == 0, loc.log_text()
    assert srv.stop(signal.SIGTERM) == 0, srv.log_text()
    log = srv.log_text()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
    echo.close()
    uecho.close()


def test_asan_sip022_tcp_udp_users_and_bad_input():
    """The 2022 methods under the sanitizers: TCP and UDP relays, users by
    identity header, a replay, an old and a cut request, garbage datagrams;
    sessions and salts are freed, no report, no leak at exit."""
    import base64
    import json
    sys.path.insert(0, os.path.dirname(__file__))
    from test_udp import Association, UdpEcho
    echo, uecho = Server(echo_handler), UdpEcho()
    method = "2022-blake3-aes-128-gcm"
    ipsk, alice = (base64.b64encode(os.urandom(16)).decode() for _ in range(2))
    sp, lp = free_port(), free_port()
    cfg = os.path.join(LOGDIR, "asan-2022.json")
    with open(cfg, "w") as f:
        json.dump({"server": "127.0.0.1", "server_port": sp, "method": method, "password": ipsk,
                   "users": [{"name": "alice", "password": alice}], "mode": "tcp_and_udp"}, f)
    srv = start([os.path.join(SAN, "ssserver"), "-c", cfg, "--allow-private", "--handshake-timeout", "2"],
                wait=sp)
    loc = start([os.path.join(SAN, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-b",
                 "127.0.0.1", "-k", "%s:%s" % (ipsk, alice), "-m", method, "-u"], wait=lp)
    for size in (1, 70000, 300000):
        s, rep = socks_connect(lp, "127.0.0.1", echo.port)
        data = os.urandom(size)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == data
        s.close()
    a = Association(lp)
    for i in range(50):
        a.send("127.0.0.1", uecho.port, b"2022 udp %d" % i)
        assert a.recv()[2] == b"2022 udp %d" % i
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n in (1, 16, 40, 200):
        raw.sendto(os.urandom(n), ("127.0.0.1", sp))
    probes = []
    for n in (10, 59, 75, 300):
        p = socket.create_connection(("127.0.0.1", sp), timeout=5)
        p.sendall(os.urandom(n))
        probes.append(p)
    exit_with_one_open(srv, loc, lp, echo.port)
    a.close()
    echo.close()
    uecho.close()


if __name__ == "__main__":
    sys.exit(run_tests([test_asan_relay_then_clean_exit_without_leaks,
                        test_asan_users_reload_control_socket_and_metrics,
                        test_asan_sip022_tcp_udp_users_and_bad_input], "sanitizers"))
