# SPDX-License-Identifier: MIT
"""Transparent proxy gateway across three network namespaces that the test
creates and removes: lan (a client with no proxy settings), gw (sslocal
--mode redir with steering) and wan (ssserver, an HTTP server and a UDP echo
on addresses the gateway does not have). Both steering modes (sk_lookup and
nftables TPROXY) pass the same checks, for IPv4 and IPv6."""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

TAG = "s%d" % (os.getpid() % 100000)
LAN, GW, WAN = "lan" + TAG, "gw" + TAG, "wan" + TAG
REDIR_PORT = 1234
SS_PORT = 8388
HTTP_PORT = 8080
ECHO_PORT = 7
FILE_MB = int(os.environ.get("SSBPF_GW_MB", "64"))
# Steered targets (wan loopback addresses, routed via wan) and excluded ones.
T4, X4 = "10.77.9.9", "10.77.9.10"
T6, X6 = "fd77:9::9", "fd77:9::10"
SERVER4 = "10.77.2.2"
STEER = "10.77.9.0/24,fd77:9::/64"
EXCLUDE = "%s,%s" % (X4, X6)
TABLE = 1461

UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b"peer=" + a[0].replace("::ffff:", "").encode() + b";" + d, a)
"""

UDP_CLIENT = r"""
import os, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(3)
ok, peers, sources = 0, set(), set()
for i in range(n):
    payload = os.urandom(1 + (i * 37) % 1400)
    s.sendto(payload, (host, port))
    try:
        d, a = s.recvfrom(65535)
    except socket.timeout:
        continue
    head, _, body = d.partition(b";")
    peers.add(head.decode().replace("peer=", "", 1))
    sources.add("%s:%d" % (a[0], a[1]))
    ok += body == payload
print("ok=%d peers=%s sources=%s" % (ok, ",".join(sorted(peers)), ",".join(sorted(sources))))
"""


def sh(*args, check=True):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode:
        raise AssertionError("%s: %s" % (" ".join(args), r.stdout))
    return r.stdout


def ns(name, *args, **kw):
    return sh("ip", "netns", "exec", name, *args, **kw)


def topology_up():
    topology_down()
    for n in (LAN, GW, WAN):
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
    sh("ip", "link", "add", "l" + TAG, "netns", LAN, "type", "veth", "peer", "name", "gl" + TAG, "netns", GW)
    sh("ip", "link", "add", "w" + TAG, "netns", WAN, "type", "veth", "peer", "name", "gw" + TAG, "netns", GW)
    for n, dev, addrs in ((LAN, "l", ("10.77.1.2/24", "fd77:1::2/64")),
                          (GW, "gl", ("10.77.1.1/24", "fd77:1::1/64")),
                          (GW, "gw", ("10.77.2.1/24", "fd77:2::1/64")),
                          (WAN, "w", ("10.77.2.2/24", "fd77:2::2/64"))):
        for a in addrs:
            sh("ip", "-n", n, "addr", "add", a, "dev", dev + TAG, "nodad")
        sh("ip", "-n", n, "link", "set", dev + TAG, "up")
    for a in (T4 + "/32", X4 + "/32", T6 + "/128", X6 + "/128"):
        sh("ip", "-n", WAN, "addr", "add", a, "dev", "lo")
    sh("ip", "-n", LAN, "route", "add", "default", "via", "10.77.1.1")
    sh("ip", "-n", LAN, "-6", "route", "add", "default", "via", "fd77:1::1")
    sh("ip", "-n", GW, "route", "add", "10.77.9.0/24", "via", SERVER4)
    sh("ip", "-n", GW, "-6", "route", "add", "fd77:9::/64", "via", "fd77:2::2")
    sh("ip", "-n", WAN, "route", "add", "10.77.1.0/24", "via", "10.77.2.1")
    sh("ip", "-n", WAN, "-6", "route", "add", "fd77:1::/64", "via", "fd77:2::1")
    ns(GW, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns(GW, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")


def topology_down():
    for n in (LAN, GW, WAN):
        if os.path.exists("/run/netns/" + n):
            for pid in sh("ip", "netns", "pids", n, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            sh("ip", "netns", "del", n, check=False)


def wait_log(proc, pattern, timeout=10):
    wait_until(lambda: re.search(pattern, proc.log_text()) or proc.poll() is not None,
               timeout=timeout, what=pattern)
    assert proc.poll() is None, proc.log_text()[-2000:]


class Wan:
    """ssserver plus the targets, all in the wan namespace."""

    def __init__(self, datadir):
        self.datadir = datadir
        self.http = start(["ip", "netns", "exec", WAN, sys.executable, "-m", "http.server",
                           str(HTTP_PORT), "--bind", "::", "--directory", datadir], name="http")
        self.http2 = start(["ip", "netns", "exec", WAN, sys.executable, "-m", "http.server",
                            str(HTTP_PORT + 1), "--bind", "::", "--directory", datadir], name="http2")
        self.echo = start(["ip", "netns", "exec", WAN, sys.executable, "-c", UDP_ECHO, str(ECHO_PORT)],
                          name="udpecho")
        self.start_server()
        for h in (self.http, self.http2):
            wait_until(lambda: "Serving HTTP" in h.log_text(), what="http server")

    def start_server(self):
        self.srv = start(["ip", "netns", "exec", WAN, os.path.join(BUILD, "ssserver"), "-s", "::",
                          "-p", str(SS_PORT), "-k", "gw-pw", "-m", "chacha20-ietf-poly1305", "-u",
                          "--allow-private", "-v", "-v", "--workers", "1"], name="ssserver")
        wait_log(self.srv, "ssserver ready")

    def targets_seen(self):
        return re.findall(r"wants (\S+)", self.srv.log_text())

    def http_peers(self):
        return re.findall(r"^(\S+) - - \[", self.http.log_text(), re.M)


def start_gw(bpf, extra=()):
    """sk_lookup: configured by flags; nftables: by a JSON file with lists."""
    if bpf:
        conf = ["--steer", STEER, "--exclude", EXCLUDE, "--bpf", "on"]
    else:
        path = os.path.join(LOGDIR, "redir.json")
        with open(path, "w") as f:
            json.dump({"protocol": "redir", "steer": STEER.split(","), "exclude": EXCLUDE.split(","),
                       "steer_ports": [HTTP_PORT, ECHO_PORT, "5201"], "bpf": False}, f)
        conf = ["-c", path]
    gw = start(["ip", "netns", "exec", GW, os.path.join(BUILD, "sslocal"), "--mode", "redir",
                "-s", SERVER4, "-p", str(SS_PORT), "-k", "gw-pw", "-m", "chacha20-ietf-poly1305",
                "-l", str(REDIR_PORT), "-u", "--workers", "1", "-v"] + conf + list(extra), name="sslocal")
    # The first worker installs the steering; the line comes once it is in place.
    wait_log(gw, r"steering \(")
    wait_log(gw, "sslocal ready")
    assert ("steering (sk_lookup)" if bpf else "steering (nftables TPROXY)") in gw.log_text(), \
        gw.log_text()[-2000:]
    return gw


def curl_lan(host, path="data.bin", timeout=60, port=HTTP_PORT):
    url = "http://%s:%d/%s" % ("[%s]" % host if ":" in host else host, port, path)
    r = subprocess.run(["ip", "netns", "exec", LAN, "curl", "-sS", "-g", "-m", str(timeout), url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def udp_lan(host, n=200):
    out = ns(LAN, sys.executable, "-c", UDP_CLIENT, host, str(ECHO_PORT), str(n))
    m = re.match(r"ok=(\d+) peers=(\S*) sources=(\S*)", out)
    assert m, out
    return int(m.group(1)), m.group(2).split(","), m.group(3).split(",")


def steering_state():
    """What the gateway namespace holds of ssbpf's steering."""
    rules = [l for l in ns(GW, "ip", "rule").splitlines() + ns(GW, "ip", "-6", "rule").splitlines()
             if re.match(r"146[123]:", l)]
    routes = (ns(GW, "ip", "route", "show", "table", str(TABLE), check=False) +
              ns(GW, "ip", "-6", "route", "show", "table", str(TABLE), check=False)).split("\n")
    nft = ns(GW, "nft", "list", "ruleset")
    # (an empty table is reported as an error: "FIB table does not exist")
    return rules, sorted(r for r in routes if r.startswith(("local", "throw"))), "ssbpf" in nft


def check_clean():
    rules, routes, nft = steering_state()
    assert not rules and not routes and not nft, (rules, routes, nft)


def check_gateway(wan, digest, mode, ports_limited=False):
    """The checks both steering modes must pass."""
    if ports_limited:
        # A port outside steer_ports is routed as usual, even to a steered prefix.
        before_t = len(wan.targets_seen())
        rc, body, err = curl_lan(T4, path="small.txt", port=HTTP_PORT + 1)
        assert rc == 0 and body == b"small\n", err
        assert not any(T4 in s for s in wan.targets_seen()[before_t:])
        assert re.search(r"^(::ffff:)?10\.77\.1\.2 - - ", wan.http2.log_text(), re.M), wan.http2.log_text()
    for target in (T4, T6):
        before_t, before_p = len(wan.targets_seen()), len(wan.http_peers())
        t0 = time.time()
        rc, body, err = curl_lan(target)
        dt = time.time() - t0
        assert rc == 0, (target, err)
        assert hashlib.sha256(body).hexdigest() == digest, (target, len(body))
        print("%s: %d MiB from %s through the gateway in %.2fs (%.2f Gbit/s)" % (
            mode, FILE_MB, target, dt, FILE_MB * 8 * 1.048576 / 1000 / dt))
        # Through ssserver: it logged the target, and the HTTP server saw it, not the LAN client.
        seen = wan.targets_seen()[before_t:]
        assert any(target in s for s in seen), (target, seen)
        peers = wan.http_peers()[before_p:]
        assert peers and not any(p.startswith(("10.77.1.", "fd77:1:", "::ffff:10.77.1.")) for p in peers), peers
        ok, peers, sources = udp_lan(target)
        assert ok == 200, (target, ok)
        # The echo saw ssserver's side, the client saw replies from the real target.
        assert peers and not any(p.startswith(("10.77.1.", "fd77:1:")) for p in peers), peers
        assert sources == ["%s:%d" % (target, ECHO_PORT)], sources
    # Excluded prefixes are routed as usual: the target sees the LAN client itself.
    for target, client in ((X4, "10.77.1.2"), (X6, "fd77:1::2")):
        before_t, before_p = len(wan.targets_seen()), len(wan.http_peers())
        rc, body, err = curl_lan(target, path="small.txt")
        assert rc == 0 and body == b"small\n", (target, err)
        assert not any(target in s for s in wan.targets_seen()[before_t:])
        assert any(client in p for p in wan.http_peers()[before_p:]), wan.http_peers()[before_p:]
        ok, peers, sources = udp_lan(target, n=20)
        assert ok == 20 and peers == [client], (ok, peers)


def iperf_lan(target=T4, seconds=3):
    """One TCP stream wan target -> lan client (iperf3 -R), in Gbit/s."""
    srv = start(["ip", "netns", "exec", WAN, "iperf3", "-s", "-1", "-B", target, "-p", "5201", "--forceflush"],
                name="iperf3")
    wait_until(lambda: "listening" in srv.log_text(), what="iperf3 server")
    out = ns(LAN, "iperf3", "-c", target, "-p", "5201", "-t", str(seconds), "-R", "-J")
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def setup_wan():
    datadir = os.path.join(LOGDIR, "gwdata")
    os.makedirs(datadir, exist_ok=True)
    h = hashlib.sha256()
    with open(os.path.join(datadir, "data.bin"), "wb") as f:
        for _ in range(FILE_MB):
            d = os.urandom(1 << 20)
            h.update(d)
            f.write(d)
    with open(os.path.join(datadir, "small.txt"), "w") as f:
        f.write("small\n")
    return Wan(datadir), h.hexdigest()


def run_mode(bpf):
    mode = "sk_lookup" if bpf else "nftables"
    topology_up()
    try:
        wan, digest = setup_wan()
        check_clean()
        gw = start_gw(bpf)
        rules, routes, nft = steering_state()
        assert routes and rules and nft != bpf, (rules, routes, nft)
        check_gateway(wan, digest, mode, ports_limited=not bpf)
        if bpf:
            # What sk_lookup did, from its own counters (per protocol, per CPU).
            steered = {e["key"]: bpf_percpu_sum(e) for e in bpf_map_dump(gw.pid, "steered")}
            assert steered.get(0, 0) > 0 and steered.get(1, 0) > 0, steered
        print("%s: iperf3, one stream wan -> lan: %.2f Gbit/s through the gateway, %.2f Gbit/s "
              "routed directly (an excluded address)" % (mode, iperf_lan(T4), iperf_lan(X4)))
        # SIGTERM removes every rule, route and table it installed.
        assert gw.stop() == 0
        check_clean()
        # After a crash the leftovers stay until ssctl cleanup, and a new
        # daemon replaces them instead of adding a second set.
        gw = start_gw(bpf)
        gw.stop(signal.SIGKILL)
        left = steering_state()
        assert left[0] and left[1], left
        gw = start_gw(bpf)
        assert steering_state()[0:2] == left[0:2], (steering_state(), left)
        assert "leftover" in gw.log_text(), gw.log_text()[-1500:]
        check_gateway(wan, digest, mode)
        # A live daemon's steering is not a leftover: a second steering daemon
        # in the namespace is refused, and ssctl cleanup leaves it alone.
        state = steering_state()
        second = start(["ip", "netns", "exec", GW, os.path.join(BUILD, "sslocal"), "--mode", "redir",
                        "-s", SERVER4, "-p", str(SS_PORT), "-k", "gw-pw", "-m", "chacha20-ietf-poly1305",
                        "-l", str(REDIR_PORT + 1), "--workers", "1", "--steer", STEER,
                        "--bpf", "on" if bpf else "off"], name="sslocal2")
        assert second.wait(10) != 0
        assert "sslocal pid %d already steers this network namespace" % gw.pid in second.log_text(), \
            second.log_text()[-1500:]
        r = subprocess.run(["ip", "netns", "exec", GW, os.path.join(BUILD, "ssctl"), "cleanup"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 1 and "sslocal pid %d is running and owns the steering" % gw.pid in r.stderr, r
        assert steering_state() == state, (steering_state(), state)
        rc, body, err = curl_lan(T4, path="small.txt")
        assert rc == 0 and body == b"small\n", err
        gw.stop(signal.SIGKILL)
        out = ns(GW, os.path.join(BUILD, "ssctl"), "cleanup")
        assert "removed" in out, out
        check_clean()
        assert "nothing to clean up" in ns(GW, os.path.join(BUILD, "ssctl"), "cleanup")
    finally:
        stop_all()
        topology_down()


def test_steering_with_sk_lookup():
    run_mode(True)


def test_steering_with_nftables_tproxy():
    run_mode(False)


def test_address_added_later_is_excluded():
    """An address the gateway gets after start-up (DHCP, a VPN) inside a
    steered prefix is excluded at once: the LAN reaches the gateway itself."""
    topology_up()
    try:
        wan, digest = setup_wan()
        gw = start_gw(True)
        late = "10.77.9.77"
        ns(GW, "ip", "addr", "add", late + "/32", "dev", "lo")
        wait_log(gw, r"steering: %s/32 is a new address of this host; excluded" % re.escape(late))
        d = os.path.join(LOGDIR, "gwlocal")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "small.txt"), "w") as f:
            f.write("gateway itself\n")
        web = start(["ip", "netns", "exec", GW, sys.executable, "-u", "-m", "http.server", "-b", late,
                     "-d", d, str(HTTP_PORT)], name="gwhttp")
        wait_until(lambda: "Serving HTTP" in web.log_text(), what="http server on the gateway")
        before = len(wan.targets_seen())
        rc, body, err = curl_lan(late, path="small.txt")
        assert rc == 0 and body == b"gateway itself\n", (rc, body, err)
        assert not any(late in t for t in wan.targets_seen()[before:])
        routes = steering_state()[1]
        assert sum(r.split()[:2] == ["throw", late] for r in routes) == 1, routes
        web.stop()
        assert gw.stop() == 0
        check_clean()
    finally:
        stop_all()
        topology_down()


def test_online_servers_are_never_steered():
    """Servers from a SIP008 document (in a steered prefix) are excluded like the
    configuration's: the LAN reaches them directly, and a new document moves the exclusion."""
    topology_up()
    try:
        wan, digest = setup_wan()
        first, second = "10.77.9.30", "10.77.9.31"
        for a in (first, second):
            ns(WAN, "ip", "addr", "add", a + "/32", "dev", "lo")
        doc = os.path.join(LOGDIR, "online.json")

        def publish(host):
            with open(doc, "w") as f:
                json.dump({"version": 1, "servers": [{"server": host, "server_port": SS_PORT, "password": "gw-pw",
                                                      "method": "chacha20-ietf-poly1305"}]}, f)
        publish(first)
        gw = start_gw(True, ["--online-config-url", "file://" + doc])

        def direct(host):
            """The LAN's request to host reached it as from the LAN client, not through ssserver."""
            before_t, before_p = len(wan.targets_seen()), len(wan.http_peers())
            rc, body, err = curl_lan(host, path="small.txt")
            assert rc == 0 and body == b"small\n", (host, err)
            return not any(host in t for t in wan.targets_seen()[before_t:]) and \
                any("10.77.1.2" in p for p in wan.http_peers()[before_p:])
        throws = lambda: [r.split()[1] for r in steering_state()[1] if r.startswith("throw")]  # noqa: E731
        assert first in throws() and direct(first), throws()
        assert not direct(second), "a steered address goes through ssserver"
        publish(second)
        gw.send_signal(signal.SIGHUP)
        wait_log(gw, "online servers changed")
        wait_until(lambda: second in throws() and first not in throws(), 10, "the exclusion to move")
        assert direct(second) and not direct(first)
        assert gw.stop() == 0
        check_clean()
    finally:
        stop_all()
        topology_down()


def test_ssserver_down_then_back():
    topology_up()
    try:
        wan, digest = setup_wan()
        gw = start_gw(True)
        wan.srv.stop()
        t0 = time.time()
        rc, body, err = curl_lan(T4, path="small.txt", timeout=20)
        # The client sees the connection closed (or reset) at once, not a hang.
        assert rc != 0 and time.time() - t0 < 10, (rc, err)
        ok, _, _ = udp_lan(T4, n=1)
        assert ok == 0
        assert gw.poll() is None, gw.log_text()[-2000:]
        wan.start_server()
        rc, body, err = curl_lan(T4, path="small.txt")
        assert rc == 0 and body == b"small\n", err
        assert udp_lan(T4, n=20)[0] == 20
        assert gw.stop() == 0
        check_clean()
    finally:
        stop_all()
        topology_down()


def test_two_workers_share_the_steering():
    """Worker 0 installs sk_lookup; its pick is spread over the SO_REUSEPORT group.
    The local shortcut (--bpf-cgroup) is loaded too: neither breaks the other."""
    topology_up()
    cg = cgroup2_make("gw")
    try:
        wan, digest = setup_wan()
        # Before Linux 5.14 the shortcut cannot load: steering alone then.
        shortcut = netns_cookies()
        gw = start_gw(True, extra=["--workers", "2"] + (["--bpf-cgroup", cg[1]] if shortcut else []))
        assert "2 workers started" in gw.log_text()
        assert not shortcut or "self-test passed" in gw.log_text(), gw.log_text()[-2000:]
        check_gateway(wan, digest, "sk_lookup, 2 workers")
        # Worker 0 (the one holding the steering) crashes: the parent restarts
        # it, and it puts the same steering back in place.
        before = steering_state()
        w0 = int(re.search(r"sslocal\[(\d+)\] info: steering \(", gw.log_text()).group(1))
        os.kill(w0, signal.SIGKILL)
        wait_log(gw, r"worker 0 \(pid %d\) killed by signal 9" % w0)
        wait_until(lambda: len(re.findall(r"info: steering \(", gw.log_text())) == 2, what="steering again")
        after = steering_state()
        # Nothing lost, nothing doubled; only a host address that appeared
        # since (an IPv6 link-local one after DAD) may add an exclusion.
        gained = Counter(after[1]) - Counter(before[1])
        assert after[0] == before[0] and after[2] == before[2], (before, after)
        assert not Counter(before[1]) - Counter(after[1]), (before, after)
        assert all(re.match(r"throw fe80:", l) for l in gained), gained
        check_gateway(wan, digest, "sk_lookup, 2 workers, worker 0 restarted")
        assert gw.stop() == 0
        check_clean()
    finally:
        stop_all()
        topology_down()
        cgroup2_remove(*cg)


def test_nat_redirect_without_steering():
    """Without --steer sslocal installs nothing; a user's own nat REDIRECT
    reaches it and SO_ORIGINAL_DST names the target."""
    topology_up()
    try:
        wan, digest = setup_wan()
        gw = start(["ip", "netns", "exec", GW, os.path.join(BUILD, "sslocal"), "--mode", "redir",
                    "-s", SERVER4, "-p", str(SS_PORT), "-k", "gw-pw", "-m", "chacha20-ietf-poly1305",
                    "-l", str(REDIR_PORT), "--workers", "1", "-v"], name="sslocal")
        wait_log(gw, "sslocal ready")
        check_clean()
        # A direct connection to the redir port is no redirected connection: refused.
        rc, _, _ = curl_lan("10.77.1.1", path="small.txt", port=REDIR_PORT, timeout=5)
        assert rc != 0 and "not a redirected connection" in gw.log_text(), gw.log_text()[-1500:]
        script = ("table ip usernat {\n chain pre {\n  type nat hook prerouting priority dstnat;\n"
                  "  ip daddr %s tcp dport %d redirect to :%d\n }\n}\n" % (T4, HTTP_PORT, REDIR_PORT))
        r = subprocess.run(["ip", "netns", "exec", GW, "nft", "-f", "-"], input=script, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert r.returncode == 0, r.stdout
        before_t = len(wan.targets_seen())
        rc, body, err = curl_lan(T4)
        assert rc == 0 and hashlib.sha256(body).hexdigest() == digest, err
        assert any(T4 in t for t in wan.targets_seen()[before_t:]), wan.targets_seen()[before_t:]
        assert gw.stop() == 0
        assert "usernat" in ns(GW, "nft", "list", "ruleset")  # the user's rules are theirs
    finally:
        stop_all()
        topology_down()


PROBE = r"""
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ok = refused = other = 0
end = time.time() + secs
while time.time() < end:
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((host, port))
        ok += 1
    except ConnectionRefusedError:
        refused += 1
    except OSError:
        other += 1
    s.close()
    time.sleep(0.01)
print("ok=%d refused=%d other=%d" % (ok, refused, other))
"""


def upgrade_mode(bpf):
    """A LAN download and a probe every 10 ms (a connect to a steered address
    whose port nothing on wan listens on: accepted only while steered) across
    an upgrade of the gateway's sslocal (2 workers)."""
    topology_up()
    try:
        wan, digest = setup_wan()
        sock = os.path.join(LOGDIR, "gw-%d.sock" % bpf)
        # Unsteered, the probe is refused by wan: what it would see if steering went away.
        out = ns(LAN, sys.executable, "-c", PROBE, T4, "5201", "0.3")
        assert re.match(r"ok=0 refused=[1-9]", out), out
        gw = start_gw(bpf, extra=["--workers", "2", "--ctl-socket", sock])
        state = steering_state()
        probe = start(["ip", "netns", "exec", LAN, sys.executable, "-c", PROBE, T4, "5201", "6"],
                      name="probe")
        got = {}
        dl = threading.Thread(target=lambda: got.update(r=subprocess.run(
            ["ip", "netns", "exec", LAN, "curl", "-sS", "-m", "60", "--limit-rate", "%dM" % (FILE_MB // 6),
             "http://%s:%d/data.bin" % (T4, HTTP_PORT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        dl.start()
        time.sleep(2)
        r = subprocess.run([os.path.join(BUILD, "ssctl"), "-s", sock, "upgrade"], capture_output=True,
                           text=True, timeout=90)
        assert r.returncode == 0, r.stdout + r.stderr
        new = int(re.search(r"upgraded: pid (\d+) serves", r.stdout).group(1))
        try:
            probe.wait(20)
            dl.join(60)
            out = probe.log_text()
            m = re.search(r"ok=(\d+) refused=(\d+) other=(\d+)", out)
            print("%s: probes every 10 ms across the upgrade: %s" % ("sk_lookup" if bpf else "nftables",
                                                                    m and m.group(0)))
            assert m and int(m.group(1)) > 100 and m.group(2) == "0" and m.group(3) == "0", out
            res = got["r"]
            assert res.returncode == 0, res.stderr
            assert hashlib.sha256(res.stdout).hexdigest() == digest, len(res.stdout)
            gw.wait(30)
            assert "left in place for the process that replaced this one" in gw.log_text(), \
                gw.log_text()[-2000:]
            assert steering_state() == state, (steering_state(), state)
            wait_until(lambda: "this one owns the steering" in gw.log_text(), 10, "the lock")
            rc, body, err = curl_lan(T4, path="small.txt")
            assert rc == 0 and body == b"small\n", err
        finally:
            os.kill(new, signal.SIGTERM)
            wait_until(lambda: not os.path.exists("/proc/%d" % new), 10, "the new sslocal to exit")
        check_clean()
    finally:
        stop_all()
        topology_down()


def test_upgrade_keeps_steering_and_connections():
    upgrade_mode(True)
    upgrade_mode(False)


def test_redir_flags_are_checked():
    for args, msg in ((["--steer", "10.0.0.0/33"], "not an IPv4 or IPv6 prefix"),
                      (["--steer", "0.0.0.0/0", "--steer-ports", "80-70"], "not a port or a range"),
                      (["--exclude", "10.0.0.0/8"], "need --steer"),
                      (["--mode", "socks", "--steer", "0.0.0.0/0"], "are for redir mode")):
        a = [os.path.join(BUILD, "sslocal"), "--mode", "redir", "-s", "127.0.0.1", "-p", "1",
             "-k", "x", "-m", "aes-256-gcm"] + args
        r = subprocess.run(a, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert r.returncode == 2 and msg in r.stdout, (args, r.returncode, r.stdout)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("FAIL gateway/needs_root (network namespaces need root)")
        sys.exit(1)
    sys.exit(run_tests([test_redir_flags_are_checked, test_steering_with_sk_lookup,
                        test_steering_with_nftables_tproxy, test_two_workers_share_the_steering,
                        test_address_added_later_is_excluded, test_online_servers_are_never_steered,
                        test_nat_redirect_without_steering, test_ssserver_down_then_back,
                        test_upgrade_keeps_steering_and_connections], "gateway"))
