# SPDX-License-Identifier: MIT
"""Drop-in for libev deployments: the config files people have, command-line
habits, libev ACL files, -f PIDFILE, --user, systemd readiness and units,
make install with man pages."""
import grp
import json
import os
import pwd
import random
import re
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
TMP = tempfile.mkdtemp(prefix="ssbpf-dropin.")

# Debian's /etc/shadowsocks-libev/config.json as the package installs it.
LIBEV_CONFIG = {"server": ["::1", "127.0.0.1"], "mode": "tcp_and_udp", "server_port": 8388,
                "local_port": 1080, "password": "uE4HAJGMEEdV", "timeout": 86400,
                "method": "chacha20-ietf-poly1305"}
# The Python original's shared test files (tests/*.json), with an AEAD method.
PYTHON_CONFIGS = {
    "aes-gcm.json": {"server": "127.0.0.1", "server_port": 8388, "local_port": 1081,
                     "password": "aes_password", "timeout": 60, "method": "aes-256-gcm",
                     "local_address": "127.0.0.1", "fast_open": False},
    "server-dnsserver.json": {"server": "127.0.0.1", "server_port": 8388, "local_port": 1081,
                              "password": "aes_password", "timeout": 60, "method": "aes-256-gcm",
                              "local_address": "127.0.0.1", "fast_open": False,
                              "dns_server": ["8.8.8.8", "8.8.4.4"]},
    "workers.json": {"server": "127.0.0.1", "server_port": 8388, "local_port": 1081,
                     "password": "workers_password", "timeout": 60, "method": "aes-256-gcm",
                     "local_address": "127.0.0.1", "workers": 4},
    "rc4-md5-ota.json": {"server": "127.0.0.1", "server_port": 8388, "local_port": 1081,
                         "password": "aes_password", "timeout": 60, "method": "chacha20-ietf-poly1305",
                         "local_address": "127.0.0.1", "fast_open": False, "one_time_auth": True,
                         "verbose": 1},
    "ipv6.json": {"server": "::", "server_port": 8388, "local_port": 1081, "password": "aes_password",
                  "timeout": 60, "method": "aes-256-gcm", "local_address": "127.0.0.1",
                  "fast_open": False},
}


def write(name, obj):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj, indent=4))
    return path


def run(args, timeout=10):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def relay_ok(lp, half_close=True):
    echo = Server(echo_handler)
    data = os.urandom(100000)
    if half_close:
        assert socks_echo(lp, "127.0.0.1", echo.port, data) == data
    else:
        # simple-obfs closes the whole connection at the client's FIN: read before closing.
        s, rep = socks_connect(lp, "127.0.0.1", echo.port)
        assert rep == 0
        s.sendall(data)
        assert recv_exact(s, len(data)) == data
        s.close()
    echo.close()


def test_debian_libev_config_starts_both_programs_unchanged():
    cfg = dict(LIBEV_CONFIG, server_port=free_port(), local_port=free_port())
    path = write("libev.json", cfg)
    srv = start([SSSERVER, "-c", path, "--allow-private", "-v"], wait=cfg["server_port"])
    start([SSLOCAL, "-c", path], wait=cfg["local_port"])
    relay_ok(cfg["local_port"])
    assert "ignoring keys that mean nothing to ssserver: local_port" in srv.log_text()


def test_python_original_test_configs_start_the_binary_they_are_for():
    for name, base in PYTHON_CONFIGS.items():
        cfg = dict(base, server_port=free_port(), local_port=free_port())
        path = write(name, cfg)
        srv_args = [SSSERVER, "-c", path, "--allow-private"]
        if "dns_server" in cfg:
            srv_args += ["-d", "127.0.0.1"]  # never ask the listed public resolvers
        wait_host = "::1" if cfg["server"] == "::" else "127.0.0.1"
        start(srv_args, wait=cfg["server_port"], host=wait_host)
        start([SSLOCAL, "-c", path, "-s", "127.0.0.1"], wait=cfg["local_port"])
        relay_ok(cfg["local_port"])
        stop_all()
    # "server_port": [a, b] serves every port with the one password.
    ports = [free_port(), free_port()]
    path = write("server-multi-ports.json", {"server": "127.0.0.1", "server_port": ports, "local_port": 1081,
                                              "password": "foobar4", "timeout": 60, "method": "aes-256-gcm"})
    start([SSSERVER, "-c", path, "--allow-private"], wait=ports[0])
    for p in ports:
        lp = free_port()
        start([SSLOCAL, "-c", path, "-p", str(p), "-l", str(lp)], wait=lp)
        relay_ok(lp)


def test_typo_and_command_line_errors_name_the_culprit():
    path = write("typo.json", dict(LIBEV_CONFIG, pasword="x"))
    r = run([SSSERVER, "-c", path])
    assert r.returncode == 2 and 'unknown key "pasword"' in r.stderr, r.stderr
    r = run([SSSERVER, "-t", "30", "-qz"])
    assert r.returncode == 2 and "unknown option -z" in r.stderr, r.stderr
    r = run([SSSERVER, "--no-such-flag"])
    assert r.returncode == 2 and "unknown option --no-such-flag" in r.stderr, r.stderr
    for flag in ("--version", "-V"):
        r = run([SSLOCAL, flag])
        assert r.returncode == 0 and r.stdout.startswith("sslocal "), r.stdout
    # --help describes every flag of the option table that the program takes.
    for prog, other in ((SSSERVER, "--socks5-username"), (SSLOCAL, "--allow-private")):
        h = run([prog, "--help"]).stdout
        for flag in ("-s", "-p", "-k", "-m", "-t", "-a, --user", "-f, --pid-file", "--log-file", "--syslog",
                     "-q", "-n", "--plugin", "--plugin-opts", "--acl", "--bpf", "--workers", "-V, --version"):
            assert flag in h, (prog, flag)
        assert other not in h, (prog, other)
        assert len([ln for ln in h.splitlines() if ln.lstrip().startswith("-")]) > 25


def test_quiet_log_file_and_syslog():
    sp = free_port()
    logf = os.path.join(TMP, "q.log")
    srv = start([SSSERVER, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-128-gcm", "-q",
                 "--log-file", logf], wait=sp)
    lp = free_port()
    start([SSLOCAL, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-128-gcm", "-l", str(lp)], wait=lp)
    s, rep = socks_connect(lp, "127.0.0.1", free_port())  # refused by the default policy: a warning? no
    s.close()
    srv.stop()
    with open(logf) as f:
        text = f.read()
    assert " info: " not in text, text  # -q keeps warnings and errors only
    assert srv.log_text() == "", srv.log_text()  # nothing on stderr: all in the file
    r = run([SSSERVER, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-128-gcm", "--log-file",
             "/nonexistent/dir/x.log"])
    assert r.returncode == 1 and "cannot open log file" in r.stderr, r.stderr
    # --syslog: the records reach /dev/log (ours here, in a private mount namespace if one exists).
    logsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(TMP, "devlog")
    logsock.bind(path)
    logsock.settimeout(10)
    args = [SSSERVER, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-128-gcm", "--syslog"]
    ours = not os.path.exists("/dev/log")
    if ours:
        os.symlink(path, "/dev/log")
    else:
        args = ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /dev/log && exec "$@"', path] + args
    try:
        p = start(args, wait=sp)
        got = logsock.recv(2048).decode(errors="replace")
        assert "ssserver[" in got and got.startswith("<"), got  # "<PRI>date ssserver[pid]: ..."
        assert p.log_text() == "", p.log_text()
    finally:
        if ours:
            os.unlink("/dev/log")
        logsock.close()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_pid_file_daemon_refuses_a_second_start_and_replaces_a_stale_file():
    sp = free_port()
    pidf = os.path.join(TMP, "ss.pid")
    logf = os.path.join(TMP, "daemon.log")
    args = [SSSERVER, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-256-gcm", "-f", pidf,
            "--log-file", logf, "--workers", "2"]
    r = run(args)
    assert r.returncode == 0, r.stderr
    pid = int(open(pidf).read())
    assert pid_alive(pid) and pid != os.getpid()
    wait_port(sp)
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().split(") ")[1].split()
    assert int(st[3]) == pid, "the daemon leads its own session"
    r = run(args)
    assert r.returncode != 0 and ("running process %d" % pid) in open(logf).read() + r.stderr
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists(pidf), 10, "the pid file to go at exit")
    wait_until(lambda: not pid_alive(pid) or open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z", 10,
               "the daemon to exit")
    # A stale pid file (its process is gone) is replaced.
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(pidf, "w") as f:
        f.write("%d\n" % dead.pid)
    assert run(args).returncode == 0
    pid = int(open(pidf).read())
    assert pid != dead.pid and pid_alive(pid)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists(pidf), 10, "the pid file to go at exit")


def proc_user(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return pwd.getpwuid(int(line.split()[2])).pw_name


def test_user_nobody_runs_every_process_as_nobody_and_relays():
    sp, lp = free_port(), free_port()
    srv = start([SSSERVER, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-256-gcm", "--allow-private",
                 "-a", "nobody", "--workers", "2", "--replay-file", "off", "--plugin", "obfs-server",
                 "--plugin-opts", "obfs=http"], wait=sp)
    start([SSLOCAL, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-256-gcm", "-l", str(lp), "-a", "nobody",
           "--plugin", "obfs-local", "--plugin-opts", "obfs=http"], wait=lp)
    relay_ok(lp, half_close=False)
    procs = [srv.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(srv.pid)], capture_output=True,
                                                         text=True).stdout.split()]
    assert len(procs) == 4, procs  # the parent, 2 workers, the plugin
    users = {p: proc_user(p) for p in procs}
    assert set(users.values()) == {"nobody"}, users


def test_systemd_readiness_notification():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(TMP, "notify.sock")
    sock.bind(path)
    sock.settimeout(10)
    sp = free_port()
    srv = start([SSSERVER, "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", "aes-256-gcm", "--workers", "2"],
                env={"NOTIFY_SOCKET": path})
    msg = sock.recv(256).decode()
    assert "READY=1" in msg and ("MAINPID=%d" % srv.pid) in msg, msg
    wait_port(sp)  # ready means listening
    sock.close()


def test_units_verify_and_install_lays_out_binaries_man_pages_and_units():
    dest = os.path.join(TMP, "root")
    r = run(["make", "-s", "O=" + BUILD, "install", "DESTDIR=" + dest, "PREFIX=/usr"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("usr/bin/ssserver", "usr/bin/sslocal", "usr/bin/ssctl", "usr/share/man/man1/ssserver.1",
              "usr/share/man/man1/sslocal.1", "usr/share/man/man1/ssctl.1", "etc/ssbpf/example.json",
              "lib/systemd/system/ssbpf-server@.service", "lib/systemd/system/ssbpf-local@.service"):
        assert os.path.exists(os.path.join(dest, f)), f
    assert os.access(os.path.join(dest, "usr/bin/ssserver"), os.X_OK)
    for m in ("ssserver", "sslocal", "ssctl"):
        page = os.path.join(dest, "usr/share/man/man1/%s.1" % m)
        r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
        assert r.returncode == 0 and not r.stderr.strip(), (m, r.stderr)
        assert m in r.stdout and "OPTIONS" in r.stdout or m == "ssctl"
    # Every JSON key of the option table is in the pages.
    text = open(os.path.join(dest, "usr/share/man/man1/ssserver.1")).read()
    for key in ("server_port", "plugin_opts", "pid_file", "replay_file", "handshake_timeout", "acl", "nofile"):
        assert key.replace("_", "_") in text, key
    # The units, pointed at the built binaries, pass systemd-analyze verify with nothing to say.
    udir = os.path.join(TMP, "units")
    os.makedirs(udir, exist_ok=True)
    units = sorted(os.listdir(os.path.join(ROOT, "dist/systemd")))
    assert units == ["ssbpf-local@.service", "ssbpf-manager.service", "ssbpf-redir@.service",
                     "ssbpf-server@.service", "ssbpf-server@.socket"], units
    for u in units:
        with open(os.path.join(ROOT, "dist/systemd", u)) as f:
            text = f.read().replace("@BINDIR@", os.path.abspath(BUILD))
        # A template socket is verified as an instance: its Listen lines are the instance's port.
        with open(os.path.join(udir, u.replace("@.socket", "@8388.socket")), "w") as f:
            f.write(text)
        if u.endswith(".socket"):
            assert "ListenStream=%i" in text and "ListenDatagram=%i" in text, u
            continue
        assert "NoNewPrivileges=yes" in text and "User=ssbpf" in text, u
        assert u == "ssbpf-manager.service" or ("Type=notify" in text and "ExecReload=" in text), u
    services = [u for u in units if u.endswith(".service")]
    # Only the capabilities of each mode.
    caps = {u: set(re.search(r"^AmbientCapabilities=(.*)$", open(os.path.join(udir, u)).read(), re.M)
                   .group(1).split()) for u in services}
    assert caps["ssbpf-local@.service"] == {"CAP_NET_BIND_SERVICE"}, caps
    assert "CAP_NET_ADMIN" in caps["ssbpf-redir@.service"] and "CAP_SETUID" not in str(caps), caps
    r = run(["systemd-analyze", "verify", "--man=no"] + [os.path.join(udir, u) for u in sorted(os.listdir(udir))],
            60)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    scores = {}
    for u in services:
        r = run(["systemd-analyze", "security", "--offline=true", os.path.join(udir, u)], 60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        scores[u] = float(m.group(1))
    print("  systemd-analyze security: %s" % scores)
    assert all(v < 5.0 for v in scores.values()), scores
    r = run(["make", "-s", "O=" + BUILD, "uninstall", "DESTDIR=" + dest, "PREFIX=/usr"], timeout=60)
    assert r.returncode == 0 and not os.path.exists(os.path.join(dest, "usr/bin/ssserver"))
    # Nothing of ours is left, not even an empty folder.
    left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
    assert not left and not os.path.exists(os.path.join(dest, "etc/ssbpf")), left


def acl(name, text):
    return write(name, text)


def gets_nothing_back(s):
    """Sends a byte on a relayed connection that the server closed: nothing comes back."""
    s.settimeout(5)
    try:
        s.sendall(b"x")
        return s.recv(10) == b""
    except OSError:
        return True


def test_server_acl_white_list_admits_only_listed_clients():
    echo = Server(echo_handler)
    for listed, admitted in (("127.0.0.1", True), ("127.0.0.2", False)):
        path = acl("srv.acl", "[reject_all]\n[white_list]\n%s\n" % listed)
        srv, loc, lp = pair(server_extra=["--acl", path])
        s, rep = socks_connect(lp, "127.0.0.1", echo.port)
        if admitted:
            assert rep == 0
            s.sendall(b"hello")
            assert recv_exact(s, 5) == b"hello"
        else:
            assert gets_nothing_back(s), "the server closes a refused client at accept"
        s.close()
        stop_all()
    echo.close()


def test_server_acl_outbound_block_list_blocks_addresses_and_names():
    echo = Server(echo_handler)
    path = acl("out.acl", "[accept_all]\n[outbound_block_list]\n127.0.0.1/32\n(^|\\.)blocked\\.test$\n")
    srv, loc, lp = pair(server_extra=["--acl", path, "-v", "-v"])
    for host in ("127.0.0.1", "www.blocked.test"):
        s, rep = socks_connect(lp, host, echo.port)
        assert gets_nothing_back(s), host
        s.close()
    wait_until(lambda: "outbound_block_list" in srv.log_text(), 5, "the refusals in the log")
    assert echo.accepts == 0
    echo.close()


def test_sslocal_bypass_list_goes_direct_and_proxy_list_through_the_server():
    echo = Server(echo_handler)
    fake = Server(lambda s: s.recv(1))  # stands where the server is: counts what comes through
    path = acl("local.acl", "[bypass_all]\n[proxy_list]\n127.0.0.1\n[bypass_list]\n||localhost\n")
    lp = free_port()
    loc = start([SSLOCAL, "-s", "127.0.0.1", "-p", str(fake.port), "-k", "x", "-m", "aes-256-gcm",
                 "-l", str(lp), "--acl", path], wait=lp)
    data = os.urandom(200000)
    assert socks_echo(lp, "localhost", echo.port, data) == data  # a bypass name rule: direct
    assert fake.accepts == 0 and echo.accepts == 1
    s, rep = socks_connect(lp, "127.0.0.1", echo.port)  # on the proxy list: to the "server"
    s.close()
    wait_until(lambda: fake.accepts == 1, 5, "the proxied connection at the server")
    stop_all()
    # The same through a real ssserver: [proxy_all] + [bypass_list].
    path = acl("local2.acl", "[proxy_all]\n[bypass_list]\n||localhost\n")
    srv, loc, lp = pair(local_extra=["--acl", path])
    assert socks_echo(lp, "localhost", echo.port, data) == data
    assert socks_echo(lp, "127.0.0.1", echo.port, data) == data
    assert "bypass policy; ACL (libev format): 1 rules" in loc.log_text()
    fake.close()
    echo.close()


def routes_of(binary, acl_text, name):
    """Where binary (sslocal, or libev's ss-local) sends a SOCKS5 connection to name:
    "direct" (to the echo target) or "server" (to a stand-in that counts)."""
    echo, fake = Server(echo_handler), Server(lambda s: s.recv(1))
    path, lp = acl("routes.acl", acl_text), free_port()
    start([binary, "-s", "127.0.0.1", "-p", str(fake.port), "-k", "x", "-m", "aes-256-gcm", "-l", str(lp),
           "--acl", path], wait=lp)
    s, rep = socks_connect(lp, name, echo.port)
    s.sendall(b"ping")
    s.settimeout(3)
    try:
        got = recv_exact(s, 4)
    except (OSError, AssertionError):
        got = b""
    s.close()
    wait_until(lambda: got == b"ping" or fake.accepts, 5, "the connection somewhere")
    stop_all()
    echo.close()
    fake.close()
    return "direct" if got == b"ping" and not fake.accepts else "server"


def test_names_are_routed_by_their_address_as_libev_routes_them():
    """A name no name rule matches is resolved and its address matched against the IP
    rules (libev's ss-local, local.c); a name rule wins over the address; a name that
    does not resolve goes to the server. Each case against libev's ss-local."""
    cases = [("[proxy_all]\n[bypass_list]\n127.0.0.1/32\n", "localhost", "direct"),
             ("[bypass_all]\n[proxy_list]\n127.0.0.1/32\n", "localhost", "server"),
             ("[proxy_all]\n[bypass_list]\n10.0.0.0/8\n", "localhost", "server"),
             ("[bypass_all]\n[proxy_list]\n127.0.0.1/32\n[bypass_list]\n||localhost\n", "localhost", "direct"),
             ("[proxy_all]\n[bypass_list]\n127.0.0.1/32\n[proxy_list]\n||localhost\n", "localhost", "server"),
             ("[bypass_all]\n[proxy_list]\n10.0.0.0/8\n", "no-such-name.invalid", "server")]
    for text, name, want in cases:
        ours = routes_of(SSLOCAL, text, name)
        assert ours == want, (text, name, ours)
        if name.endswith(".invalid"):
            continue  # libev asks the system resolver, which may wait here for a nameserver it cannot reach
        theirs = routes_of("/usr/bin/ss-local", text, name)
        assert theirs == ours, (text, name, ours, theirs)


def test_a_100000_line_acl_loads_in_the_daemon():
    rnd = random.Random(5)
    lines = ["[proxy_all]", "[bypass_list]"] + ["%d.%d.%d.0/24" % (rnd.randrange(1, 224), rnd.randrange(256),
                                                                rnd.randrange(256)) for _ in range(100000)]
    path = acl("big.acl", "\n".join(lines) + "\n127.0.0.0/8\n")
    t0 = time.time()
    srv, loc, lp = pair(local_extra=["--acl", path])
    echo = Server(echo_handler)
    assert socks_echo(lp, "127.0.0.1", echo.port, b"big") == b"big"
    dt = time.time() - t0
    assert "ACL (libev format): 100001 rules" in loc.log_text(), loc.log_text()
    assert dt < 5, dt
    echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([test_names_are_routed_by_their_address_as_libev_routes_them, 
        test_debian_libev_config_starts_both_programs_unchanged,
        test_python_original_test_configs_start_the_binary_they_are_for,
        test_typo_and_command_line_errors_name_the_culprit,
        test_quiet_log_file_and_syslog,
        test_pid_file_daemon_refuses_a_second_start_and_replaces_a_stale_file,
        test_user_nobody_runs_every_process_as_nobody_and_relays,
        test_systemd_readiness_notification,
        test_units_verify_and_install_lays_out_binaries_man_pages_and_units,
        test_server_acl_white_list_admits_only_listed_clients,
        test_server_acl_outbound_block_list_blocks_addresses_and_names,
        test_sslocal_bypass_list_goes_direct_and_proxy_list_through_the_server,
        test_a_100000_line_acl_loads_in_the_daemon,
    ], "dropin"))
