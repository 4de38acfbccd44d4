# SPDX-License-Identifier: MIT
"""Upgrades without a dropped connection: ssctl upgrade and SIGUSR2 start the
installed binary on the listening sockets the old process holds; the old one
drains and exits. Under load (30 connections a second and a rate-limited
256 MiB download, through sslocal -> ssserver, both with 2 workers), replays
recorded before an upgrade (SIP004 and SIP022), broken configurations and
binaries; test_handover.py has the other shapes (sk_lookup ports, ssmanager,
plugins, systemd's LISTEN_FDS)."""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_replay import tcp_flight, PW as REPLAY_PW  # noqa: E402
from test_sip022 import b64, key_of, read_response, request  # noqa: E402
from test_sip022_udp import client_packet, server_body, silent, udp_sock, unpacket  # noqa: E402
from test_udp import Association, UdpEcho  # noqa: E402
from sstest import *  # noqa: E402,F401,F403

SSCTL = os.path.join(BUILD, "ssctl")
M = "aes-256-gcm"
_successors = []


def ctl(sock, *args):
    r = subprocess.run([SSCTL, "-s", sock] + list(args), capture_output=True, text=True, timeout=90)
    return r.returncode, r.stdout + r.stderr


def upgrade(sock):
    """ssctl upgrade; the successor's pid (kept to stop it at the end)."""
    rc, out = ctl(sock, "upgrade")
    assert rc == 0, out
    m = re.search(r"upgraded: pid (\d+) serves; pid (\d+) drains", out)
    assert m, out
    _successors.append(int(m.group(1)))
    return int(m.group(1)), int(m.group(2))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def stop_successors():
    for pid in _successors:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in _successors:
        wait_until(lambda: not alive(pid), 10, "pid %d to exit" % pid)
    del _successors[:]


def sender_handler(sock):
    """Sends the number of bytes asked for (8 bytes, big-endian) from a seeded stream."""
    n = int.from_bytes(recv_exact(sock, 8), "big")
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    while n > 0:
        sock.sendall(block[:min(n, len(block))])
        n -= min(n, len(block))
    sock.close()


def expected_sha(n):
    h, block = hashlib.sha256(), hashlib.sha256(b"seed").digest() * 2048
    while n > 0:
        h.update(block[:min(n, len(block))])
        n -= min(n, len(block))
    return h.hexdigest()


class Load:
    """30 SOCKS5 connections a second, each an echo round trip; failures and
    the longest wait for the SOCKS reply (the accept gap, as a client sees it)."""

    def __init__(self, lp, echo_port):
        self.lp, self.echo_port = lp, echo_port
        self.ok = self.failed = 0
        self.worst = 0.0
        self.errors = []
        self.stopping = False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def one(self, i):
        t0 = time.time()
        try:
            s, rep = socks_connect(self.lp, "127.0.0.1", self.echo_port, timeout=10)
            self.worst = max(self.worst, time.time() - t0)
            assert rep == 0, "SOCKS reply %d" % rep
            msg = b"conn-%06d" % i
            s.sendall(msg)
            assert recv_exact(s, len(msg)) == msg
            s.close()
            self.ok += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            self.failed += 1
            self.errors.append(repr(e))

    def run(self):
        i, t0 = 0, time.time()
        while not self.stopping:
            threading.Thread(target=self.one, args=(i,)).start()
            i += 1
            time.sleep(max(0, t0 + i / 30.0 - time.time()))

    def stop(self):
        self.stopping = True
        self.t.join()
        time.sleep(1)


class GreetingProbe:
    """A SOCKS5 greeting to sslocal every 2 ms, timed to its answer: how long the
    daemon took to accept and read a new connection (the accept gap)."""

    def __init__(self, lp):
        self.lp, self.worst, self.n, self.failed = lp, 0.0, 0, 0
        self.stopping = False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stopping:
            t0 = time.time()
            try:
                s = socket.create_connection(("127.0.0.1", self.lp), timeout=5)
                s.sendall(b"\x05\x01\x00")
                assert recv_exact(s, 2) == b"\x05\x00"
                s.close()
                self.worst = max(self.worst, time.time() - t0)
                self.n += 1
            except Exception:  # noqa: BLE001 - counted
                self.failed += 1
            time.sleep(0.002)

    def stop(self):
        self.stopping = True
        self.t.join()


def download(lp, port, size, got):
    """size bytes from sender_handler through SOCKS5 port lp: their count and sha256 into got."""
    s, rep = socks_connect(lp, "127.0.0.1", port, timeout=30)
    s.sendall(size.to_bytes(8, "big"))
    h, n = hashlib.sha256(), 0
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    got.update(n=n, sha=h.hexdigest())


def server_config(path, port, rate):
    with open(path, "w") as f:
        json.dump({"servers": [{"server": "127.0.0.1", "server_port": port, "method": M,
                                "password": "up-pw", "rate_limit": rate}],
                   "mode": "tcp_and_udp", "timeout": 5, "drain_timeout": 60}, f)


def test_upgrade_server_then_local_under_load():
    echo, uecho, sender = Server(echo_handler), UdpEcho(), Server(sender_handler)
    sp, lp = free_port(), free_port()
    cfg = os.path.join(LOGDIR, "up-srv.json")
    server_config(cfg, sp, 24 << 20)  # 256 MiB in about 11 s: spans both upgrades
    ssock, lsock = os.path.join(LOGDIR, "srv.sock"), os.path.join(LOGDIR, "loc.sock")
    srv = start([os.path.join(BUILD, "ssserver"), "-c", cfg, "--allow-private", "--ctl-socket", ssock,
                 "--workers", "2", "--replay-file", os.path.join(LOGDIR, "up.replay")], wait=sp)
    loc = start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-k", "up-pw", "-m", M,
                 "-l", str(lp), "-u", "-t", "5", "--drain-timeout", "60", "--ctl-socket", lsock, "--workers", "2"], wait=lp)
    try:
        assoc = Association(lp)
        assoc.send("127.0.0.1", uecho.port, b"before")
        assert assoc.recv()[2] == b"before"
        size, got = 256 << 20, {}
        dl = threading.Thread(target=download, args=(lp, sender.port, size, got))
        dl.start()
        load = Load(lp, echo.port)
        probe = GreetingProbe(lp)
        time.sleep(2)
        new_srv, old_srv = upgrade(ssock)
        assert old_srv == srv.pid
        # The association goes on: its datagrams reach the new ssserver, which
        # reads the same socket (the old one keeps its entry until it times out).
        assoc.send("127.0.0.1", uecho.port, b"across-1")
        assert assoc.recv()[2] == b"across-1"
        time.sleep(2)
        new_loc, old_loc = upgrade(lsock)
        assert old_loc == loc.pid
        # Its socket is the old sslocal's, kept with the association's connection.
        assoc.send("127.0.0.1", uecho.port, b"across-2")
        assert assoc.recv()[2] == b"across-2"
        time.sleep(2)
        load.stop()
        probe.stop()
        # A new association and new connections go to the new processes.
        fresh = Association(lp)
        fresh.send("127.0.0.1", uecho.port, b"after")
        assert fresh.recv()[2] == b"after"
        fresh.close()
        assoc.close()
        dl.join(60)
        print("30 conn/s across both upgrades: %d ok, %d failed; longest SOCKS reply wait %.1f ms; "
              "256 MiB download %s" % (load.ok, load.failed, load.worst * 1000, got.get("n")))
        print("sslocal answered %d greetings every 2 ms across both upgrades, %d failed; the "
              "longest accept-and-answer took %.1f ms" % (probe.n, probe.failed, probe.worst * 1000))
        assert probe.failed == 0 and probe.n > 1000, (probe.n, probe.failed)
        assert load.failed == 0, load.errors[:5]
        assert load.ok > 150, load.ok
        assert got.get("n") == size and got["sha"] == expected_sha(size), got
        # The old processes leave once their connections are done; the new ones serve.
        for p in (srv, loc):
            p.wait(30)
            assert p.returncode == 0, p.log_text()[-2000:]
        assert not any(alive(k) for k in (old_srv, old_loc))
        assert alive(new_srv) and alive(new_loc)
        s, rep = socks_connect(lp, "127.0.0.1", echo.port)
        s.sendall(b"still")
        assert recv_exact(s, 5) == b"still"
        s.close()
        rc, out = ctl(ssock, "stats")
        assert rc == 0 and "upgrade" not in out.lower(), out
        assert "draining: no new connections" in srv.log_text()
    finally:
        stop_successors()
        echo.close()
        sender.close()
        uecho.close()


def test_replays_recorded_before_an_upgrade_are_refused_after_it():
    counted = []

    def handler(sock):
        counted.append(recv_exact(sock, 8))
    target = Server(handler)
    echo = Server(echo_handler)
    # SIP004 (a lone worker, SIGUSR2) and SIP022 (2 workers, ssctl upgrade).
    p4, p22 = free_port(), free_port()
    s4 = os.path.join(LOGDIR, "r4.sock")
    srv4 = ssserver(p4, "aes-256-gcm", REPLAY_PW.decode(),
                    extra=["--replay-file", os.path.join(LOGDIR, "r4.replay"), "--ctl-socket", s4,
                           "--handshake-timeout", "2"])
    psk = key_of("2022-blake3-aes-256-gcm")
    s22 = os.path.join(LOGDIR, "r22.sock")
    srv22 = ssserver(p22, "2022-blake3-aes-256-gcm", b64(psk),
                     extra=["--replay-file", os.path.join(LOGDIR, "r22.replay"), "--workers", "2",
                            "--ctl-socket", s22, "--handshake-timeout", "2"])
    # The filter in memory only (--replay-file off): the successor maps the same memory.
    poff, soff = free_port(), os.path.join(LOGDIR, "roff.sock")
    srvoff = ssserver(poff, "aes-256-gcm", REPLAY_PW.decode(),
                      extra=["--replay-file", "off", "--ctl-socket", soff, "--workers", "2",
                             "--handshake-timeout", "2"])
    try:
        flightoff = tcp_flight(target.port, b"sip004-0")
        c = socket.create_connection(("127.0.0.1", poff), timeout=5)
        c.sendall(flightoff)
        wait_until(lambda: len(counted) == 1, 5, "the recorded request (in memory)")
        c.close()
        upgrade(soff)
        srvoff.wait(10)
        again = socket.create_connection(("127.0.0.1", poff), timeout=5)
        again.sendall(flightoff)
        assert closed_within(again, 10), "a replay after the upgrade was not closed"
        time.sleep(0.3)
        assert len(counted) == 1, "a request recorded in memory before the upgrade passed after it"
        counted.clear()
        flight4 = tcp_flight(target.port, b"sip004-1")
        c = socket.create_connection(("127.0.0.1", p4), timeout=5)
        c.sendall(flight4)
        wait_until(lambda: len(counted) == 1, 5, "the recorded request")
        c.close()
        flight22, salt = request("2022-blake3-aes-256-gcm", psk, echo.port, b"recorded")
        c = socket.create_connection(("127.0.0.1", p22), timeout=5)
        c.sendall(flight22)
        assert read_response(c, "2022-blake3-aes-256-gcm", psk, salt)[0] == b"recorded"
        c.close()
        srv4.send_signal(signal.SIGUSR2)
        wait_until(lambda: "is ready and serves" in srv4.log_text(), 30, "the SIGUSR2 upgrade")
        _successors.append(int(re.search(r"upgrade: pid (\d+) is ready", srv4.log_text()).group(1)))
        upgrade(s22)
        srv4.wait(10)
        srv22.wait(10)
        accepts = echo.accepts
        for port, flight in ((p4, flight4), (p22, flight22)):
            again = socket.create_connection(("127.0.0.1", port), timeout=5)
            again.sendall(flight)
            assert closed_within(again, 10), "a replay after the upgrade was not closed"
        time.sleep(0.5)
        assert len(counted) == 1, "a SIP004 request recorded before the upgrade reached the target again"
        assert echo.accepts == accepts, "a SIP022 request recorded before the upgrade reached the target"
        # New requests are served by the new processes.
        c = socket.create_connection(("127.0.0.1", p4), timeout=5)
        c.sendall(tcp_flight(target.port, b"sip004-2"))
        wait_until(lambda: len(counted) == 2, 5, "a new request")
        c.close()
    finally:
        stop_successors()
        target.close()
        echo.close()


def test_a_sip022_udp_session_keeps_its_packet_window_across_an_upgrade():
    m22 = "2022-blake3-aes-256-gcm"
    echo, psk, port = UdpEcho(), key_of(m22), free_port()
    sock = os.path.join(LOGDIR, "s22u.sock")
    srv = ssserver(port, m22, b64(psk), extra=["-u", "--workers", "2", "--ctl-socket", sock, "-t", "5",
                                              "--replay-file", os.path.join(LOGDIR, "s22u.replay")])

    def roundtrip(s, sid, pid, payload):
        s.sendto(client_packet(m22, psk, sid, pid, echo.port, payload), ("127.0.0.1", port))
        return server_body(unpacket(m22, psk, s.recvfrom(65535)[0])[2], sid)[2]
    try:
        sid, a = os.urandom(8), udp_sock()
        recorded = [client_packet(m22, psk, sid, pid, echo.port, b"pkt %d" % pid) for pid in range(5)]
        for pid, pkt in enumerate(recorded):
            a.sendto(pkt, ("127.0.0.1", port))
            assert server_body(unpacket(m22, psk, a.recvfrom(65535)[0])[2], sid)[2] == b"pkt %d" % pid
        upgrade(sock)
        count = echo.count
        for pkt in recorded:
            a.sendto(pkt, ("127.0.0.1", port))
        assert silent(a) and echo.count == count, "a recorded packet passed after the upgrade"
        # The session goes on above what was seen, in whichever process reads it.
        assert roundtrip(a, sid, 9, b"after") == b"after"
        assert roundtrip(a, sid, 8, b"late") == b"late"
        a.sendto(client_packet(m22, psk, sid, 9, echo.port, b"again"), ("127.0.0.1", port))
        assert silent(a)
        srv.wait(15)
        assert roundtrip(a, sid, 10, b"new one") == b"new one"
        a.close()
    finally:
        stop_successors()
        echo.close()


def test_systemd_follows_the_new_main_process():
    """Type=notify: READY=1 with the first MAINPID, then MAINPID of the successor, as the
    old process tells systemd once the new one is ready (NotifyAccess=all in the units)."""
    note = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(LOGDIR, "notify.sock")
    note.bind(path)
    note.settimeout(10)
    sp, sock = free_port(), os.path.join(LOGDIR, "sd.sock")
    srv = start([os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", M,
                 "--workers", "2", "--ctl-socket", sock], env={"NOTIFY_SOCKET": path}, wait=sp)
    try:
        first = note.recv(256).decode()
        assert "READY=1" in first and "MAINPID=%d" % srv.pid in first, first
        new, old = upgrade(sock)
        second = note.recv(256).decode()
        assert "READY=1" in second and "MAINPID=%d" % new in second, second
        # The successor keeps systemd's socket for its own successor in turn.
        new2, _ = upgrade(sock) if srv.wait(10) == 0 else (None, None)
        third = note.recv(256).decode()
        assert "MAINPID=%d" % new2 in third, third
    finally:
        stop_successors()
        note.close()


def test_a_broken_configuration_or_binary_leaves_the_old_process_serving():
    echo = Server(echo_handler)
    d = os.path.join(LOGDIR, "bin")
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, "ssserver")
    shutil.copy(os.path.join(BUILD, "ssserver"), exe)
    sp, lp = free_port(), free_port()
    cfg = os.path.join(LOGDIR, "broken.json")
    server_config(cfg, sp, 0)
    sock = os.path.join(LOGDIR, "broken.sock")
    srv = start([exe, "-c", cfg, "--allow-private", "--ctl-socket", sock, "--workers", "2"], wait=sp)
    sslocal(lp, sp, M, "up-pw")

    def serves():
        s, rep = socks_connect(lp, "127.0.0.1", echo.port)
        s.sendall(b"ping")
        assert recv_exact(s, 4) == b"ping"
        s.close()
    try:
        serves()
        with open(cfg, "w") as f:
            f.write('{"server": "127.0.0.1", "server_port": %d, "method": "no-such-cipher"' % sp)
        rc, out = ctl(sock, "upgrade")
        print("broken configuration: %s" % out.strip().splitlines()[-1])
        assert rc == 1 and "failed, pid %d still serves" % srv.pid in out, out
        assert "exited with status" in out, out
        serves()
        assert srv.poll() is None
        server_config(cfg, sp, 0)
        # A binary that does not start: the reason is its exit status.
        tmp = exe + ".new"
        with open(tmp, "w") as f:
            f.write("#!/bin/sh\necho 'broken build' >&2\nexit 3\n")
        os.chmod(tmp, 0o755)
        os.replace(tmp, exe)
        rc, out = ctl(sock, "upgrade")
        print("broken binary: %s" % out.strip().splitlines()[-1])
        assert rc == 1 and "exited with status 3" in out, out
        serves()
        # The good binary again: the upgrade goes through.
        shutil.copy(os.path.join(BUILD, "ssserver"), tmp)
        os.replace(tmp, exe)
        new, old = upgrade(sock)
        assert old == srv.pid
        srv.wait(10)
        serves()
        assert alive(new)
    finally:
        stop_successors()
        echo.close()


def test_a_second_upgrade_during_a_drain_is_refused():
    echo = Server(echo_handler)
    lp, sp = free_port(), free_port()
    sock = os.path.join(LOGDIR, "twice.sock")
    ssserver(sp, M, "up-pw")
    loc = sslocal(lp, sp, M, "up-pw", extra=["--ctl-socket", sock])
    try:
        held, _ = socks_connect(lp, "127.0.0.1", echo.port)
        held.sendall(b"x")
        assert recv_exact(held, 1) == b"x"
        new, old = upgrade(sock)
        rc, out = ctl(sock, "upgrade")
        assert rc == 1 and "pid %d" % old in out and "still draining" in out, out
        rc, out = ctl(os.path.join(LOGDIR, "draining-%d-twice.sock" % old), "upgrade")
        assert rc == 1 and "draining after an upgrade" in out, out
        # ssctl conns reaches both: the old one's connection, under its draining socket.
        rc, out = ctl(os.path.join(LOGDIR, "draining-%d-twice.sock" % old), "conns")
        assert rc == 0 and "STREAM" in out, out
        held.sendall(b"y")
        assert recv_exact(held, 1) == b"y"
        held.close()
        loc.wait(10)
        assert not os.path.exists(os.path.join(LOGDIR, "draining-%d-twice.sock" % old))
        # systemd's ExecReload: the daemon found by its main pid among the runtime folder's sockets.
        r = subprocess.run([SSCTL, "upgrade", "--pid", str(new)], capture_output=True, text=True,
                           timeout=90, env=dict(os.environ, RUNTIME_DIRECTORY=LOGDIR))
        m = re.search(r"upgraded: pid (\d+) serves; pid %d drains" % new, r.stdout)
        assert r.returncode == 0 and m, r.stdout + r.stderr
        _successors.append(int(m.group(1)))
    finally:
        stop_successors()
        echo.close()


def test_the_drain_timeout_ends_what_is_left():
    echo = Server(echo_handler)
    lp, sp = free_port(), free_port()
    sock = os.path.join(LOGDIR, "deadline.sock")
    ssserver(sp, M, "up-pw")
    loc = sslocal(lp, sp, M, "up-pw", extra=["--ctl-socket", sock, "--drain-timeout", "2"])
    try:
        held, _ = socks_connect(lp, "127.0.0.1", echo.port)
        held.sendall(b"x")
        assert recv_exact(held, 1) == b"x"
        t0 = time.time()
        upgrade(sock)
        loc.wait(10)
        print("an idle connection held the old process for %.1f s (--drain-timeout 2)" % (time.time() - t0))
        assert 1.5 < time.time() - t0 < 5
        assert closed_within(held, 2)
        assert "drain deadline" in loc.log_text() or "draining" in loc.log_text()
    finally:
        stop_successors()
        echo.close()


def test_a_port_the_new_configuration_drops_is_closed():
    a, b = free_port(), free_port()
    cfg = os.path.join(LOGDIR, "two.json")

    def write(ports):
        with open(cfg, "w") as f:
            json.dump({"server": "127.0.0.1", "method": M, "port_password": {str(p): "pw" for p in ports}}, f)
    write((a, b))
    sock = os.path.join(LOGDIR, "two.sock")
    srv = start([os.path.join(BUILD, "ssserver"), "-c", cfg, "--workers", "2", "--bpf", "off",
                 "--ctl-socket", sock, "--metrics", "127.0.0.1:%d" % free_port()], wait=a)
    try:
        wait_port(b)
        write((a,))
        upgrade(sock)
        srv.wait(10)
        socket.create_connection(("127.0.0.1", a), timeout=2).close()
        try:
            socket.create_connection(("127.0.0.1", b), timeout=2).close()
            raise AssertionError("a port the new configuration dropped still accepts")
        except ConnectionRefusedError:
            pass
        assert "127.0.0.1:%d closed: its port is no longer served" % b in srv.log_text()
    finally:
        stop_successors()


def test_bytes_carried_across_an_upgrade_count_the_drain():
    """What a port carries (data_limit's count) goes on: the successor starts from
    what the old process carried, and adds what the old one counted while draining."""
    sender = Server(sender_handler)
    sp, lp = free_port(), free_port()
    replay = os.path.join(LOGDIR, "carried.replay")
    cfg = os.path.join(LOGDIR, "carried.json")
    server_config(cfg, sp, 4 << 20)
    sock = os.path.join(LOGDIR, "carried.sock")
    srv = start([os.path.join(BUILD, "ssserver"), "-c", cfg, "--allow-private", "--workers", "2",
                 "--replay-file", replay, "--ctl-socket", sock], wait=sp)
    sslocal(lp, sp, M, "up-pw")
    size = 12 << 20
    try:
        s, rep = socks_connect(lp, "127.0.0.1", sender.port, timeout=30)
        s.sendall(size.to_bytes(8, "big"))
        time.sleep(1)
        new, old = upgrade(sock)
        got = len(read_to_end(s, timeout=30)[0])
        assert got == size, got
        srv.wait(15)
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not alive(new), 10, "the successor to exit")
        _successors.remove(new)
        with open(replay[:-len(".replay")] + ".spent") as f:
            carried = dict(line.split() for line in f)
        print("carried for port %d after the upgrade: %s bytes (a %d byte download)"
              % (sp, carried.get(str(sp)), size))
        assert size <= int(carried[str(sp)]) < size + (1 << 20), carried
        assert not os.path.exists(replay[:-len(".replay")] + ".spent.add")
    finally:
        stop_successors()
        sender.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_upgrade_server_then_local_under_load,
        test_replays_recorded_before_an_upgrade_are_refused_after_it,
        test_a_sip022_udp_session_keeps_its_packet_window_across_an_upgrade,
        test_systemd_follows_the_new_main_process,
        test_a_broken_configuration_or_binary_leaves_the_old_process_serving,
        test_a_second_upgrade_during_a_drain_is_refused,
        test_the_drain_timeout_ends_what_is_left,
        test_a_port_the_new_configuration_drops_is_closed,
        test_bytes_carried_across_an_upgrade_count_the_drain,
    ], "upgrade"))
