# SPDX-License-Identifier: MIT
"""ssserver --bpf with many ports: every port of port_password (and a port
range) served from one TCP and one UDP socket per worker through the
sk_lookup program, each port with its own password; the socket per port
without BPF; a second ssserver serving the same ports through BPF refused."""
import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from aead_probe import tcp_round_trip, udp_round_trip  # noqa: E402
from sstest import *  # noqa: E402,F401,F403
from test_udp import Association, UdpEcho  # noqa: E402

SSSERVER = os.path.join(BUILD, "ssserver")
SSLOCAL = os.path.join(BUILD, "sslocal")
M = "aes-256-gcm"
TMP = tempfile.mkdtemp(prefix="ssbpf-ports.")


def free_block(count, lo=10000, hi=32000):
    """count consecutive ports with nothing bound on TCP or UDP."""
    rnd = random.Random()
    for _ in range(50):
        base = rnd.randrange(lo, hi - count)
        if all(port_free(p) for p in range(base, base + count)):
            return base
    raise AssertionError("no free block of %d ports" % count)


def port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def write_json(name, obj):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def tree_pids(proc):
    """The supervisor and its workers."""
    out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
    return [proc.pid] + [int(x) for x in out.split()]


def sockets_of(pids):
    """(TCP listening, UDP) sockets the processes hold, from ss."""
    out = subprocess.run(["ss", "-Htlunp"], capture_output=True, text=True).stdout
    tcp = udp = 0
    for line in out.splitlines():
        if any("pid=%d," % p in line for p in pids):
            if line.startswith("tcp"):
                tcp += 1
            else:
                udp += 1
    return tcp, udp


def rss_kib(pids):
    total = 0
    for p in pids:
        with open("/proc/%d/status" % p) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def echoes(lp, echo_port, data):
    """A SOCKS5 connection through lp to the echo server returns data (no half-close: libev's
    ss-local ends a connection at the client's EOF)."""
    try:
        s, rep = socks_connect(lp, "127.0.0.1", echo_port, timeout=3)
        try:
            s.sendall(data)
            return rep == 0 and recv_exact(s, len(data)) == data
        finally:
            s.close()
    except (OSError, AssertionError):
        return False


def echo_through(port, password, echo_port, udp_echo=None):
    """True when a connection (and a datagram) through port with password comes back."""
    lp = free_port()
    args = [SSLOCAL, "-s", "127.0.0.1", "-p", str(port), "-k", password, "-m", M, "-l", str(lp)]
    local = start(args + (["-u"] if udp_echo else []), name="sslocal", wait=lp)
    try:
        if not echoes(lp, echo_port, b"port %d" % port):
            return False
        if not udp_echo:
            return True
        a = Association(lp)
        a.udp.settimeout(2)
        a.send("127.0.0.1", udp_echo.port, b"dgram %d" % port)
        try:
            return a.recv()[2] == b"dgram %d" % port
        except OSError:
            return False
        finally:
            a.close()
    finally:
        local.stop()


def libev_echo(port, password, echo_port):
    lp = free_port()
    local = start([shutil.which("ss-local"), "-s", "127.0.0.1", "-p", str(port), "-l", str(lp), "-k",
                   password, "-m", M], name="ss-local", wait=lp)
    try:
        return echoes(lp, echo_port, b"libev %d" % port)
    finally:
        local.stop()


def ssctl_stats(port):
    out = subprocess.run([os.path.join(BUILD, "ssctl"), "-p", str(port), "stats"],
                         capture_output=True, text=True, timeout=10)
    return out.stdout + out.stderr


def own_password_only(port, other, echo, uecho):
    """What is wrong with port: TCP and UDP through it with its own password (as a client
    written from the document sends them), and another port's password refused."""
    pw, bad = "pw-%d" % port, "pw-%d" % other
    if tcp_round_trip(port, pw, echo.port, b"tcp %d" % port) != b"tcp %d" % port:
        return "TCP through port %d" % port
    if udp_round_trip(port, pw, uecho.port, b"udp %d" % port) != b"udp %d" % port:
        return "UDP through port %d" % port
    if tcp_round_trip(port, bad, echo.port, b"x", timeout=0.5) is not None:
        return "port %d took port %d's password over TCP" % (port, other)
    if udp_round_trip(port, bad, uecho.port, b"x", timeout=0.2) is not None:
        return "port %d took port %d's password over UDP" % (port, other)
    return None


def serve(cfg, extra=(), wait=None):
    return start([SSSERVER, "-c", cfg, "--allow-private", "--workers", "2", "-u"] + list(extra),
                 wait=wait)


def test_2000_ports_each_with_its_password_from_four_sockets():
    base = free_block(2000)
    ports = list(range(base, base + 2000))
    cfg = write_json("many.json", {"server": "127.0.0.1", "method": M, "timeout": 60,
                                   "port_password": {str(p): "pw-%d" % p for p in ports}})
    echo, uecho = Server(echo_handler), UdpEcho()
    srv = serve(cfg, wait=ports[0])
    assert "served through sk_lookup" in srv.log_text()
    pids = tree_pids(srv)
    time.sleep(0.5)
    tcp, udp = sockets_of(pids)
    assert tcp == 2 and udp == 2, "one TCP and one UDP socket per worker, not per port: %d, %d" % (tcp, udp)
    bpf_rss = rss_kib(pids)
    sample = random.sample(ports, 100)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        wrong = list(pool.map(lambda i: own_password_only(sample[i], sample[i - 1], echo, uecho),
                              range(len(sample))))
    assert not any(wrong), [w for w in wrong if w]
    for p in sample[:10]:
        assert libev_echo(p, "pw-%d" % p, echo.port), "libev's ss-local through port %d" % p
    for p in sample[40:43]:
        assert echo_through(p, "pw-%d" % p, echo.port, uecho), "sslocal's TCP and UDP through port %d" % p
    for p in sample[50:53]:
        other = sample[(sample.index(p) + 1)]
        assert not libev_echo(p, "pw-%d" % other, echo.port), "port %d refuses port %d's password" % (p, other)
    srv.stop()
    # Without BPF: a socket per port and worker, as before.
    srv = serve(cfg, ["--bpf", "off"], wait=ports[-1])
    pids = tree_pids(srv)
    time.sleep(0.5)
    tcp, udp = sockets_of(pids)
    assert tcp == 4000 and udp == 4000, (tcp, udp)
    off_rss = rss_kib(pids)
    for p in sample[:3]:
        assert libev_echo(p, "pw-%d" % p, echo.port)
    print("idle RSS of the tree: %d KiB with BPF, %d KiB with a socket per port" % (bpf_rss, off_rss))
    assert bpf_rss < off_rss, (bpf_rss, off_rss)


def test_a_range_of_10000_ports():
    base = free_block(10002)
    lo, hi = base + 1, base + 10000
    cfg = write_json("range.json", {"server": "127.0.0.1", "method": M, "password": "range-pw",
                                    "server_port": "%d-%d" % (lo, hi)})
    echo = Server(echo_handler)
    srv = serve(cfg, wait=lo)
    for p in random.sample(range(lo, hi + 1), 20) + [hi]:
        assert libev_echo(p, "range-pw", echo.port), "port %d of the range" % p
    for p in (lo - 1, hi + 1):
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect(("127.0.0.1", p))
            raise AssertionError("port %d outside the range was accepted" % p)
        except ConnectionRefusedError:
            pass
        finally:
            s.close()
    tcp, udp = sockets_of(tree_pids(srv))
    assert tcp == 2, tcp
    # The range is counted as one, under its label.
    label = "%d-%d" % (lo, hi)
    wait_until(lambda: label in ssctl_stats(lo), 10, "the range in ssctl stats")


def test_a_socket_per_port_without_bpf_and_ranges_there_too():
    base = free_block(6)
    cfg = write_json("off.json", {"server": "127.0.0.1", "method": M,
                                  "port_password": {str(base): "one", "%d-%d" % (base + 2, base + 5): "rng"}})
    echo = Server(echo_handler)
    srv = serve(cfg, ["--bpf", "off"], wait=base)
    assert "sk_lookup" not in srv.log_text()
    tcp, udp = sockets_of(tree_pids(srv))
    assert tcp == 10 and udp == 10, (tcp, udp)
    assert libev_echo(base, "one", echo.port)
    assert libev_echo(base + 4, "rng", echo.port)
    assert not libev_echo(base + 4, "one", echo.port)


def test_a_second_ssserver_serving_the_same_ports_is_refused():
    base = free_block(4)
    one = write_json("one.json", {"server": "127.0.0.1", "method": M,
                                  "port_password": {str(base): "a", str(base + 1): "b"}})
    two = write_json("two.json", {"server": "127.0.0.1", "method": M,
                                  "port_password": {str(base + 1): "b", str(base + 2): "c"}})
    first = serve(one, wait=base)
    second = start([SSSERVER, "-c", two, "--workers", "2"])
    assert second.wait(15) != 0, "the second instance must not start"
    assert re.search(r"port %d: another ssserver serves it" % (base + 1), second.log_text()), \
        second.log_text()[-2000:]
    echo = Server(echo_handler)
    assert libev_echo(base + 1, "b", echo.port), "the first keeps serving"
    assert first.poll() is None


def test_port_ranges_are_refused_where_they_mean_nothing():
    for args, want in (([SSLOCAL, "-s", "127.0.0.1", "-p", "2000-2010", "-k", "x", "-m", M, "-l", "1080"],
                        "is for ssserver"),
                       ([SSSERVER, "-s", "127.0.0.1", "-p", "3000-2000", "-k", "x", "-m", M], "or a range A-B")):
        r = subprocess.run(args, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert r.returncode != 0 and want in r.stderr, (args, r.returncode, r.stderr)


def sender_handler(sock):
    """Sends as many bytes as the client's 8-byte request asks for."""
    n = struct.unpack(">Q", recv_exact(sock, 8))[0]
    block = os.urandom(1 << 16)
    while n:
        k = min(n, len(block))
        sock.sendall(block[:k])
        n -= k


def download(lp, port, size, out, key):
    """Time to receive size bytes through the SOCKS5 port lp from the sender."""
    t0 = time.time()
    s, rep = socks_connect(lp, "127.0.0.1", port, timeout=60)
    got = 0
    try:
        s.sendall(struct.pack(">Q", size))
        while got < size:
            d = s.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except OSError:
        pass
    s.close()
    out[key] = (got, time.time() - t0)


def test_rate_limit_per_user_paced_by_the_kernel_and_changed_by_sighup():
    port = free_block(1)
    users = lambda rate: [{"name": "alice", "password": "pw-a", "rate_limit": rate},  # noqa: E731
                          {"name": "bob", "password": "pw-b"}]
    cfg = write_json("rate.json", {"servers": [{"server": "127.0.0.1", "server_port": port, "method": M,
                                                "users": users(2 << 20)}]})
    srv = serve(cfg, wait=port)
    sender = Server(sender_handler)
    la, lb = free_port(), free_port()
    for lp, pw in ((la, "pw-a"), (lb, "pw-b")):
        start([SSLOCAL, "-s", "127.0.0.1", "-p", str(port), "-k", pw, "-m", M, "-l", str(lp)], wait=lp)
    out = {}
    ts = [threading.Thread(target=download, args=(la, sender.port, 20 << 20, out, "alice")),
          threading.Thread(target=download, args=(lb, sender.port, 20 << 20, out, "bob"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    print("20 MiB: alice (2 MiB/s) %.2f s, bob (no limit) %.2f s" % (out["alice"][1], out["bob"][1]))
    assert out["alice"][0] == out["bob"][0] == 20 << 20, out
    assert 8.5 <= out["alice"][1] <= 11.5, out
    assert out["bob"][1] < 4, out
    # A live connection takes a new limit from SIGHUP: 40 MiB, 2 MiB/s for 3 s, then 8 MiB/s.
    t = threading.Thread(target=download, args=(la, sender.port, 40 << 20, out, "live"))
    t.start()
    time.sleep(3)
    write_json("rate.json", {"servers": [{"server": "127.0.0.1", "server_port": port, "method": M,
                                          "users": users(8 << 20)}]})
    srv.send_signal(signal.SIGHUP)
    t.join(60)
    print("40 MiB with the limit raised after 3 s: %.2f s" % out["live"][1])
    assert "new rate limits" in srv.log_text()
    assert out["live"][0] == 40 << 20 and 6 < out["live"][1] < 11, out["live"]


def test_low_udp_ports_answer_under_user_nobody():
    base = free_block(2, 900, 1000)
    cfg = write_json("low.json", {"server": "127.0.0.1", "method": M,
                                  "port_password": {str(base): "lo-a", str(base + 1): "lo-b"}})
    srv = serve(cfg, ["--user", "nobody"], wait=base)
    echo, uecho = Server(echo_handler), UdpEcho()
    assert echo_through(base + 1, "lo-b", echo.port, uecho), "a UDP port below 1024 answers as nobody"
    caps = []
    for pid in tree_pids(srv)[1:]:
        with open("/proc/%d/status" % pid) as f:
            caps += [int(l.split()[1], 16) for l in f if l.startswith("CapEff:")]
    assert caps and all(c == 1 << 10 for c in caps), "workers keep CAP_NET_BIND_SERVICE only: %s" % caps


def test_udp_rate_limit_drops_what_passes_the_rate():
    port = free_block(1)
    cfg = write_json("udprate.json", {"servers": [{"server": "127.0.0.1", "server_port": port, "method": M,
                                                   "password": "pw", "rate_limit": 20000}]})
    serve(cfg, wait=port)
    uecho = UdpEcho()
    lp = free_port()
    start([SSLOCAL, "-s", "127.0.0.1", "-p", str(port), "-k", "pw", "-m", M, "-l", str(lp), "-u"], wait=lp)
    a = Association(lp)
    a.udp.settimeout(1)

    def burst(n):
        for i in range(n):
            a.send("127.0.0.1", uecho.port, bytes([i % 256]) * 1000)
        got = 0
        try:
            while True:
                a.recv()
                got += 1
        except OSError:
            return got
    first = burst(60)
    time.sleep(1.2)
    second = burst(10)
    print("UDP at 20000 B/s: %d of a burst of 60 x 1000 B came back, then %d of 10" % (first, second))
    assert 14 <= first <= 24, first
    assert second == 10, second
    a.close()


def test_data_limit_ends_the_user_refuses_new_connections_and_survives_a_restart():
    port = free_block(1)
    replay = os.path.join(TMP, "quota.replay")
    doc = lambda limit: {"replay_file": replay, "servers": [  # noqa: E731
        {"server": "127.0.0.1", "server_port": port, "method": M,
         "users": [{"name": "quinn", "password": "pw-q", "data_limit": limit},
                   {"name": "uma", "password": "pw-u"}]}]}
    cfg = write_json("quota.json", doc(5 << 20))
    srv = serve(cfg, wait=port)
    sender = Server(sender_handler)
    lq, lu = free_port(), free_port()
    for lp, pw in ((lq, "pw-q"), (lu, "pw-u")):
        start([SSLOCAL, "-s", "127.0.0.1", "-p", str(port), "-k", pw, "-m", M, "-l", str(lp)], wait=lp)
    # A connection of quinn's that is idle when another spends the limit ends too.
    echo = Server(echo_handler)
    idle, _ = socks_connect(lq, "127.0.0.1", echo.port)
    idle.sendall(b"hi")
    assert recv_exact(idle, 2) == b"hi"
    out = {}
    download(lq, sender.port, 20 << 20, out, "q")
    print("quinn, limited to 5 MiB, received %d bytes of 20 MiB" % out["q"][0])
    # Up plus down are counted (the request's few bytes too); a read takes at most one chunk
    # (16383 bytes) past what is left, and what was read is delivered before the FIN.
    assert (5 << 20) - 64 <= out["q"][0] <= (5 << 20) + 16383, out["q"]
    assert "data limit of quinn on port %d is spent" % port in srv.log_text()
    assert closed_within(idle, 3), "quinn's idle connection ends with the limit spent"
    download(lq, sender.port, 1 << 20, out, "q2")
    assert out["q2"][0] == 0, "a new connection of quinn is refused"
    download(lu, sender.port, 8 << 20, out, "u")
    assert out["u"][0] == 8 << 20, "uma on the same port is not limited"
    text = ssctl_stats(port)
    assert re.search(r"limit +%d/quinn rate 0 B/s, data \d+ of 5242880 bytes \(spent\)" % port, text), text
    assert "uma" not in text.split("bytes by port/user")[1].split("\n", 1)[1], "no limit line for uma"
    # The spent amount is kept across a restart.
    srv.stop()
    spent = open(os.path.join(TMP, "quota.spent")).read()
    assert re.search(r"^%d/quinn (\d+)$" % port, spent, re.M), spent
    srv = serve(cfg, wait=port)
    download(lq, sender.port, 1 << 20, out, "q3")
    assert out["q3"][0] == 0, "still spent after a restart"
    # Raised by SIGHUP: quinn is served again.
    write_json("quota.json", doc(50 << 20))
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: "data limit 52428800 bytes" in srv.log_text(), 5, "the reload")
    download(lq, sender.port, 1 << 20, out, "q4")
    assert out["q4"][0] == 1 << 20, out["q4"]


def test_a_spent_data_limit_ends_sip022_udp_too():
    from test_sip022 import b64, key_of
    from test_sip022_udp import client_packet, server_body, silent, udp_sock, unpacket
    m22 = "2022-blake3-aes-256-gcm"
    psk, port, echo = key_of(m22), free_block(1), UdpEcho()
    cfg = write_json("s22limit.json", {"servers": [{"server": "127.0.0.1", "server_port": port, "method": m22,
                                                    "password": b64(psk), "data_limit": 3000}],
                                       "mode": "tcp_and_udp", "replay_file": "off"})
    serve(cfg, wait=port)
    wait_udp_port(port)
    sid, a = os.urandom(8), udp_sock()
    answered = 0
    for pid in range(10):
        a.sendto(client_packet(m22, psk, sid, pid, echo.port, b"x" * 1000), ("127.0.0.1", port))
        if not silent(a, 0.5):
            answered += 1
    # 1000 bytes up and down per round trip: the limit is spent within two.
    print("SIP022 UDP with a 3000-byte data_limit: %d of 10 datagrams answered" % answered)
    assert 1 <= answered <= 2, answered
    assert echo.count <= 2, echo.count
    a.close()
    echo.close()


def test_ssmanager_add_takes_rate_and_data_limits():
    mp = free_port(socket.SOCK_DGRAM)
    start([os.path.join(BUILD, "ssmanager"), "--manager-address", "127.0.0.1:%d" % mp, "-m", M,
           "--allow-private", "-s", "127.0.0.1"])
    time.sleep(0.3)
    c = Mgr(mp)
    port = free_block(1)
    stale = "/var/lib/ssbpf/ssserver-%d.spent" % port
    if os.path.exists(stale):
        os.unlink(stale)
    for bad in ('add: {"server_port": %d, "password": "x", "rate_limit": -5}' % port,
                'add: {"server_port": %d, "password": "x", "data_limit": "lots"}' % port):
        assert c.cmd(bad).startswith("err"), bad
    r = c.cmd('add: {"server_port": %d, "password": "pw-m", "rate_limit": 4194304, '
              '"data_limit": 3145728}' % port)
    assert r == "ok", r
    wait_port(port)
    assert '"rate_limit":4194304,"data_limit":3145728' in c.cmd("list")
    sender = Server(sender_handler)
    lp = free_port()
    start([SSLOCAL, "-s", "127.0.0.1", "-p", str(port), "-k", "pw-m", "-m", M, "-l", str(lp)], wait=lp)
    out = {}
    download(lp, sender.port, 10 << 20, out, "m")
    got, took = out["m"]
    print("through ssmanager's port (4 MiB/s, 3 MiB): %d bytes in %.2f s" % (got, took))
    assert (3 << 20) - 64 <= got <= (3 << 20) + 16383, "the limit plus at most one chunk: %d" % got
    assert took > 0.5, "paced at 4 MiB/s, 3 MiB takes about 0.75 s"
    c.close()


def test_ssmanager_serves_500_added_ports_from_one_ssserver():
    mp = free_port(socket.SOCK_DGRAM)
    mgr = start([os.path.join(BUILD, "ssmanager"), "--manager-address", "127.0.0.1:%d" % mp, "-m", M,
                 "--allow-private", "-s", "127.0.0.1", "-u", "--workers", "2"])
    time.sleep(0.3)
    c = Mgr(mp)
    base = free_block(500)
    t0 = time.time()
    for p in range(base, base + 500):
        r = c.cmd('add: {"server_port": %d, "password": "pw-%d"}' % (p, p))
        assert r == "ok", (p, r)
    took = time.time() - t0
    kids = subprocess.run(["pgrep", "-P", str(mgr.pid)], capture_output=True, text=True).stdout.split()
    print("500 adds in %.1f s; ssmanager's children: %s" % (took, kids))
    assert len(kids) == 1, "one ssserver tree for every port, not a process per port: %s" % kids
    tree = int(kids[0])
    tcp, udp = sockets_of(tree_pids(type("P", (), {"pid": tree})))
    assert tcp == 2 and udp == 2, (tcp, udp)
    echo, uecho = Server(echo_handler), UdpEcho()
    for p in random.sample(range(base, base + 500), 5):
        assert libev_echo(p, "pw-%d" % p, echo.port), p
    assert echo_through(base + 3, "pw-%d" % (base + 3), echo.port, uecho)
    # remove closes that port's live connections, and the port.
    lp = free_port()
    start([SSLOCAL, "-s", "127.0.0.1", "-p", str(base + 9), "-k", "pw-%d" % (base + 9), "-m", M,
           "-l", str(lp)], wait=lp)
    s, rep = socks_connect(lp, "127.0.0.1", echo.port)
    s.sendall(b"hi")
    assert recv_exact(s, 2) == b"hi"
    assert c.cmd('remove: {"server_port": %d}' % (base + 9)) == "ok"
    assert closed_within(s, 5), "the removed port's connection ends"
    assert not libev_echo(base + 9, "pw-%d" % (base + 9), echo.port)
    assert libev_echo(base + 10, "pw-%d" % (base + 10), echo.port), "the others stay"
    # Traffic is reported per port, as from a process per port.
    wait_until(lambda: c.stats().get(base + 10, 0) > 0, 12, "ping to count the port's bytes")
    assert len(json.loads(c.cmd("list"))) == 499
    mgr.stop()
    assert subprocess.run(["kill", "-0", str(tree)], capture_output=True).returncode != 0, \
        "the shared ssserver stops with ssmanager"


if __name__ == "__main__":
    sys.exit(run_tests([test_2000_ports_each_with_its_password_from_four_sockets,
                        test_a_range_of_10000_ports,
                        test_a_socket_per_port_without_bpf_and_ranges_there_too,
                        test_a_second_ssserver_serving_the_same_ports_is_refused,
                        test_port_ranges_are_refused_where_they_mean_nothing,
                        test_rate_limit_per_user_paced_by_the_kernel_and_changed_by_sighup,
                        test_udp_rate_limit_drops_what_passes_the_rate,
                        test_low_udp_ports_answer_under_user_nobody,
                        test_data_limit_ends_the_user_refuses_new_connections_and_survives_a_restart,
                        test_a_spent_data_limit_ends_sip022_udp_too,
                        test_ssmanager_add_takes_rate_and_data_limits,
                        test_ssmanager_serves_500_added_ports_from_one_ssserver],
                       "many-ports"))
