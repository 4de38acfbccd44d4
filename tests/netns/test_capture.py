# SPDX-License-Identifier: MIT
"""Capture by cgroup (sslocal redir --capture): a container egress node made of
namespaces and cgroup v2 directories that the test creates and removes. node
runs sslocal with its default workers; wan runs ssserver and the targets (an
HTTP server, a TCP hash/echo server, a UDP echo and a DNS responder on
addresses only wan has); three "containers", each a network namespace plus a
cgroup: c1 and c2 with a veth to node and a default route through it (node
forwards, so a connection that escaped capture would reach the targets with
the container's own address), c3 with nothing but lo. Applications have no
proxy setting: their connects and sends are captured in the kernel."""
import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403
from cgroup2 import make as cgroup2_make, remove as cgroup2_remove  # noqa: E402
from capture_peers import DNS_SERVER, HOLD, SHORT, TCP_SERVER, UDP_CLIENT, UDP_ECHO, UPLOAD  # noqa: E402

TAG = "k%d" % (os.getpid() % 100000)
NODE, WAN = "node" + TAG, "wan" + TAG
CONTAINERS = ("c1" + TAG, "c2" + TAG, "c3" + TAG)
C1, C2, C3 = CONTAINERS
PORT = 1234          # the capture port (local_port)
SS_PORT = 8388
USERS_PORT = 8389
METRICS_PORT = 9466
HTTP_PORT, TCP_PORT, ECHO_PORT, DNS_PORT = 8080, 9000, 7, 53
T4, T6, X4 = "10.79.9.9", "fd79:9::9", "10.79.9.10"
WAN_SIDE = ("10.79.9.9", "10.79.9.10", "10.79.2.2", "fd79:9::9", "fd79:2::2")
FILE_MB = int(os.environ.get("SSBPF_CAPTURE_MB", "64"))
SSCTL = os.path.join(BUILD, "ssctl")
CTL = os.path.join(LOGDIR, "capture.sock")
ADDR = {C1: "10.79.1.2", C2: "10.79.3.2"}
CG = {}              # container -> its cgroup directory
CG_ROOT = None
_mounted = False

def sh(*args, check=True):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode:
        raise AssertionError("%s: %s" % (" ".join(args), r.stdout))
    return r.stdout


def in_container(c, *args, cgroup=None):
    """The argv that runs args as a process of container c: its cgroup (or one below it),
    then its namespace."""
    return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup or CG[c], "ip", "netns", "exec",
            c] + list(args)


def run_in(c, *args, check=True, timeout=300, cgroup=None):
    r = subprocess.run(in_container(c, *args, cgroup=cgroup), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and r.returncode:
        raise AssertionError("in %s: %s: %s %s" % (c, " ".join(args), r.stdout, r.stderr))
    return r


def topology_up():
    topology_down()
    for n in (NODE, WAN) + CONTAINERS:
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
    sh("ip", "link", "add", "w" + TAG, "netns", WAN, "type", "veth", "peer", "name", "nw" + TAG, "netns", NODE)
    links = [(WAN, "w" + TAG, ("10.79.2.2/24", "fd79:2::2/64")), (NODE, "nw" + TAG, ("10.79.2.1/24", "fd79:2::1/64"))]
    for c, net in ((C1, "10.79.1"), (C2, "10.79.3")):
        sh("ip", "link", "add", "v" + c, "netns", c, "type", "veth", "peer", "name", "n" + c, "netns", NODE)
        links += [(c, "v" + c, (net + ".2/24",)), (NODE, "n" + c, (net + ".1/24",))]
    for n, name, addrs in links:
        for a in addrs:
            sh("ip", "-n", n, "addr", "add", a, "dev", name, "nodad")
        sh("ip", "-n", n, "link", "set", name, "up")
    for c, net in ((C1, "10.79.1"), (C2, "10.79.3")):
        sh("ip", "-n", c, "route", "add", "default", "via", net + ".1")
        sh("ip", "-n", WAN, "route", "add", net + ".0/24", "via", "10.79.2.1")
    for a in (T4 + "/32", X4 + "/32", T6 + "/128"):
        sh("ip", "-n", WAN, "addr", "add", a, "dev", "lo")
    sh("ip", "-n", NODE, "route", "add", "10.79.9.0/24", "via", "10.79.2.2")
    sh("ip", "-n", NODE, "-6", "route", "add", "fd79:9::/64", "via", "fd79:2::2")
    sh("ip", "netns", "exec", NODE, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    # The containers' resolver: ip netns exec puts /etc/netns/NAME/resolv.conf in place.
    for c in CONTAINERS:
        os.makedirs("/etc/netns/" + c, exist_ok=True)
        with open("/etc/netns/%s/resolv.conf" % c, "w") as f:
            f.write("nameserver %s\noptions timeout:2 attempts:1\n" % T4)


def topology_down():
    for n in (NODE, WAN) + CONTAINERS:
        if os.path.exists("/run/netns/" + n):
            for pid in sh("ip", "netns", "pids", n, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            sh("ip", "netns", "del", n, check=False)
        if n in CONTAINERS and os.path.isdir("/etc/netns/" + n):
            os.unlink("/etc/netns/%s/resolv.conf" % n)
            os.rmdir("/etc/netns/" + n)


class Wan:
    """ssserver and the targets in the wan namespace."""

    def __init__(self):
        py = lambda *a: ["ip", "netns", "exec", WAN, sys.executable] + list(a)  # noqa: E731
        self.http = start(py("-m", "http.server", str(HTTP_PORT), "--bind", "::", "--directory", DATADIR),
                          name="http")
        self.tcp = start(py("-c", TCP_SERVER, str(TCP_PORT)), name="tcpserver")
        self.echo = start(py("-c", UDP_ECHO, str(ECHO_PORT)), name="udpecho")
        self.dns = start(py("-c", DNS_SERVER, T4), name="dns")
        self.srv = start(["ip", "netns", "exec", WAN, os.path.join(BUILD, "ssserver"), "-s", "::", "-p",
                          str(SS_PORT), "-k", "cap-pw", "-m", "chacha20-ietf-poly1305", "-u", "--allow-private",
                          "-v"], name="ssserver")
        for p in (self.tcp, self.echo, self.dns):
            wait_until(lambda: "listening" in p.log_text() or p.poll() is not None, what="a wan server")
        wait_until(lambda: "Serving HTTP" in self.http.log_text(), what="http server")
        wait_until(lambda: "ssserver ready" in self.srv.log_text(), what="ssserver")

    def http_peers(self):
        return re.findall(r"^(\S+) - - \[", self.http.log_text(), re.M)


def start_node(capture=(C1, C3), extra=(), upstreams=None, binary=None):
    """sslocal redir in node with its default workers, capturing the given containers
    (upstreams: a container's own server keys, as in an entry of servers)."""
    path = os.path.join(LOGDIR, "capture.json")
    entries = [dict({"cgroup": CG[c], "netns": "/run/netns/" + c}, **(upstreams or {}).get(c, {}))
               for c in capture]
    with open(path, "w") as f:
        json.dump({"server": "10.79.2.2", "server_port": SS_PORT, "password": "cap-pw",
                   "method": "chacha20-ietf-poly1305", "protocol": "redir", "local_port": PORT,
                   "mode": "tcp_and_udp", "ctl_socket": CTL, "exclude": [X4], "capture": entries}, f)
    # nsenter, not ip netns exec: that one mounts a /sys of its own, without the cgroup2 tree.
    node = start(["nsenter", "--net=/run/netns/" + NODE, binary or os.path.join(BUILD, "sslocal"), "-c", path, "-v"]
                 + list(extra), name="sslocal", default_workers=True)
    wait_until(lambda: "sslocal ready" in node.log_text() or node.poll() is not None, what="sslocal ready")
    assert node.poll() is None, node.log_text()[-3000:]
    return node


def ssctl(*args, check=True):
    r = subprocess.run([SSCTL, "-s", CTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if check and r.returncode:
        raise AssertionError("ssctl %s: %s" % (" ".join(args), r.stdout))
    return r.stdout


def curl_in(c, host, path="small.txt", timeout=120):
    url = "http://%s:%d/%s" % ("[%s]" % host if ":" in host else host, HTTP_PORT, path)
    r = subprocess.run(in_container(c, "curl", "-sS", "-g", "-m", str(timeout), url), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def udp_in(c, host, n=100, connected=False):
    out = run_in(c, sys.executable, "-c", UDP_CLIENT, host, str(ECHO_PORT), str(n), "c" if connected else "u").stdout
    m = re.match(r"ok=(\d+) peers=(\S*) sources=(\S*) getpeername=(\S+)", out)
    assert m, out
    return int(m.group(1)), m.group(2).split(","), m.group(3).split(","), m.group(4)


def wan_side(peers):
    return peers and all(p.replace("::ffff:", "") in WAN_SIDE for p in peers)


def capture_stats():
    return json.loads(ssctl("stats", "--json"))["capture"]


def check_captured_http(wan, c, host, digest=None, path="small.txt"):
    before = len(wan.http_peers())
    t0 = time.time()
    rc, body, err = curl_in(c, host, path)
    dt = time.time() - t0
    assert rc == 0, (c, host, err)
    if digest:
        assert hashlib.sha256(body).hexdigest() == digest, (c, len(body))
        print("%s: %d MiB from %s in %.2fs" % (c, FILE_MB, host, dt))
    else:
        assert body == b"small\n", body
    peers = wan.http_peers()[before:]
    assert wan_side(peers), (c, peers)


def test_containers_download_upload_and_see_their_cgroup():
    wan, node = Wan(), start_node()
    for c in (C1, C3):
        check_captured_http(wan, c, T4, DIGEST, "data.bin")
        out = run_in(c, sys.executable, "-c", UPLOAD, T4, str(TCP_PORT), str(FILE_MB)).stdout
        m = re.match(r"sent=(\w+) got=(\w+) peer=(\S+)", out)
        assert m and m.group(1) == m.group(2), out
        assert m.group(3) in WAN_SIDE, out
    # A live connection in ssctl conns: the container's cgroup (its directory's inode) and namespace.
    hold = subprocess.Popen(in_container(C1, sys.executable, "-c", HOLD, T4, str(TCP_PORT), "30"),
                            stdout=subprocess.PIPE, text=True)
    try:
        line = hold.stdout.readline()
        # getpeername shows the application the address it connected to, not the slot's.
        assert line.startswith("peer=") and "peername=%s" % T4 in line, line
        conns = json.loads(ssctl("conns", "--json"))["connections"]
        mine = [x for x in conns if x.get("target", "").startswith(T4)]
        assert mine and mine[0]["cgroup"] == os.stat(CG[C1]).st_ino, conns
        assert mine[0]["netns"] > 0, mine
    finally:
        hold.kill()
        hold.wait()
    # Worker 0 publishes the BPF counts every second.
    wait_until(lambda: capture_stats()["tcp"] >= 5, what="captured connects counted")
    listed = {e["cgroup"]: e for e in json.loads(ssctl("capture", "list", "--json"))["capture"]}
    assert set(listed) == {CG[C1], CG[C3]} and listed[CG[C1]]["tcp"] >= 3, listed
    assert node.poll() is None


def test_200_short_connections_and_ipv6():
    wan, node = Wan(), start_node()
    out = run_in(C1, sys.executable, "-c", SHORT, T4, str(TCP_PORT), "200").stdout
    m = re.match(r"ok=(\d+) peers=(\S*)", out)
    assert m and m.group(1) == "200", out
    assert wan_side([p.replace("peer=", "") for p in m.group(2).split(",")]), out
    # IPv6 from a container with a veth and from one with nothing but lo (no IPv6 route at all).
    for c in (C1, C3):
        check_captured_http(wan, c, T6)
        ok, peers, sources, gp = udp_in(c, T6, n=20, connected=True)
        assert ok == 20 and wan_side(peers), (c, ok, peers)
        assert sources == ["%s:%d" % (T6, ECHO_PORT)] and gp == T6, (sources, gp)
    assert node.poll() is None


def test_udp_datagrams_and_dns():
    wan, node = Wan(), start_node()
    for c in (C1, C3):
        for connected in (False, True):
            ok, peers, sources, gp = udp_in(c, T4, n=100, connected=connected)
            assert ok == 100, (c, connected, ok)
            assert wan_side(peers), (c, peers)
            # Replies come from the address the application sent to (recvmsg shows it, not the slot).
            assert sources == ["%s:%d" % (T4, ECHO_PORT)], sources
        # The C library's resolver (resolv.conf names T4): its query goes through the server.
        r = run_in(c, "getent", "hosts", "web.test", check=False)
        assert r.returncode == 0 and r.stdout.split()[0] == T4, (c, r.stdout, r.stderr)
    askers = re.findall(r"query from (\S+)", wan.dns.log_text())
    assert askers and all(a in WAN_SIDE for a in askers), askers
    wait_until(lambda: capture_stats()["udp"] >= 200, what="captured sends counted (each unconnected datagram, a connect)")
    assert node.poll() is None


def test_outside_the_cgroups_and_excluded_stay_direct():
    wan, node = Wan(), start_node()
    # node's own process (not in a captured cgroup) reaches the target by routing: its own address.
    before = len(wan.http_peers())
    out = sh("ip", "netns", "exec", NODE, "curl", "-sS", "-m", "20", "http://%s:%d/small.txt" % (T4, HTTP_PORT))
    assert out == "small\n", out
    assert wan.http_peers()[before:] == ["::ffff:10.79.2.1"], wan.http_peers()[before:]
    # An excluded destination: the container's connect is left alone and routed (its own address).
    accepted = json.loads(ssctl("stats", "--json"))["connections"]["accepted"]
    before = len(wan.http_peers())
    rc, body, err = curl_in(C1, X4)
    assert rc == 0 and body == b"small\n", err
    assert wan.http_peers()[before:] == ["::ffff:" + ADDR[C1]], wan.http_peers()[before:]
    # The lo-only container has no way to an excluded destination.
    rc, body, err = curl_in(C3, X4, timeout=5)
    assert rc != 0
    wait_until(lambda: capture_stats()["direct"] >= 2, what="direct connects counted")
    stats = json.loads(ssctl("stats", "--json"))
    assert stats["connections"]["accepted"] == accepted, stats["connections"]
    assert node.poll() is None


def test_capture_add_and_del_at_run_time():
    for extra in ((), ("--workers", "1")):   # a tree of workers, and a lone worker
        add_and_del(extra)
        stop_all()


def add_and_del(extra):
    wan, node = Wan(), start_node(extra=extra)
    # Not captured yet: c2 is routed through node with its own address.
    before = len(wan.http_peers())
    assert curl_in(C2, T4)[0] == 0
    assert wan.http_peers()[before:] == ["::ffff:" + ADDR[C2]], wan.http_peers()[before:]
    t0 = time.time()
    assert "capturing" in ssctl("capture", "add", "--cgroup", CG[C2], "--netns", "/run/netns/" + C2)
    check_captured_http(wan, C2, T4)
    assert time.time() - t0 < 1.0, time.time() - t0
    ok, peers, sources, gp = udp_in(C2, T4, n=20)
    assert ok == 20 and wan_side(peers), (ok, peers)
    assert CG[C2] in ssctl("capture", "list")
    # Adding it twice is refused and changes nothing.
    assert "captured already" in ssctl("capture", "add", "--cgroup", CG[C2], "--netns", "/run/netns/" + C2,
                                       check=False)
    held = sh("ip", "netns", "exec", C2, "ss", "-Htlnu", "sport", "= :%d" % PORT)
    assert held.count("LISTEN") >= 1, held
    assert "released" in ssctl("capture", "del", "--cgroup", CG[C2])
    # Released: routed again, and the daemon holds no socket in c2's namespace.
    before = len(wan.http_peers())
    assert curl_in(C2, T4)[0] == 0
    assert wan.http_peers()[before:] == ["::ffff:" + ADDR[C2]], wan.http_peers()[before:]
    assert sh("ip", "netns", "exec", C2, "ss", "-Htlnu", "sport", "= :%d" % PORT).strip() == ""
    assert CG[C2] not in ssctl("capture", "list")
    assert "not captured" in ssctl("capture", "del", "--cgroup", CG[C2], check=False)
    assert "absolute" in ssctl("capture", "add", "--cgroup", "relative/path", check=False)
    assert node.poll() is None


def test_daemon_in_its_own_captured_cgroup_and_namespace():
    """A capture entry without a namespace (the daemon's own), whose cgroup holds sslocal
    itself: node's processes there are captured, the daemon's own sockets never are."""
    cg = os.path.join(CG_ROOT, "ssbpf-node-%d" % os.getpid())
    os.mkdir(cg)
    try:
        wan = Wan()
        path = os.path.join(LOGDIR, "own.json")
        with open(path, "w") as f:
            json.dump({"server": "10.79.2.2", "server_port": SS_PORT, "password": "cap-pw",
                       "method": "chacha20-ietf-poly1305", "protocol": "redir", "local_port": PORT,
                       "ctl_socket": CTL, "capture": cg}, f)
        node = start(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, "nsenter",
                      "--net=/run/netns/" + NODE, os.path.join(BUILD, "sslocal"), "-c", path],
                     name="sslocal-own", default_workers=True)
        wait_until(lambda: "sslocal ready" in node.log_text() or node.poll() is not None, what="ready")
        before = len(wan.http_peers())
        r = subprocess.run(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, "nsenter",
                            "--net=/run/netns/" + NODE, "curl", "-sS", "-m", "20",
                            "http://%s:%d/small.txt" % (T4, HTTP_PORT)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        assert r.returncode == 0 and r.stdout == "small\n", r.stderr
        # Through ssserver (not node's own address 10.79.2.1, which routing would show).
        assert wan_side(wan.http_peers()[before:]), wan.http_peers()[before:]
        wait_until(lambda: capture_stats()["tcp"] >= 1, what="the node process's connect captured")
        assert json.loads(ssctl("stats", "--json"))["connections"]["accepted"] >= 1
        node.stop()
    finally:
        stop_all()
        cgroup2_remove(CG_ROOT, cg, False)


def users_server(method, ipsk, users):
    """A SIP022/SIP023 ssserver in wan with users (name -> uPSK) on USERS_PORT."""
    path = os.path.join(LOGDIR, "users.json")
    with open(path, "w") as f:
        json.dump({"server": "::", "server_port": USERS_PORT, "method": method, "password": b64(ipsk),
                   "users": [{"name": n, "password": b64(k)} for n, k in users.items()]}, f)
    # Two workers: the parent logs each user's bytes on SIGUSR1.
    srv = start(["ip", "netns", "exec", WAN, os.path.join(BUILD, "ssserver"), "-c", path, "-u",
                 "--allow-private", "--workers", "2", "--ctl-socket", "off"], name="ssserver-users")
    wait_until(lambda: "ssserver ready" in srv.log_text(), what="users ssserver")
    return srv


def user_bytes(srv):
    srv.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"user \d+/(\w+): (\d+) bytes", srv.log_text())}


def b64(k):
    return base64.b64encode(k).decode()


def test_each_container_its_own_sip022_user():
    method = "2022-blake3-aes-128-gcm"
    ipsk = os.urandom(16)
    users = {"alice": os.urandom(16), "bob": os.urandom(16)}
    wan, srv = Wan(), users_server(method, ipsk, users)
    key = lambda name: "%s:%s" % (b64(ipsk), b64(users[name]))  # noqa: E731
    node = start_node(capture=(C1,), upstreams={C1: {"server": "10.79.2.2", "server_port": USERS_PORT,
                                                     "method": method, "password": key("alice")}},
                      extra=("--metrics", "127.0.0.1:%d" % METRICS_PORT))
    # bob's container joins at run time with its own server URL (SIP002, userinfo percent-encoded).
    url = "ss://%s:%s@10.79.2.2:%d" % (method, urllib.parse.quote(key("bob"), safe=""), USERS_PORT)
    ssctl("capture", "add", "--cgroup", CG[C2], "--netns", "/run/netns/" + C2, "--server-url", url)
    listed = {e["cgroup"]: e for e in json.loads(ssctl("capture", "list", "--json"))["capture"]}
    assert listed[CG[C2]]["upstream_port"] == USERS_PORT, listed
    sizes = {C1: ("alice", 3), C2: ("bob", 1)}
    # alice's upload runs in a cgroup below the captured one (as a runtime nests its processes).
    inner = os.path.join(CG[C1], "inner")
    os.makedirs(inner, exist_ok=True)
    for c, (name, mb) in sizes.items():
        out = run_in(c, sys.executable, "-c", UPLOAD, T4, str(TCP_PORT), str(mb),
                     cgroup=inner if c == C1 else None).stdout
        m = re.match(r"sent=(\w+) got=(\w+) peer=(\S+)", out)
        assert m and m.group(1) == m.group(2), out
        ok, peers, sources, gp = udp_in(c, T4, n=20)
        assert ok == 20 and wan_side(peers), (c, ok, peers)
    got = user_bytes(srv)
    for c, (name, mb) in sizes.items():
        assert got, srv.log_text()[-3000:]
        assert (mb << 20) <= got.get(name, 0) < (mb << 20) + (256 << 10), (name, got)
    # The client counts the same bytes per capture entry: ssctl stats and /metrics.
    entries = {e["cgroup"]: e for e in json.loads(ssctl("stats", "--json"))["capture_entries"]}
    metrics = subprocess.run(["ip", "netns", "exec", NODE, "curl", "-sS", "http://127.0.0.1:%d/metrics" % METRICS_PORT],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
    for c, (name, mb) in sizes.items():
        e = entries[CG[c]]
        print("%s: entry up %d down %d, server counts %d for %s" % (c, e["bytes_up"], e["bytes_down"], got[name], name))
        assert (mb << 20) <= e["bytes_up"] < (mb << 20) + (64 << 10), (c, e)
        assert abs(e["bytes_up"] + e["bytes_down"] - got[name]) < (64 << 10), (c, e, got)
        assert e["tcp"] >= 1 and e["udp"] >= 1, e
        m = re.search(r'ssbpf_capture_entry_bytes_total\{cgroup="%s",direction="up"\} (\d+)' % re.escape(CG[c]),
                      metrics)
        assert m and int(m.group(1)) >= e["bytes_up"], metrics[-2000:]
    # The daemon's own server saw none of it.
    wan.srv.send_signal(signal.SIGUSR1)
    wait_until(lambda: "connections accepted" in wan.srv.log_text(), what="ssserver's counters")
    assert re.search(r"\b0 connections accepted", wan.srv.log_text()), wan.srv.log_text()[-2000:]
    listed = {e["cgroup"]: e for e in json.loads(ssctl("capture", "list", "--json"))["capture"]}
    assert listed[CG[C1]]["tcp"] >= 1, listed   # counted as the entry's, from below it
    # A bad upstream is refused with a reason, and changes nothing.
    out = ssctl("capture", "add", "--cgroup", CG[C3], "--netns", "/run/netns/" + C3, "--server-url",
                "ss://bad", check=False)
    assert "error" in out.lower() or "ssctl:" in out, out
    assert CG[C3] not in ssctl("capture", "list")
    assert node.poll() is None


def test_sanitizer_build_through_capture():
    """The ASan+UBSan+LSan sslocal: captured TCP and UDP, a direct connection to a capture
    listener (refused), a run-time add with its own upstream and a del, then a clean exit."""
    asan = os.path.join(BUILD, "asan", "sslocal")
    os.environ["ASAN_OPTIONS"] = "detect_leaks=1:exitcode=23:halt_on_error=1"
    os.environ["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    wan, node = Wan(), start_node(binary=asan)
    check_captured_http(wan, C3, T4)
    out = run_in(C1, sys.executable, "-c", UPLOAD, T4, str(TCP_PORT), "4").stdout
    assert re.match(r"sent=(\w+) got=\1 ", out), out
    ok, peers, sources, gp = udp_in(C3, T4, n=20)
    assert ok == 20, ok
    # Straight to the capture port inside a container: not a captured connection, closed.
    r = run_in(C3, "curl", "-sS", "-m", "5", "http://127.0.0.1:%d/" % PORT, check=False)
    assert r.returncode != 0
    url = "ss://chacha20-ietf-poly1305:cap-pw@10.79.2.2:%d" % SS_PORT
    ssctl("capture", "add", "--cgroup", CG[C2], "--netns", "/run/netns/" + C2, "--server-url", url)
    check_captured_http(wan, C2, T4)
    ssctl("capture", "del", "--cgroup", CG[C2])
    assert node.stop(signal.SIGTERM) == 0, node.log_text()[-3000:]
    log = node.log_text()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
    assert "not a captured connection" in log, log[-3000:]


def kernel_state():
    """What the namespaces hold of rules and routes: nothing of it may change."""
    state = {}
    for n in (NODE, WAN) + CONTAINERS:
        state[n] = (sh("ip", "netns", "exec", n, "nft", "list", "ruleset"),
                    sh("ip", "-n", n, "rule"), sh("ip", "-n", n, "-6", "rule"),
                    sh("ip", "-n", n, "route", "show", "table", "all"),
                    sh("ip", "-n", n, "-6", "route", "show", "table", "all"))
    return state


def ours_attached():
    """Programs attached to the test's cgroups (bpftool cgroup tree)."""
    out = sh("bpftool", "cgroup", "tree", CG_ROOT, check=False)
    return [l for l in out.splitlines() if re.search(r"\bcap_\w+", l)]


def test_no_rule_or_route_and_nothing_left_after_sigkill():
    before = kernel_state()
    wan, node = Wan(), start_node()
    check_captured_http(wan, C3, T4)
    assert kernel_state() == before
    attached = ours_attached()
    assert len(attached) >= 16, attached   # 8 programs on each of two cgroups
    pids = [node.pid] + node.descendants()
    node.stop(signal.SIGKILL)
    for p in pids:
        wait_until(lambda: not os.path.exists("/proc/%d" % p), what="pid %d gone" % p)
    wait_until(lambda: not ours_attached(), timeout=5, what="links gone with the daemon")
    assert kernel_state() == before
    assert not sh("bpftool", "prog", "show").count("cap_connect4")
    # While no daemon runs, the lo-only container has no way out at all.
    rc, _, _ = curl_in(C3, T4, timeout=5)
    assert rc != 0


def test_sigterm_detaches():
    wan, node = Wan(), start_node()
    assert ours_attached()
    assert node.stop(signal.SIGTERM) == 0
    wait_until(lambda: not ours_attached(), timeout=5, what="links gone after SIGTERM")


def setup():
    global CG_ROOT, _mounted, DATADIR, DIGEST
    topology_up()
    CG_ROOT, first, _mounted = cgroup2_make("cap1")
    CG[C1] = first
    for c in (C2, C3):
        CG[c] = os.path.join(CG_ROOT, "ssbpf-%s-%d" % (c, os.getpid()))
        os.mkdir(CG[c])
    DATADIR = os.path.join(LOGDIR, "capdata")
    os.makedirs(DATADIR, exist_ok=True)
    DIGEST = sha256_file(random_file(FILE_MB << 20, os.path.join("capdata", "data.bin")))
    with open(os.path.join(DATADIR, "small.txt"), "w") as f:
        f.write("small\n")


def teardown():
    topology_down()
    for c in (C2, C3):
        if c in CG and os.path.isdir(CG[c]):
            cgroup2_remove(CG_ROOT, CG[c], False)
    if C1 in CG:
        if os.path.isdir(os.path.join(CG[C1], "inner")):
            cgroup2_remove(CG_ROOT, os.path.join(CG[C1], "inner"), False)
        cgroup2_remove(CG_ROOT, CG[C1], _mounted)


if __name__ == "__main__":
    TESTS = [test_containers_download_upload_and_see_their_cgroup, test_200_short_connections_and_ipv6,
             test_udp_datagrams_and_dns, test_outside_the_cgroups_and_excluded_stay_direct,
             test_capture_add_and_del_at_run_time, test_each_container_its_own_sip022_user,
             test_daemon_in_its_own_captured_cgroup_and_namespace,
             test_sanitizer_build_through_capture, test_no_rule_or_route_and_nothing_left_after_sigkill,
             test_sigterm_detaches]
    rc = 1
    try:
        setup()
        rc = run_tests(TESTS, "capture")
    finally:
        stop_all()
        teardown()
    sys.exit(rc)
