# SPDX-License-Identifier: MIT
"""What a libev operator switching to ssbpf runs into: a second instance on a
port in use fails as libev's does, a password change through a manager never
closes the port, libev's flags work, a daemon stops at once, log lines carry
dates, and start-up failures say why."""
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

SSSERVER = os.path.join(BUILD, "ssserver")
SSLOCAL = os.path.join(BUILD, "sslocal")
SSMANAGER = os.path.join(BUILD, "ssmanager")
M = "aes-256-gcm"
TMP = tempfile.mkdtemp(prefix="ssbpf-operator.")
DATED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4} ")


def run(args, timeout=20):
    """A command that should end by itself: (status, stdout + stderr)."""
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return out.returncode, out.stdout + out.stderr


def echo_through(lp, target, n=1):
    """n SOCKS5 echoes through the client's port lp; how many came back whole.
    The echo is read before closing: libev's ss-local closes on a half-close."""
    ok = 0
    for i in range(n):
        msg = b"hello %d" % i
        try:
            s, rep = socks_connect(lp, "127.0.0.1", target)
            s.sendall(msg)
            ok += rep == 0 and recv_exact(s, len(msg)) == msg
            s.close()
        except (OSError, AssertionError):
            pass
    return ok


def test_a_second_ssserver_on_a_used_port_fails_like_libev():
    echo = Server(echo_handler)
    port = free_port()
    first = start([SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "first", "-m", M, "--allow-private"],
                  wait=port, default_workers=True)
    status, out = run([SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "second", "-m", M])
    assert status == 1, (status, out)
    assert "bind: Address already in use" in out, out
    # Nothing of the second is left to take a share of the clients.
    lp = free_port()
    sslocal(lp, port, M, password="first")
    assert echo_through(lp, echo.port, 12) == 12
    assert first.poll() is None
    echo.close()


def test_a_second_sslocal_on_a_used_port_fails_like_libev():
    port = free_port()
    start([SSLOCAL, "-s", "127.0.0.1", "-p", "1", "-l", str(port), "-k", "x", "-m", M], wait=port,
          default_workers=True)
    status, out = run([SSLOCAL, "-s", "127.0.0.1", "-p", "1", "-l", str(port), "-k", "y", "-m", M, "-u"])
    assert status == 1 and "bind: Address already in use" in out, (status, out)


def test_reuse_port_still_shares_on_purpose():
    port = free_port()
    args = [SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "pw", "-m", M, "--reuse-port"]
    a = start(args, wait=port, default_workers=True)
    b = start(args, default_workers=True)
    wait_until(lambda: "ready" in b.log_text(), 10, "the second instance to serve")
    assert a.poll() is None and b.poll() is None


def test_a_reload_that_adds_a_used_port_is_refused():
    port, used = free_port(), free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", used))
    holder.listen()
    conf = os.path.join(TMP, "reload.json")
    with open(conf, "w") as f:
        f.write('{"server": "127.0.0.1", "port_password": {"%d": "a"}, "method": "%s"}' % (port, M))
    srv = start([SSSERVER, "-c", conf, "--workers", "2"], wait=port)
    with open(conf, "w") as f:
        f.write('{"server": "127.0.0.1", "port_password": {"%d": "a", "%d": "b"}, "method": "%s"}'
                % (port, used, M))
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in srv.log_text(), 10, "the reload to be refused")
    assert "bind: Address already in use" in srv.log_text()
    wait_port(port)
    holder.close()


def rekey_rounds(mgr, port, echo, rounds=4, remove=False):
    """Adds port again with a new password after traffic, rounds times (after a
    remove, for libev's ss-manager); the new key serves at once."""
    for i in range(rounds):
        pw = "pw-%d" % i
        add = 'add: {"server_port": %d, "password": "%s"}' % (port, pw)
        if remove and i:
            # libev's ss-manager checks the port itself right after signalling the old
            # server: an add over a running port loses that race with its own ss-server
            # too. Its users remove, then add, as here.
            assert mgr.cmd('remove: {"server_port": %d}' % port) == "ok"
            wait_until(lambda: mgr.cmd(add) == "ok", 5, "the add after the remove")
        else:
            assert mgr.cmd(add) == "ok"
        lp = free_port()
        loc = sslocal(lp, port, M, password=pw)
        # The new key serves at once or within the reload (a moment).
        wait_until(lambda: echo_through(lp, echo.port) == 1, 10, "round %d's key to serve" % i)
        assert echo_through(lp, echo.port, 5) == 5
        loc.stop()


def test_ssmanager_password_change_after_traffic_keeps_the_port():
    echo = Server(echo_handler)
    mp, port = free_port(socket.SOCK_DGRAM), free_port()
    start([SSMANAGER, "--manager-address", "127.0.0.1:%d" % mp, "-m", M, "--allow-private", "-s", "127.0.0.1",
           "--workers", "2"])
    time.sleep(0.3)
    rekey_rounds(Mgr(mp), port, echo)
    echo.close()


def test_libev_ss_manager_driving_ssserver_changes_a_password():
    echo = Server(echo_handler)
    mp, port = free_port(socket.SOCK_DGRAM), free_port()
    work = os.path.join(TMP, "ss-manager")
    os.makedirs(work, exist_ok=True)
    acl = os.path.join(TMP, "allow.acl")
    with open(acl, "w") as f:
        f.write("allow 127.0.0.0/8\n")  # the echo target is on loopback, refused by default
    conf = os.path.join(TMP, "ss-manager.json")
    with open(conf, "w") as f:
        f.write('{"acl": "%s", "method": "%s", "server": "127.0.0.1"}' % (acl, M))
    # -i passes through to ssserver, which binds its connections to lo.
    start([shutil.which("ss-manager"), "--manager-address", "127.0.0.1:%d" % mp, "--executable", SSSERVER,
           "-c", conf, "-i", "lo", "-D", work], name="ss-manager", default_workers=True)
    time.sleep(0.5)
    try:
        rekey_rounds(Mgr(mp), port, echo, rounds=4, remove=True)
    finally:
        stop_pid_file(os.path.join(work, ".shadowsocks_%d.pid" % port))
    echo.close()


def test_libev_flags_work():
    echo = Server(echo_handler)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()  # libev takes URL-safe base64
    port = free_port()
    ssserver(port, M, password="unused", extra=["--key", key, "-i", "lo", "--mptcp", "--no-delay",
                                                 "--tcp-incoming-sndbuf", "65536", "--tcp-outgoing-rcvbuf",
                                                 "65536", "-l", "1080"])
    # libev's own client with the same raw key: --key is the key, not a password.
    lp = free_port()
    start([shutil.which("ss-local"), "-s", "127.0.0.1", "-p", str(port), "-l", str(lp), "--key", key,
           "-m", M], name="ss-local", wait=lp)
    assert echo_through(lp, echo.port, 3) == 3
    lp2 = free_port()
    sslocal(lp2, port, M, password="unused", extra=["--key", key, "-i", "lo", "--mtu", "1400"])
    assert echo_through(lp2, echo.port, 3) == 3
    echo.close()


def test_libev_flags_refused_with_reasons():
    status, out = run([SSSERVER, "-s", "127.0.0.1", "-p", str(free_port()), "-k", "x", "-m", M,
                       "-i", "no-such-if0"])
    assert status == 2 and "no such network interface" in out, out
    status, out = run([SSLOCAL, "--server", "127.0.0.1", "-p", "1", "-k", "x", "-m", M])
    assert status == 2 and "unknown option --server" in out, out
    port = free_port()
    srv = ssserver(port, M, extra=["--mtu", "1400", "-l", "1080"])
    assert "ignored (libev's, with no meaning in ssserver): --mtu, -l" in srv.log_text(), srv.log_text()


def gone_or_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def stop_time(pid):
    """Seconds from SIGTERM until the process has exited (a zombie not yet reaped counts as exited)."""
    t = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while not gone_or_zombie(pid):
        assert time.monotonic() - t < 10, "still running 10 s after SIGTERM"
        time.sleep(0.005)
    return time.monotonic() - t


def test_sigterm_to_an_idle_daemon_exits_within_200ms():
    times = {}
    for mode, extra in (("-f", []), ("workers", ["--workers", "4"]),
                        ("plugin", ["--plugin", shutil.which("obfs-server") or "obfs-server",
                                    "--plugin-opts", "obfs=http"])):
        port = free_port()
        pidf = os.path.join(TMP, "stop-%s.pid" % mode.strip("-"))
        args = [SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "pw", "-m", M] + extra
        if mode == "-f":
            status, out = run(args + ["-f", pidf])
            assert status == 0, out
            pid = int(open(pidf).read())
        else:
            pid = start(args, wait=port, default_workers=True).pid
        wait_port(port)
        times[mode] = stop_time(pid)
    mp = free_port(socket.SOCK_DGRAM)
    mgr = start([SSMANAGER, "--manager-address", "127.0.0.1:%d" % mp, "-m", M, "-s", "127.0.0.1"])
    time.sleep(0.3)
    port = free_port()
    assert Mgr(mp).cmd('add: {"server_port": %d, "password": "p"}' % port) == "ok"
    times["manager"] = stop_time(mgr.pid)
    print("  stop times (ms): %s" % {k: round(v * 1000) for k, v in times.items()})
    assert all(v < 0.2 for v in times.values()), times


def test_log_lines_carry_dates_and_the_start_up_block_comes_once():
    port = free_port()
    srv = start([SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "pw", "-m", M, "--workers", "3"], wait=port)
    wait_until(lambda: "ready" in srv.log_text(), 10, "ready")
    time.sleep(0.3)
    lines = [l for l in srv.log_text().splitlines() if l.strip()]
    assert lines and all(DATED.match(l) for l in lines), lines
    text = srv.log_text()
    assert text.count("listening on") == 1 and text.count("ready:") == 1, text
    # Under systemd the journal stamps each line: none of our own then.
    port = free_port()
    logf = os.path.join(TMP, "journal.log")
    with open(logf, "w") as f:
        st = os.fstat(f.fileno())
        p = subprocess.Popen([SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "pw", "-m", M, "--workers", "1"],
                             stdout=f, stderr=f, stdin=subprocess.DEVNULL,
                             env=dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino)))
    try:
        wait_port(port)
    finally:
        p.terminate()
        p.wait(10)
    text = open(logf).read()
    assert "ssserver[" in text and not any(DATED.match(l) for l in text.splitlines()), text


def test_acl_refusals_are_logged_without_v_and_say_what_refused():
    acl = os.path.join(TMP, "clients.acl")
    with open(acl, "w") as f:
        f.write("[white_list]\n0.0.0.0/0\n[black_list]\n127.0.0.1\n")
    port = free_port()
    srv = ssserver(port, M, extra=["--acl", acl])
    for _ in range(30):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            pass
    wait_until(lambda: "Access denied from 127.0.0.1" in srv.log_text(), 10, "the refusal in the log")
    # Rate-limited: 30 refusals, at most LOG_RATE_BURST lines in a window.
    assert srv.log_text().count("Access denied") <= 10
    # With --allow-private the hint does not suggest it again.
    echo = Server(echo_handler)
    block = os.path.join(TMP, "block.acl")
    with open(block, "w") as f:
        f.write("[outbound_block_list]\n127.0.0.0/8\n")
    srv2, port2 = None, free_port()
    srv2 = ssserver(port2, M, extra=["--acl", block])
    lp = free_port()
    sslocal(lp, port2, M)
    echo_through(lp, echo.port)
    wait_until(lambda: "refused by policy" in srv2.log_text(), 10, "the policy refusal")
    line = [l for l in srv2.log_text().splitlines() if "refused by policy" in l][0]
    assert "--allow-private" not in line and "ACL" in line, line
    echo.close()


def test_udp_association_close_line_counts_its_datagrams():
    """3 datagrams each way of 100 bytes and a 10-byte SOCKS5 UDP header: 330 bytes as the client sees them."""
    port = free_port()
    udp_echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_echo.bind(("127.0.0.1", 0))
    sp = free_port()
    ssserver(sp, M, extra=["-u"])
    lp = free_port()
    loc = sslocal(lp, sp, M, extra=["-u", "-v"])
    s = socket.create_connection(("127.0.0.1", lp), timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    rep = recv_exact(s, 10)  # VER REP RSV ATYP=1 ADDR(4) PORT(2)
    assert rep[1] == 0 and rep[3] == 1, rep
    relay = (socket.inet_ntoa(rep[4:8]), int.from_bytes(rep[8:10], "big"))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    payload = b"x" * 100
    hdr = b"\x00\x00\x00" + encode_addr("127.0.0.1", udp_echo.getsockname()[1])
    for _ in range(3):
        u.sendto(hdr + payload, relay)
        data, src = udp_echo.recvfrom(2048)
        udp_echo.sendto(data, src)
        u.recvfrom(2048)
    s.close()
    wait_until(lambda: "UDP up 330, down 330 bytes" in loc.log_text(), 10, "the association's close line")


def test_start_up_failures_say_why():
    status, out = run([SSSERVER, "-s", "127.0.0.1", "-p", str(free_port()), "-k", "", "-m", M])
    assert status == 2 and "empty password" in out, out
    status, out = run([SSSERVER, "-s", "127.0.0.1", "-p", str(free_port()), "-k", "pw", "-m", M,
                       "-f", "/nonexistent-dir/x.pid"])
    assert status == 1 and "cannot write pid file /nonexistent-dir/x.pid" in out, (status, out)
    # -f waits until the daemon serves: a port in use is said on the terminal, status 1.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    status, out = run([SSSERVER, "-s", "127.0.0.1", "-p", str(holder.getsockname()[1]), "-k", "pw", "-m", M,
                       "--workers", "1", "-f", os.path.join(TMP, "held.pid")])
    assert status == 1 and "Address already in use" in out, (status, out)
    holder.close()


def test_fast_open_warns_when_the_kernel_will_not_serve_it():
    path = "/proc/sys/net/ipv4/tcp_fastopen"
    old = open(path).read().strip()
    try:
        with open(path, "w") as f:
            f.write("1")
        port = free_port()
        srv = ssserver(port, M, extra=["--fast-open"])
        assert "net.ipv4.tcp_fastopen is 1" in srv.log_text(), srv.log_text()
        with open(path, "w") as f:
            f.write("3")
        port = free_port()
        srv = ssserver(port, M, extra=["--fast-open"])
        assert "tcp_fastopen" not in srv.log_text(), srv.log_text()
    finally:
        with open(path, "w") as f:
            f.write(old)


def test_the_parent_under_user_keeps_only_what_restarts_a_worker():
    port = free_port()
    srv = start([SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "pw", "-m", M, "--workers", "2",
                 "--user", "nobody"], wait=port)
    wait_until(lambda: "control socket" in srv.log_text(), 10, "the control socket")
    status = open("/proc/%d/status" % srv.pid).read()
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
    eff = int(re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M).group(1), 16)
    # CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW, CAP_PERFMON, CAP_BPF.
    want = 1 << 10 | 1 << 12 | 1 << 13 | 1 << 38 | 1 << 39
    assert uid == "65534" and eff == want, (uid, hex(eff))
    assert "Permission denied" not in srv.log_text(), srv.log_text()
    # A killed worker comes back with those.
    worker = int(subprocess.run(["pgrep", "-P", str(srv.pid)], capture_output=True, text=True).stdout.split()[0])
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: len(subprocess.run(["pgrep", "-P", str(srv.pid)], capture_output=True,
                                          text=True).stdout.split()) == 2, 10, "the worker's restart")
    lp = free_port()
    echo = Server(echo_handler)
    sslocal(lp, port, M, password="pw")
    # Its targets are refused on loopback (no --allow-private): the relay answers, nothing crashes.
    s, rep = socks_connect(lp, "127.0.0.1", echo.port)
    s.close()
    assert srv.poll() is None
    echo.close()


def test_replay_files_follow_the_configured_instance():
    conf = os.path.join(TMP, "op-instance-%d.json" % os.getpid())
    name = os.path.basename(conf)[:-5]
    path = "/var/lib/ssbpf/ssserver-%s.replay" % name
    for port in (free_port(), free_port()):
        with open(conf, "w") as f:
            f.write('{"server": "127.0.0.1", "server_port": %d, "password": "pw", "method": "%s"}' % (port, M))
        srv = start([SSSERVER, "-c", conf], wait=port)
        assert path in srv.log_text(), srv.log_text()
        srv.stop()
    # The second run, on another port, kept the first one's salts: one file per instance.
    assert "kept from %s" % path in srv.log_text(), srv.log_text()
    os.unlink(path)
    # ssmanager with a process per port (--bpf off): a removed port's files go with it.
    mp, port = free_port(socket.SOCK_DGRAM), free_port()
    start([SSMANAGER, "--manager-address", "127.0.0.1:%d" % mp, "-m", M, "-s", "127.0.0.1", "--bpf", "off"])
    time.sleep(0.3)
    mgr = Mgr(mp)
    assert mgr.cmd('add: {"server_port": %d, "password": "p"}' % port) == "ok"
    port_file = "/var/lib/ssbpf/ssserver-%d.replay" % port
    wait_until(lambda: os.path.exists(port_file), 10, "the port's replay file")
    assert mgr.cmd('remove: {"server_port": %d}' % port) == "ok"
    assert not os.path.exists(port_file)


def test_ssctl_with_several_daemons_shows_each_or_takes_a_port():
    ssctl = os.path.join(BUILD, "ssctl")
    sp, lp = free_port(), free_port()
    ssserver(sp, M)
    sslocal(lp, sp, M)
    status, out = run([ssctl, "conns"])
    assert status == 0 and "== ssserver-%d " % sp in out and "== sslocal-%d " % lp in out, out
    status, out = run([ssctl, "-p", str(sp), "stats"])
    assert status == 0 and out.startswith("ssserver"), out
    status, out = run([ssctl, "kill", "1"])
    assert status == 2 and "-p PORT" in out, out


def test_metrics_have_the_process_families():
    port, mport = free_port(), free_port()
    t0 = time.time()
    start([SSSERVER, "-s", "127.0.0.1", "-p", str(port), "-k", "pw", "-m", M, "--workers", "2",
           "--metrics", "127.0.0.1:%d" % mport], wait=port)
    wait_port(mport)
    s = socket.create_connection(("127.0.0.1", mport), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    text = recv_all(s).decode()
    vals = {}
    for fam in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                "process_open_fds", "process_max_fds", "process_start_time_seconds"):
        assert "# TYPE %s " % fam in text, fam
        vals[fam] = float(re.search(r"^%s (\S+)$" % fam, text, re.M).group(1))
    assert vals["process_resident_memory_bytes"] > 1 << 20 and vals["process_open_fds"] > 5, vals
    assert abs(vals["process_start_time_seconds"] - t0) < 30, vals


def test_ssmanager_takes_f_and_log_file_as_ssserver_does():
    mp = free_port(socket.SOCK_DGRAM)
    pidf, logf = os.path.join(TMP, "mgr.pid"), os.path.join(TMP, "mgr.log")
    status, out = run([SSMANAGER, "--manager-address", "127.0.0.1:%d" % mp, "-m", M, "-s", "127.0.0.1",
                       "-f", pidf, "--log-file", logf])
    assert status == 0, out
    pid = int(open(pidf).read())
    try:
        assert Mgr(mp).cmd("ping") == "stat: {}"
        assert "ssmanager on 127.0.0.1:%d" % mp in open(logf).read()
    finally:
        stop_time(pid)
    wait_until(lambda: not os.path.exists(pidf), 5, "the pid file to go")


if __name__ == "__main__":
    sys.exit(run_tests([v for k, v in list(globals().items()) if k.startswith("test_")], "operator"))
