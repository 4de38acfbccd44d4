# SPDX-License-Identifier: MIT
"""Many users: ssmanager over UDP and a unix socket, libev's ss-manager
driving our ssserver, port_password and servers[], users on one port with
their bytes counted apart, and SIGHUP reloads under a running transfer."""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

SSSERVER = os.path.join(BUILD, "ssserver")
SSMANAGER = os.path.join(BUILD, "ssmanager")
M = "aes-256-gcm"
TMP = tempfile.mkdtemp(prefix="ssbpf-multi.")


def libev_local(sp, password, method=M):
    lp = free_port()
    start([shutil.which("ss-local"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-k", password,
           "-m", method], name="ss-local", wait=lp)
    return lp


def send_hashed(lp, target_port, size, pace=None):
    """Sends size random bytes through the SOCKS5 port to a hashing target; True if the hash matches."""
    data = os.urandom(size)
    s, rep = socks_connect(lp, "127.0.0.1", target_port, timeout=60)
    assert rep == 0
    s.sendall(struct.pack(">Q", size))
    step = 1 << 20
    for i in range(0, size, step):
        s.sendall(data[i:i + step])
        if pace:
            time.sleep(pace)
    reply = s.makefile("rb").readline().decode().split()
    s.close()
    return reply == [str(size), hashlib.sha256(data).hexdigest()]


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def manager_session(addr, mp_arg):
    mgr = start([SSMANAGER, "--manager-address", mp_arg, "-m", M, "--allow-private", "-s", "127.0.0.1",
                 "--workers", "2"])
    if isinstance(addr, str):
        wait_until(lambda: os.path.exists(addr), 10, "the manager socket")
    else:
        time.sleep(0.3)
    c = Mgr(addr)
    port = free_port()
    assert c.cmd('add: {"server_port": %d, "password": "pw-1"}' % port) == "ok"
    wait_port(port)
    return mgr, c, port


def test_manager_over_udp_adds_relays_counts_and_removes():
    mp = free_port(socket.SOCK_DGRAM)
    mgr, c, port = manager_session(("127.0.0.1", mp), "127.0.0.1:%d" % mp)
    hs = Server(sized_hash_handler)
    lp = libev_local(port, "pw-1")
    assert send_hashed(lp, hs.port, 16 << 20)
    wait_until(lambda: c.stats().get(port, 0) >= 16 << 20, 12, "ping to count the 16 MiB")
    before = c.cmd("list")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    for bad in ('add: {"server_port": %d, "password": "x"' % free_port(), "frobnicate",
                'add: {"server_port": %d, "password": "x"}' % busy.getsockname()[1],
                'add: {"server_port": 70000, "password": "x"}', 'remove: {"server_port": "abc"}',
                'add: {"password": "x"}', "list extra"):
        r = c.cmd(bad)
        assert r.startswith("err"), (bad, r)
    assert c.cmd("list") == before, "a refused command changed nothing"
    assert json.loads(before)[0]["server_port"] == str(port)
    # remove closes the listener and the live connection.
    echo = Server(echo_handler)
    s, rep = socks_connect(lp, "127.0.0.1", echo.port)
    s.sendall(b"hi")
    assert recv_exact(s, 2) == b"hi"
    assert c.cmd('remove: {"server_port": %d}' % port) == "ok"
    assert closed_within(s, 5), "the live connection of a removed port ends"
    assert refused(port)
    assert c.cmd("list").strip() in ("[\n]", "[]"), c.cmd("list")
    c.close()
    busy.close()


def test_manager_over_a_unix_socket():
    path = os.path.join(TMP, "mgr.sock")
    mgr, c, port = manager_session(path, path)
    hs = Server(sized_hash_handler)
    lp = libev_local(port, "pw-1")
    assert send_hashed(lp, hs.port, 1 << 20)
    wait_until(lambda: c.stats().get(port, 0) >= 1 << 20, 12, "ping to count the bytes")
    assert c.cmd('remove: {"server_port": %d}' % port) == "ok"
    assert refused(port)
    c.close()
    mgr.stop()
    assert not os.path.exists(path), "the manager removes its socket at exit"


def test_libev_ss_manager_runs_our_ssserver():
    mp = free_port(socket.SOCK_DGRAM)
    acl = os.path.join(TMP, "allow.acl")
    with open(acl, "w") as f:
        f.write("allow 127.0.0.0/8\n")  # the target is on loopback, which ssserver refuses by default
    work = os.path.join(TMP, "ssm")
    os.makedirs(work, exist_ok=True)
    conf = os.path.join(TMP, "ss-manager.json")
    with open(conf, "w") as f:
        json.dump({"acl": acl, "method": M, "server": "127.0.0.1"}, f)
    start([shutil.which("ss-manager"), "--manager-address", "127.0.0.1:%d" % mp, "--executable", SSSERVER,
           "-c", conf, "-D", work], name="ss-manager", default_workers=True)  # not ours: no --workers
    time.sleep(0.5)
    c = Mgr(("127.0.0.1", mp))
    port = free_port()
    try:
        assert c.cmd('add: {"server_port": %d, "password": "libev-pw"}' % port) == "ok"
        wait_port(port)
        hs = Server(sized_hash_handler)
        lp = libev_local(port, "libev-pw")
        assert send_hashed(lp, hs.port, 4 << 20)
        wait_until(lambda: c.stats().get(port, 0) >= 4 << 20, 15, "ss-manager's ping to show our report")
        assert c.cmd('remove: {"server_port": %d}' % port) == "ok"
        wait_until(lambda: refused(port), 10, "ss-manager to stop our ssserver")
    finally:
        # Our ssserver ran in the background (-f): stop it whatever happened.
        stop_pid_file(os.path.join(work, ".shadowsocks_%d.pid" % port))
        c.close()


def test_port_password_and_servers_with_two_methods():
    hs = Server(sized_hash_handler)
    a, b = free_port(), free_port()
    cfg = os.path.join(TMP, "pp.json")
    with open(cfg, "w") as f:
        json.dump({"server": "127.0.0.1", "method": M, "port_password": {str(a): "pa", str(b): "pb"}}, f)
    start([SSSERVER, "-c", cfg, "--allow-private"], wait=a)
    assert send_hashed(libev_local(a, "pa"), hs.port, 1 << 20)
    assert send_hashed(libev_local(b, "pb"), hs.port, 1 << 20)
    stop_all()
    with open(cfg, "w") as f:
        json.dump({"servers": [{"server": "127.0.0.1", "server_port": a, "password": "pa", "method": M},
                               {"server": "127.0.0.1", "server_port": b, "password": "pb",
                                "method": "chacha20-ietf-poly1305"}]}, f)
    start([SSSERVER, "-c", cfg, "--allow-private"], wait=a)
    assert send_hashed(libev_local(a, "pa"), hs.port, 1 << 20)
    assert send_hashed(libev_local(b, "pb", "chacha20-ietf-poly1305"), hs.port, 1 << 20)


def user_bytes(srv):
    srv.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    got = {}
    for m in re.finditer(r"user \d+/(\w+): (\d+) bytes", srv.log_text()):
        got[m.group(1)] = int(m.group(2))
    return got


def test_users_on_one_port_counted_apart_and_a_wrong_key_is_a_probe():
    hs = Server(sized_hash_handler)
    port = free_port()
    cfg = os.path.join(TMP, "users.json")
    users = [{"name": "alice", "password": "a-pw"}, {"name": "bob", "password": "b-pw"},
             {"name": "carol", "password": "c-pw"}]
    with open(cfg, "w") as f:
        json.dump({"server": "127.0.0.1", "server_port": port, "method": M, "users": users}, f)
    srv = start([SSSERVER, "-c", cfg, "--allow-private", "--handshake-timeout", "2"], wait=port,
                default_workers=True)
    sizes = {"alice": 1 << 20, "bob": 3 << 20, "carol": 64 << 10}
    for u in users:
        assert send_hashed(libev_local(port, u["password"]), hs.port, sizes[u["name"]])
    got = user_bytes(srv)
    for name, size in sizes.items():
        assert size <= got.get(name, 0) < size + (64 << 10), (name, got)
    # A wrong key: no reply, closed at the handshake deadline, like any probe.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(os.urandom(80))
    t0 = time.time()
    s.settimeout(10)
    assert s.recv(10) == b""
    assert 1.5 < time.time() - t0 < 5, time.time() - t0


def write_cfg(path, ports):
    with open(path, "w") as f:
        json.dump({"servers": ports}, f)


def test_sighup_reload_keeps_a_running_transfer():
    hs = Server(sized_hash_handler)
    A, B, C, D = (free_port() for _ in range(4))
    cfg = os.path.join(TMP, "reload.json")
    p = lambda port, **kw: dict({"server": "127.0.0.1", "server_port": port, "method": M}, **kw)  # noqa: E731
    write_cfg(cfg, [p(A, password="a"), p(B, password="b"), p(D, password="d-old")])
    srv = start([SSSERVER, "-c", cfg, "--allow-private", "--handshake-timeout", "2"], wait=A,
                default_workers=True)
    la = libev_local(A, "a")
    result = []
    t = threading.Thread(target=lambda: result.append(send_hashed(la, hs.port, 32 << 20, pace=0.1)))
    t.start()
    time.sleep(0.5)
    # A file with an error is refused; the old one keeps serving.
    with open(cfg, "w") as f:
        f.write('{"servers": [')
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in srv.log_text(), 5, "the refusal")
    assert send_hashed(libev_local(B, "b"), hs.port, 1 << 16)
    # Add C (with a user), remove B, change D's password; A is untouched.
    write_cfg(cfg, [p(A, password="a"), p(C, users=[{"name": "carl", "password": "c"}]), p(D, password="d-new")])
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: "port %d added" % C in srv.log_text(), 5, "the reload")
    wait_port(C)
    assert send_hashed(libev_local(C, "c"), hs.port, 1 << 16)
    assert send_hashed(libev_local(D, "d-new"), hs.port, 1 << 16)
    assert refused(B)
    old = libev_local(D, "d-old")
    s, rep = socks_connect(old, "127.0.0.1", hs.port)
    s.settimeout(6)
    try:
        s.sendall(struct.pack(">Q", 1) + b"x")
        assert s.recv(100) == b"", "the old password no longer opens D"
    except OSError:
        pass
    t.join(120)
    assert result == [True], "the transfer on A went on intact through both reloads"


if __name__ == "__main__":
    sys.exit(run_tests([
        test_manager_over_udp_adds_relays_counts_and_removes,
        test_manager_over_a_unix_socket,
        test_libev_ss_manager_runs_our_ssserver,
        test_port_password_and_servers_with_two_methods,
        test_users_on_one_port_counted_apart_and_a_wrong_key_is_a_probe,
        test_sighup_reload_keeps_a_running_transfer,
    ], "multiuser"))
