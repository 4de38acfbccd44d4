# SPDX-License-Identifier: MIT
"""UDP relay: SOCKS5 UDP ASSOCIATE, server-side NAT, UDP tunnel; interop with
shadowsocks-libev; bad datagrams dropped and counted while the relay serves on."""
import os
import random
import re
import shutil
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403


class UdpPeer:
    """A UDP socket on loopback served by a thread: handle(data, addr) per datagram."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                d, a = self.sock.recvfrom(65535)
            except OSError:
                return
            self.handle(d, a)

    def close(self):
        self.sock.close()


class UdpEcho(UdpPeer):
    def __init__(self):
        self.count = 0
        super().__init__()

    def handle(self, d, a):
        self.count += 1
        self.sock.sendto(d, a)


class Association:
    """A SOCKS5 UDP ASSOCIATE: the TCP control connection and a UDP socket."""

    def __init__(self, lp):
        self.tcp = socket.create_connection(("127.0.0.1", lp), timeout=5)
        self.tcp.sendall(b"\x05\x01\x00")
        assert recv_exact(self.tcp, 2) == b"\x05\x00"
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(5)
        self.tcp.sendall(b"\x05\x03\x00" + encode_addr("127.0.0.1", self.udp.getsockname()[1]))
        head = recv_exact(self.tcp, 4)
        assert head[:2] == b"\x05\x00", "UDP ASSOCIATE reply %r" % head
        assert head[3] == 1
        addr = recv_exact(self.tcp, 6)
        self.relay = (socket.inet_ntoa(addr[:4]), struct.unpack(">H", addr[4:])[0])

    def send(self, host, port, data, frag=0):
        self.udp.sendto(b"\0\0" + bytes([frag]) + encode_addr(host, port) + data, self.relay)

    def recv(self):
        d, src = self.udp.recvfrom(65535)
        assert src == self.relay, src
        assert d[:3] == b"\0\0\0", d[:3]
        alen = {1: 4, 4: 16}[d[3]]
        return d[4:4 + alen], struct.unpack(">H", d[4 + alen:6 + alen])[0], d[6 + alen:]

    def close(self):
        self.tcp.close()
        self.udp.close()


def paced_echo(assoc, echo_port, count, maxlen=1400, window=32):
    """Sends count numbered datagrams of random sizes, at most window in flight;
    returns how many came back intact."""
    rnd = random.Random(42)
    sent = {}
    ok = 0
    nxt = 0
    while nxt < count or sent:
        while nxt < count and len(sent) < window:
            size = rnd.randint(8, maxlen)
            body = struct.pack(">Q", nxt) + rnd.randbytes(size - 8)
            sent[nxt] = body
            assoc.send("127.0.0.1", echo_port, body)
            nxt += 1
        try:
            ip, port, data = assoc.recv()
        except socket.timeout:
            break
        seq = struct.unpack(">Q", data[:8])[0]
        if sent.pop(seq, None) == data and port == echo_port and ip == socket.inet_aton("127.0.0.1"):
            ok += 1
    return ok


def test_10000_datagrams_through_socks_udp_associate():
    echo = UdpEcho()
    srv, loc, lp = pair(server_extra=["-u"], local_extra=["-u"])
    a = Association(lp)
    t0 = time.time()
    ok = paced_echo(a, echo.port, 10000)
    dt = time.time() - t0
    print("10000 datagrams round trip in %.2fs" % dt)
    assert ok == 10000, "only %d of 10000 datagrams came back intact" % ok
    a.close()
    echo.close()


def test_domain_target_resolved_for_udp():
    echo = UdpEcho()
    srv, loc, lp = pair(server_extra=["-u"], local_extra=["-u"])
    a = Association(lp)
    a.send("localhost", echo.port, b"by name")
    ip, port, data = a.recv()
    assert (data, port) == (b"by name", echo.port)
    a.close()
    echo.close()


def test_dns_query_over_udp_tunnel():
    dns = DnsResponder(ttl=30)
    sp, tp = free_port(), free_port(socket.SOCK_DGRAM)
    start([os.path.join(BUILD, "ssserver"), "--allow-private", "-s", "127.0.0.1", "-p", str(sp), "-k", "test-pw", "-m",
           "chacha20-ietf-poly1305", "-U"])
    start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(tp), "-k", "test-pw",
           "-m", "chacha20-ietf-poly1305", "-U", "-L", "127.0.0.1:%d" % dns.port])
    wait_udp_port(sp)
    wait_udp_port(tp)
    rcode, ips = dns_query(tp, "answer.test")
    assert (rcode, ips) == (0, ["127.0.0.1"]), (rcode, ips)
    rcode, ips = dns_query(tp, "nxdomain.example")
    assert rcode == 3
    assert ("answer.test", 1) in dns.queries
    dns.close()


def udp_stats(proc):
    before = proc.log_text().count("udp: relayed")
    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: proc.log_text().count("udp: relayed") > before, what="stats line")
    line = [l for l in proc.log_text().splitlines() if "udp: relayed" in l][-1]
    keys = ["in", "out", "bad crypto", "bad header", "fragmented", "oversize", "without association",
            "unresolved", "send failures", "associations evicted"]
    vals = [int(x) for x in re.findall(r"(\d+) (?:in|out|bad|fragmented|oversize|without|unresolved|send|associations)",
                                        line)]
    return dict(zip(keys, vals))


def test_bad_datagrams_dropped_counted_and_relay_keeps_serving():
    echo = UdpEcho()
    srv, loc, lp = pair(server_extra=["-u", "-v", "-v"], local_extra=["-u", "-v", "-v"])
    sp = int(srv.args[srv.args.index("-p") + 1])
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # To the server: truncated (shorter than salt + tag) and random (wrong key).
    raw.sendto(b"short", ("127.0.0.1", sp))
    raw.sendto(os.urandom(200), ("127.0.0.1", sp))
    # A client with the wrong password.
    bad_lp = free_port()
    sslocal(bad_lp, sp, password="wrong", extra=["-u"])
    b = Association(bad_lp)
    b.send("127.0.0.1", echo.port, b"nope")
    # To sslocal: fragment, unknown ATYP, malformed header, oversize, no association.
    a = Association(lp)
    a.send("127.0.0.1", echo.port, b"frag", frag=1)
    a.udp.sendto(b"\0\0\0\x09garbage", a.relay)
    a.udp.sendto(b"\x01\x02", a.relay)
    a.udp.sendto(b"\0\0\0" + encode_addr("127.0.0.1", echo.port) + b"x" * (65507 - 10), a.relay)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.2", 0))  # a host that made no UDP ASSOCIATE
    stranger.sendto(b"\0\0\0" + encode_addr("127.0.0.1", echo.port) + b"who", a.relay)
    time.sleep(0.5)
    # The relay still serves.
    a.send("127.0.0.1", echo.port, b"after the storm")
    assert a.recv()[2] == b"after the storm"
    st_srv, st_loc = udp_stats(srv), udp_stats(loc)
    assert st_srv["bad crypto"] == 3, st_srv
    assert st_loc["fragmented"] == 1, st_loc
    assert st_loc["bad header"] == 2, st_loc
    assert st_loc["oversize"] == 1, st_loc
    assert st_loc["without association"] == 1, st_loc
    assert echo.count == 1, "only the good datagram reached the target, got %d" % echo.count
    assert "dropped a fragment" in loc.log_text() and "authentication failed" in srv.log_text()
    a.close()
    b.close()
    echo.close()


def test_association_cap_evicts_oldest_and_ends_with_tcp():
    echo = UdpEcho()
    srv, loc, lp = pair(server_extra=["-u", "--udp-max-associations", "3"], local_extra=["-u"])
    assocs = [Association(lp) for _ in range(5)]
    for i, a in enumerate(assocs):
        a.send("127.0.0.1", echo.port, b"client %d" % i)
        assert a.recv()[2] == b"client %d" % i
    st = udp_stats(srv)
    assert st["associations evicted"] == 2, st
    assert "evicting the oldest" in srv.log_text()
    # An evicted client simply gets a fresh association on its next datagram.
    assocs[0].send("127.0.0.1", echo.port, b"again")
    assert assocs[0].recv()[2] == b"again"
    # Closing the TCP control connections ends the associations: their UDP
    # sockets close, and the same client's datagrams reach nobody.
    for x in assocs:
        x.tcp.close()
    wait_until(lambda: loc.log_text().count("UDP association closed") == 5, what="associations closed")
    seen = echo.count
    assocs[2].send("127.0.0.1", echo.port, b"orphan")
    time.sleep(0.5)
    assert echo.count == seen, "a datagram of a closed association reached the target"
    for x in assocs:
        x.udp.close()
    echo.close()


def fresh_associations(lp, echo, count=12, per=10, sizes=(1, 100, 1200, 4000, 9000)):
    """Opens count associations one after another, each echoing per datagrams
    of varied sizes; returns the number of datagrams lost."""
    rnd = random.Random(12)
    lost = 0
    for i in range(count):
        a = Association(lp)
        a.udp.settimeout(2)
        for j in range(per):
            body = b"%d.%d:" % (i, j) + rnd.randbytes(rnd.choice(sizes))
            a.send("127.0.0.1", echo.port, body)
            try:
                if a.recv()[2] != body:
                    lost += 1
            except socket.timeout:
                lost += 1
        a.close()
    return lost


def test_associations_work_whatever_the_worker_count():
    # The TCP control connection and the datagrams may land on different
    # workers: each association gets a socket of its own in the worker that
    # holds it, announced in the reply.
    echo = UdpEcho()
    sp = free_port()
    ssserver(sp, extra=["-u"])
    for workers in (["--workers", "4"], []):
        lp = free_port()
        loc = sslocal(lp, sp, extra=["-u"] + workers, default_workers=not workers)
        lost = fresh_associations(lp, echo)
        assert lost == 0, "%d of 120 datagrams lost with %s" % (lost, workers or "the default workers")
        loc.stop()
    # The same in front of shadowsocks-libev's ss-server.
    sp, lp = free_port(), free_port()
    libev("ss-server", ["-s", "127.0.0.1", "-p", str(sp), "-k", "test-pw", "-m", "aes-256-gcm", "-u"])
    wait_port(sp)
    sslocal(lp, sp, "aes-256-gcm", extra=["-u", "--workers", "4"])
    # libev's ss-server drops datagrams larger than its MTU-sized buffer.
    lost = fresh_associations(lp, echo, sizes=(1, 100, 700, 1000, 1300))
    assert lost == 0, "%d of 120 datagrams lost through libev ss-server" % lost
    echo.close()


class UdpTap(UdpPeer):
    """A UDP forwarder between sslocal and ssserver that keeps the server's replies."""

    def __init__(self, server_port):
        self.server = ("127.0.0.1", server_port)
        self.client = None
        self.replies = []
        super().__init__()

    def handle(self, d, a):
        if a == self.server:
            self.replies.append(d)
            if self.client:
                self.sock.sendto(d, self.client)
        else:
            self.client = a
            self.sock.sendto(d, self.server)


def test_reflected_reply_datagram_is_refused_the_first_time():
    # The server's own reply, sent back to it, must not reach the target: its
    # salt is in the replay filter since the server sealed it.
    for workers in ("1", "2"):
        echo = UdpEcho()
        sp, lp = free_port(), free_port()
        srv = ssserver(sp, extra=["-u", "--workers", workers])
        tap = UdpTap(sp)
        sslocal(lp, tap.port, extra=["-u"])
        a = Association(lp)
        a.send("127.0.0.1", echo.port, b"once")
        assert a.recv()[2] == b"once"
        assert echo.count == 1 and len(tap.replies) == 1
        reply = tap.replies[0]
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tap.sock.sendto(reply, tap.server)   # from the flow's own source port
        other.sendto(reply, tap.server)      # and from another one
        time.sleep(0.5)
        assert echo.count == 1, "a reflected reply reached the target (%s workers)" % workers
        assert len(tap.replies) == 1, "the reflected datagrams got replies"
        other.close()
        a.close()
        echo.close()
        stop_all()


def libev(name, args):
    return start([shutil.which(name)] + args, name=name)


def test_interop_with_libev_both_ways():
    echo = UdpEcho()
    for m in ("chacha20-ietf-poly1305", "aes-256-gcm"):
        # libev ss-local -u -> our ssserver -u
        sp, lp = free_port(), free_port()
        ssserver(sp, m, extra=["-u"])
        libev("ss-local", ["-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-k", "test-pw", "-m", m, "-u"])
        wait_port(lp)
        a = Association(lp)
        assert paced_echo(a, echo.port, 300) == 300, "libev ss-local -> ssbpf ssserver, %s" % m
        a.close()
        stop_all()
        # our sslocal -u -> libev ss-server -u
        sp, lp = free_port(), free_port()
        libev("ss-server", ["-s", "127.0.0.1", "-p", str(sp), "-k", "test-pw", "-m", m, "-u"])
        wait_port(sp)
        sslocal(lp, sp, m, extra=["-u"])
        a = Association(lp)
        assert paced_echo(a, echo.port, 300) == 300, "ssbpf sslocal -> libev ss-server, %s" % m
        a.close()
        stop_all()
    # Tunnels: libev ss-tunnel -u -> ours, ours -U -> libev ss-server.
    dns = DnsResponder()
    sp, tp = free_port(), free_port(socket.SOCK_DGRAM)
    ssserver(sp, extra=["-u"])
    libev("ss-tunnel", ["-s", "127.0.0.1", "-p", str(sp), "-l", str(tp), "-k", "test-pw", "-m",
                        "chacha20-ietf-poly1305", "-U", "-L", "127.0.0.1:%d" % dns.port])
    wait_udp_port(tp)
    assert dns_query(tp, "via.libev.tunnel.test") == (0, ["127.0.0.1"])
    stop_all()
    sp, tp = free_port(), free_port(socket.SOCK_DGRAM)
    libev("ss-server", ["-s", "127.0.0.1", "-p", str(sp), "-k", "test-pw", "-m", "aes-256-gcm", "-u"])
    wait_port(sp)
    start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(tp), "-k", "test-pw",
           "-m", "aes-256-gcm", "-U", "-L", "127.0.0.1:%d" % dns.port])
    wait_udp_port(tp)
    assert dns_query(tp, "via.ssbpf.tunnel.test") == (0, ["127.0.0.1"])
    dns.close()
    echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_10000_datagrams_through_socks_udp_associate,
        test_domain_target_resolved_for_udp,
        test_dns_query_over_udp_tunnel,
        test_bad_datagrams_dropped_counted_and_relay_keeps_serving,
        test_association_cap_evicts_oldest_and_ends_with_tcp,
        test_associations_work_whatever_the_worker_count,
        test_reflected_reply_datagram_is_refused_the_first_time,
        test_interop_with_libev_both_ways,
    ], "udp"))
