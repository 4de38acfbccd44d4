# SPDX-License-Identifier: MIT
"""Upgrades in the other shapes users run: ssserver's ports served through
sk_lookup, ssmanager's servers one at a time, a plugin on both sides, and
listening sockets passed as systemd does (LISTEN_FDS) kept across a restart."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_upgrade import (Load, M, SSCTL, _successors, alive, ctl, stop_successors,  # noqa: E402,F401
                          upgrade)
from test_udp import Association, UdpEcho  # noqa: E402
from sstest import *  # noqa: E402,F401,F403


def test_ports_served_through_sk_lookup():
    """ssserver --bpf with a range: the successor's program goes in beside the old one's,
    both select the same handed-over sockets; connections to every port go on."""
    from test_many_ports import free_block
    echo, uecho = Server(echo_handler), UdpEcho()
    base = free_block(20)
    cfg = os.path.join(LOGDIR, "range.json")
    with open(cfg, "w") as f:
        json.dump({"server": "127.0.0.1", "server_port": "%d-%d" % (base, base + 19), "method": M,
                   "password": "range-pw", "mode": "tcp_and_udp", "timeout": 5}, f)
    sock = os.path.join(LOGDIR, "range.sock")
    srv = start([os.path.join(BUILD, "ssserver"), "-c", cfg, "--allow-private", "--workers", "2",
                 "--bpf", "on", "--ctl-socket", sock], wait=base)
    assert "served through sk_lookup" in srv.log_text(), srv.log_text()
    locs = []
    for port in (base, base + 7, base + 19):
        lp = free_port()
        sslocal(lp, port, M, "range-pw", extra=["-u"])
        locs.append(lp)

    def each_port(tag):
        for lp in locs:
            s, rep = socks_connect(lp, "127.0.0.1", echo.port)
            s.sendall(tag)
            assert recv_exact(s, len(tag)) == tag
            s.close()
            a = Association(lp)
            a.send("127.0.0.1", uecho.port, tag)
            assert a.recv()[2] == tag
            a.close()
    try:
        each_port(b"before")
        held, _ = socks_connect(locs[1], "127.0.0.1", echo.port)
        load = Load(locs[0], echo.port)
        time.sleep(1)
        new, old = upgrade(sock)
        # A connection of the old process goes on while it drains.
        held.sendall(b"held")
        assert recv_exact(held, 4) == b"held"
        held.close()
        time.sleep(1)
        load.stop()
        srv.wait(15)
        each_port(b"after")
        print("sk_lookup ports: 30 conn/s across the upgrade: %d ok, %d failed" % (load.ok, load.failed))
        assert load.failed == 0 and load.ok > 40, load.errors[:5]
        assert alive(new)
    finally:
        stop_successors()
        echo.close()
        uecho.close()


def test_ssmanager_upgrades_its_servers_one_at_a_time():
    echo = Server(echo_handler)
    rt = os.path.join(LOGDIR, "mgr-rt")
    os.makedirs(rt, exist_ok=True)
    env = {"RUNTIME_DIRECTORY": rt}
    mp = free_port(socket.SOCK_DGRAM)
    msock = os.path.join(rt, "ssmanager-test.sock")
    mgr = start([os.path.join(BUILD, "ssmanager"), "--manager-address", "127.0.0.1:%d" % mp, "-m", M,
                 "--allow-private", "-s", "127.0.0.1", "--workers", "2", "--ctl-socket", msock], env=env)
    time.sleep(0.3)
    c = Mgr(mp)
    shared = [free_port() for _ in range(3)]
    own = free_port()
    try:
        for p in shared:
            assert c.cmd('add: {"server_port": %d, "password": "pw-%d"}' % (p, p)) == "ok"
        # Another mode than the manager's: a process of its own.
        assert c.cmd('add: {"server_port": %d, "password": "pw-%d", "mode": "tcp_and_udp"}'
                     % (own, own)) == "ok"
        wait_port(own)
        locs = {}
        for p in shared + [own]:
            locs[p] = free_port()
            sslocal(locs[p], p, M, "pw-%d" % p)

        def each(tag):
            for p, lp in locs.items():
                s, rep = socks_connect(lp, "127.0.0.1", echo.port)
                s.sendall(tag)
                assert recv_exact(s, len(tag)) == tag, p
                s.close()
        each(b"before")
        before = set(mgr.descendants())
        load = Load(locs[shared[0]], echo.port)
        load2 = Load(locs[own], echo.port)
        r = subprocess.run([SSCTL, "-s", msock, "upgrade"], capture_output=True, text=True, timeout=200,
                           env=dict(os.environ, **env))
        load.stop()
        load2.stop()
        print("ssmanager: %s; 30 conn/s on a shared and an own port: %d+%d ok, %d failed"
              % (r.stdout.strip().splitlines()[-1], load.ok, load2.ok, load.failed + load2.failed))
        assert r.returncode == 0 and "upgraded: 2 of the 2 servers of pid %d" % mgr.pid in r.stdout, \
            r.stdout + r.stderr
        assert load.failed == 0 and load2.failed == 0, load.errors[:3] + load2.errors[:3]
        each(b"after")
        # The old servers have gone; the new ones are the manager's children now.
        wait_until(lambda: not (before & set(mgr.descendants())), 30, "the old servers to exit")
        assert c.cmd("ping").startswith("stat: ")
        assert mgr.poll() is None
        kids = mgr.descendants()
        # A crash of ssmanager: the upgraded servers (children of their predecessors at first)
        # stop with it too, as the servers it started itself do.
        mgr.send_signal(signal.SIGKILL)
        mgr.wait(5)
        wait_until(lambda: not any(alive(k) for k in kids), 10, "the servers to stop with a killed ssmanager")
    finally:
        c.close()
        echo.close()


def test_a_plugin_restarts_with_the_new_process():
    """obfs-server and obfs-local (simple-obfs): the successor stops the old plugin and
    starts its own on the same ports. The cost: the old plugin's connections end with it,
    and connects wait (or fail) while the new one starts."""
    echo = Server(echo_handler)
    sp, lp = free_port(), free_port()
    ssock, lsock = os.path.join(LOGDIR, "plug-s.sock"), os.path.join(LOGDIR, "plug-l.sock")
    srv = ssserver(sp, M, "up-pw", extra=["--plugin", "obfs-server", "--plugin-opts", "obfs=http",
                                          "--ctl-socket", ssock, "--workers", "2"])
    loc = sslocal(lp, sp, M, "up-pw", extra=["--plugin", "obfs-local", "--plugin-opts",
                                             "obfs=http;obfs-host=www.example.org", "--ctl-socket", lsock])
    try:
        held, _ = socks_connect(lp, "127.0.0.1", echo.port)
        held.sendall(b"x")
        assert recv_exact(held, 1) == b"x"
        old_plugin = [k for k in srv.descendants() if open("/proc/%d/comm" % k).read().strip() == "obfs-server"]
        load = Load(lp, echo.port)
        time.sleep(1)
        new_srv, _ = upgrade(ssock)
        time.sleep(1)
        new_loc, _ = upgrade(lsock)
        time.sleep(1)
        load.stop()
        cut = closed_within(held, 5)
        held.close()
        print("plugins across the upgrade of both: %d of %d connections failed; the held one %s"
              % (load.failed, load.ok + load.failed, "was cut" if cut else "went on"))
        assert load.ok > 60 and load.failed <= 10, (load.ok, load.failed, load.errors[:3])
        assert old_plugin and not alive(old_plugin[0])
        s, rep = socks_connect(lp, "127.0.0.1", echo.port)
        s.sendall(b"after")
        assert recv_exact(s, 5) == b"after"
        s.close()
        srv.wait(10)
        loc.wait(10)
        assert "stopped for the successor's" in srv.log_text(), srv.log_text()[-2000:]
    finally:
        stop_successors()
        echo.close()


def activated(args, socks, names):
    """Starts args as systemd would with socks at 3, 4, ... (LISTEN_FDS, LISTEN_PID)."""
    moves = " ".join("%d<&%d %d<&-" % (3 + i, s.fileno(), s.fileno()) for i, s in enumerate(socks))
    script = 'exec %s; LISTEN_PID=$$ LISTEN_FDS=%d LISTEN_FDNAMES=%s exec "$0" "$@"' % (
        moves, len(socks), ":".join(names))
    return _start_with_fds(["/bin/sh", "-c", script] + args, socks)


def _start_with_fds(argv, socks):
    logpath = os.path.join(LOGDIR, "activated.%d.log" % time.time_ns())
    logf = open(logpath, "w")
    p = Proc(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
             pass_fds=[s.fileno() for s in socks])
    p.logpath = logpath
    import sstest
    sstest._procs.append(p)  # stopped by run_tests like the others
    return p


def test_socket_activation_keeps_the_sockets_across_a_restart():
    echo, uecho = Server(echo_handler), UdpEcho()
    sp, lp = free_port(), free_port()
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", sp))
    t.listen(128)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", sp))
    args = [os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(sp), "-k", "act-pw", "-m", M,
            "--allow-private", "-u", "--workers", "2", "--ctl-socket", os.path.join(LOGDIR, "act.sock")]
    srv = activated(args, [t, u], ["ssbpf-server.socket", "ssbpf-server.socket"])
    wait_until(lambda: "ssserver ready" in srv.log_text(), 10, "the activated server")
    assert "2 listening sockets inherited (socket activation)" in srv.log_text(), srv.log_text()
    sslocal(lp, sp, M, "act-pw", extra=["-u"])
    s, rep = socks_connect(lp, "127.0.0.1", echo.port)
    s.sendall(b"one")
    assert recv_exact(s, 3) == b"one"
    s.close()
    a = Association(lp)
    a.send("127.0.0.1", uecho.port, b"udp-one")
    assert a.recv()[2] == b"udp-one"
    a.close()
    # systemctl restart: the unit's sockets stay open; a client that connects
    # while no daemon runs waits in their queue and is served by the next one.
    srv.stop()
    pending = {}

    def early():
        s, rep = socks_connect(lp, "127.0.0.1", echo.port, timeout=20)
        s.sendall(b"two")
        pending["got"] = recv_exact(s, 3)
        s.close()
    th = threading.Thread(target=early)
    th.start()
    time.sleep(1)
    assert "got" not in pending
    srv = activated(args, [t, u], ["ssbpf-server.socket", "ssbpf-server.socket"])
    th.join(20)
    assert pending.get("got") == b"two", pending
    assert "Address already in use" not in srv.log_text()
    srv.stop()
    # A configuration with another port that a second process holds: refused, as without
    # activation (the activated port is this process's own; the other is not).
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", 0))
    other.listen(8)
    cfg = os.path.join(LOGDIR, "act2.json")
    with open(cfg, "w") as f:
        json.dump({"server": "127.0.0.1", "method": M, "port_password": {
            str(sp): "act-pw", str(other.getsockname()[1]): "x"}}, f)
    srv = activated([os.path.join(BUILD, "ssserver"), "-c", cfg, "--workers", "2", "--bpf", "off"], [t, u],
                    ["ssbpf-server.socket", "ssbpf-server.socket"])
    assert srv.wait(15) not in (0, None), srv.log_text()
    log = srv.log_text()
    assert "TCP 127.0.0.1 port %d is held by another process" % other.getsockname()[1] in log, log
    assert "port %d is held" % sp not in log, log
    other.close()
    t.close()
    u.close()
    echo.close()
    uecho.close()


def test_more_sockets_than_the_parent_may_hold():
    """--bpf off with 1,000 ports and 2 workers under -n 1500: the parent holds copies while
    it keeps descriptors free for itself, says once that it holds no more, still answers
    ssctl, and an upgrade serves every port (those not held are bound anew)."""
    from aead_probe import tcp_round_trip
    from test_many_ports import free_block
    echo = Server(echo_handler)
    base = free_block(1000)
    cfg = os.path.join(LOGDIR, "fdlimit.json")
    with open(cfg, "w") as f:
        json.dump({"server": "127.0.0.1", "method": M, "timeout": 5,
                   "port_password": {str(p): "pw-%d" % p for p in range(base, base + 1000)}}, f)
    sock = os.path.join(LOGDIR, "fdlimit.sock")
    srv = start([os.path.join(BUILD, "ssserver"), "-c", cfg, "--allow-private", "--workers", "2", "-n", "1500",
                 "--bpf", "off", "--ctl-socket", sock], wait=base)
    wait_until(lambda: "held, and no more" in srv.log_text(), 10, "the line on the held sockets")
    assert srv.log_text().count("held, and no more") == 1
    held = len(os.listdir("/proc/%d/fd" % srv.pid))
    assert 1500 - 300 < held < 1500 - 200, "the parent keeps 256 descriptors free: %d open" % held
    rc, out = ctl(sock, "stats")
    assert rc == 0 and "connections" in out, out
    try:
        new, old = upgrade(sock)
        for p in (base, base + 500, base + 999):
            assert tcp_round_trip(p, "pw-%d" % p, echo.port, b"up %d" % p) == b"up %d" % p, p
        wait_until(lambda: not alive(old), 15, "the old process to drain")
    finally:
        stop_successors()
        echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_ports_served_through_sk_lookup,
        test_ssmanager_upgrades_its_servers_one_at_a_time,
        test_a_plugin_restarts_with_the_new_process,
        test_socket_activation_keeps_the_sockets_across_a_restart,
        test_more_sockets_than_the_parent_may_hold,
    ], "handover"))
