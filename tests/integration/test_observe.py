# SPDX-License-Identifier: MIT
"""Inside a running daemon: the control socket with ssctl conns, stats, top
and kill, and Prometheus /metrics checked by promtool and the Python parser."""
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from sstest import *  # noqa: E402,F401,F403
from test_badinput import capture_flight  # noqa: E402

SSCTL = os.path.join(BUILD, "ssctl")
TMP = tempfile.mkdtemp(prefix="ssbpf-observe.")
os.chmod(TMP, 0o755)  # only the sockets' own modes keep others out
SYS_PYTHON = "/usr/bin/python3"  # Debian's, where python3-prometheus-client lives


def ctl(sock, *args, user=None):
    cmd = [SSCTL, "-s", sock] + list(args)
    if user:
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=15)


def conns(sock):
    r = ctl(sock, "conns", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["connections"]


def stats(sock):
    r = ctl(sock, "stats", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def observed_pair(extra_srv=(), extra_loc=()):
    ss, ls = os.path.join(TMP, "srv-%d.sock" % free_port()), os.path.join(TMP, "loc-%d.sock" % free_port())
    srv, loc, lp = pair(server_extra=["--ctl-socket", ss] + list(extra_srv),
                        local_extra=["--ctl-socket", ls] + list(extra_loc))
    wait_until(lambda: os.path.exists(ss) and os.path.exists(ls), 5, "the control sockets")
    return srv, loc, lp, ss, ls


def slow_source(size, rate):
    """A target that sends size bytes at about rate bytes/s, then closes."""
    def handler(sock):
        chunk, sent = 64 << 10, 0
        while sent < size:
            sock.sendall(b"\0" * min(chunk, size - sent))
            sent += chunk
            time.sleep(chunk / rate)
    return Server(handler)


def test_conns_shows_a_running_download_in_stream_and_kill_ends_it():
    src = slow_source(32 << 20, 8 << 20)
    srv, loc, lp, ss, ls = observed_pair(["--workers", "2"], ["--workers", "2"])
    s, rep = socks_connect(lp, "127.0.0.1", src.port)
    assert rep == 0
    got = []
    t = threading.Thread(target=lambda: got.append(len(read_to_end(s, timeout=30)[0])))
    t.start()
    time.sleep(0.8)
    for sock, role in ((ss, "ssserver"), (ls, "sslocal")):
        rows = [c for c in conns(sock) if c["stage"] == "STREAM"]
        assert len(rows) == 1, (role, rows)
        first = rows[0]
        assert first["tier_up"] in ("userspace", "splice", "sockmap") and first["tier_down"], first
        assert first["client"].startswith("127.0.0.1:") and "127.0.0.1" in first["target"], first
        time.sleep(0.6)
        later = [c for c in conns(sock) if c["id"] == first["id"]][0]
        assert later["bytes_down"] > first["bytes_down"] > 0, (role, first, later)
        assert later["age_s"] >= first["age_s"]
    table = ctl(ss, "conns")
    assert table.returncode == 0 and "STREAM" in table.stdout and "TIER" in table.stdout, table.stdout
    assert ctl(ss, "conns", "--stage", "DNS").stdout.count("\n") == 1  # the header only
    victim = [c for c in conns(ss) if c["stage"] == "STREAM"][0]
    r = ctl(ss, "kill", str(victim["id"]))
    assert r.returncode == 0, r.stderr
    t.join(15)
    assert got and got[0] < 32 << 20, "the client saw the close before the end: %s" % got
    wait_until(lambda: "ssctl kill %d, asked by uid 0" % victim["id"] in srv.log_text(), 5,
               "the kill and who asked in the log")
    assert ctl(ss, "kill", "999999").returncode == 1


def test_probe_and_replay_are_counted_with_their_reason():
    echo = Server(echo_handler)
    srv, loc, lp, ss, ls = observed_pair(["--handshake-timeout", "1"])
    port = int(srv.args[srv.args.index("-p") + 1])
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(os.urandom(77))
    assert closed_within(s, 5)
    flight = capture_flight(echo.port, b"hello")
    first = socket.create_connection(("127.0.0.1", port))
    first.sendall(flight)
    assert recv_exact(first, 32)  # the original is served
    again = socket.create_connection(("127.0.0.1", port))
    again.sendall(flight)
    assert closed_within(again, 5)  # the replay is not
    first.close()
    st = stats(ss)
    fails = st["handshake_failures"]
    assert fails["authentication"] >= 1 and fails["replay"] >= 1, fails
    assert {"cache_hits", "cache_misses", "cache_entries"} <= set(st["dns"]), st["dns"]
    assert "sockmap_sockets" in st["bpf"] and 0 <= st["replay_filter_fill"] < 1, st


def metrics_text(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = read_to_end(s)[0]
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()


def test_metrics_parse_pass_promtool_and_match_the_traffic():
    mp = free_port()
    echo = Server(echo_handler)
    srv, loc, lp, ss, ls = observed_pair(["--metrics", "127.0.0.1:%d" % mp, "--workers", "2"])
    wait_port(mp)
    data = os.urandom(1 << 20)
    for _ in range(3):
        assert socks_echo(lp, "127.0.0.1", echo.port, data) == data
    text = metrics_text(mp)
    chk = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    parse = subprocess.run([SYS_PYTHON, "-c", """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.setdefault(s.name, []).append([s.labels, s.value])
print(json.dumps(out))
"""], input=text, capture_output=True, text=True)
    assert parse.returncode == 0, parse.stderr
    m = json.loads(parse.stdout)
    up = sum(v for lab, v in m["ssbpf_relayed_bytes_total"] if lab["direction"] == "up")
    assert up >= 3 << 20, up
    assert sum(v for _, v in m["ssbpf_connections_opened_total"]) >= 3
    assert any(lab.get("port") for lab, v in m["ssbpf_port_bytes_total"])
    assert m["ssbpf_connection_duration_seconds_count"][0][1] >= 3
    # The Grafana dashboard queries only what is served.
    with open(os.path.join(ROOT, "dist", "grafana", "ssbpf.json")) as f:
        board = json.load(f)
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = set(re.findall(r"(?:ssbpf|process)_[a-z_]+", " ".join(exprs)))
    # Provisioned from a file, not only imported by hand: a datasource variable, no __inputs.
    assert "__inputs" not in board and "DS_PROMETHEUS" not in json.dumps(board)
    assert any(v["type"] == "datasource" for v in board["templating"]["list"])
    assert {"ssbpf_port_bytes_total", "ssbpf_user_bytes_total", "process_cpu_seconds_total"} <= used, used
    assert len(board["panels"]) >= 4 and used, used
    for name in used:
        family = name[:-len("_bucket")] if name.endswith("_bucket") else name
        assert "# TYPE %s " % family in text, name
    # Anything else: 404; garbage: 400; a silent client is closed at 5 s.
    for req, code in ((b"GET / HTTP/1.1\r\n\r\n", b"404"), (b"\x16\x03\x01garbage\r\n\r\n", b"400"),
                      (b"POST /metrics HTTP/1.1\r\n\r\n", b"404")):
        s = socket.create_connection(("127.0.0.1", mp), timeout=5)
        s.sendall(req)
        assert read_to_end(s)[0].split(b" ")[1] == code, req
    lazy = socket.create_connection(("127.0.0.1", mp), timeout=10)
    lazy.sendall(b"GET /metr")
    t0 = time.time()
    assert closed_within(lazy, 8) and time.time() - t0 >= 3
    assert metrics_text(mp)  # still serving


def test_top_shows_the_live_connection_under_tmux():
    src = slow_source(16 << 20, 2 << 20)
    srv, loc, lp, ss, ls = observed_pair()
    s, rep = socks_connect(lp, "127.0.0.1", src.port)
    assert rep == 0
    threading.Thread(target=lambda: read_to_end(s, timeout=30), daemon=True).start()
    name = "ssbpf-top-%d" % os.getpid()
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "200", "-y", "50", SSCTL, "-s", ss, "top"],
                   check=True)
    try:
        target = "127.0.0.1:%d" % src.port
        wait_until(lambda: target in subprocess.run(["tmux", "capture-pane", "-p", "-t", name],
                                                     capture_output=True, text=True).stdout, 3,
                   "ssctl top to show the live connection")
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
        assert "live by stage" in screen and "STREAM" in screen.split(target)[0].splitlines()[-1] + \
            screen.split(target)[1].splitlines()[0], screen
        subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=True)
        wait_until(lambda: subprocess.run(["tmux", "has-session", "-t", name],
                                          capture_output=True).returncode != 0, 5, "q to quit top")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    s.close()


def test_only_the_daemons_user_and_root_reach_the_socket():
    srv, loc, lp, ss, ls = observed_pair()
    mode = os.stat(ss).st_mode & 0o777
    assert mode == 0o600, oct(mode)
    r = ctl(ss, "stats", user="nobody")
    assert r.returncode == 1 and "Permission denied" in r.stderr, (r.returncode, r.stderr)
    assert ctl(ss, "stats").returncode == 0
    # --user: the socket belongs to that user, who can use it.
    # With one worker too (it drops privileges itself), and at the default path.
    for workers, us in (("2", os.path.join(TMP, "as-nobody.sock")), ("1", None)):
        sp = free_port()
        srv = ssserver(sp, extra=["-a", "nobody", "--workers", workers] +
                       (["--ctl-socket", us] if us else []))
        us = us or "/run/ssbpf/ssserver-%d.sock" % sp
        wait_until(lambda: os.path.exists(us), 5, "the socket")
        assert os.stat(us).st_uid == 65534 and os.stat(us).st_mode & 0o777 == 0o600
        assert ctl(us, "stats", user="nobody").returncode == 0, srv.log_text()
        assert "ssctl cannot reach" not in srv.log_text()
    # Errors: no such socket, and one that does not answer.
    r = ctl(os.path.join(TMP, "none.sock"), "stats")
    assert r.returncode == 1 and "No such file" in r.stderr
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mp = os.path.join(TMP, "mute.sock")
    mute.bind(mp)
    mute.listen()
    t0 = time.time()
    r = ctl(mp, "stats")
    assert r.returncode == 1 and "no answer within 2 s" in r.stderr and time.time() - t0 < 6, r.stderr
    mute.close()


def test_ssmanager_has_a_control_socket_too():
    path = os.path.join(TMP, "mgr-ctl.sock")
    mp = free_port(socket.SOCK_DGRAM)
    start([os.path.join(BUILD, "ssmanager"), "--manager-address", "127.0.0.1:%d" % mp, "-m", "aes-256-gcm",
           "--ctl-socket", path])
    wait_until(lambda: os.path.exists(path), 5, "the manager's socket")
    st = stats(path)
    assert st["program"] == "ssmanager" and st["traffic"] == {}, st


if __name__ == "__main__":
    sys.exit(run_tests([
        test_conns_shows_a_running_download_in_stream_and_kill_ends_it,
        test_probe_and_replay_are_counted_with_their_reason,
        test_metrics_parse_pass_promtool_and_match_the_traffic,
        test_top_shows_the_live_connection_under_tmux,
        test_only_the_daemons_user_and_root_reach_the_socket,
        test_ssmanager_has_a_control_socket_too,
    ], "observe"))
