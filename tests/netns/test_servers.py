# SPDX-License-Identifier: MIT
"""sslocal with several servers: background checks through each server, failover
under load (TCP and UDP), a server with another key taken out, the choice by
latency (one server 50 ms further away), fallback and load-balance modes.
Runs in a network namespace of its own (loopback)."""
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from test_udp import Association, UdpEcho  # noqa: E402

SSCTL = os.path.join(BUILD, "ssctl")
# The second server speaks SIP022, so the checks and the failover cover both editions.
METHODS = ("aes-128-gcm", "2022-blake3-aes-128-gcm")
KEYS = ("pw0", base64.b64encode(os.urandom(16)).decode())


def http_204(sock):
    """The check target: answers any request with 204, as generate_204 does."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        d = sock.recv(4096)
        if not d:
            return
        data += d
    sock.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def servers_json(ctl):
    r = subprocess.run([SSCTL, "-s", ctl, "servers", "--json"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["servers"]


def start_local(servers, mode="best", extra=(), udp=False):
    """sslocal (default workers) with servers [(host, port, method, password)]; its ctl socket."""
    lp = free_port()
    ctl = os.path.join(LOGDIR, "local-%d.sock" % lp)
    path = os.path.join(LOGDIR, "local-%d.json" % lp)
    check = Server(http_204)
    with open(path, "w") as f:
        json.dump({"servers": [{"server": h, "server_port": p, "method": m, "password": k}
                               for h, p, m, k in servers],
                   "local_address": "127.0.0.1", "local_port": lp, "ctl_socket": ctl,
                   "mode": "tcp_and_udp" if udp else "tcp_only",
                   "balancer": {"mode": mode, "check_interval": 1, "max_server_rtt": 1,
                                "check_target": "127.0.0.1:%d" % check.port}}, f)
    loc = start([os.path.join(BUILD, "sslocal"), "-c", path] + list(extra), wait=lp, default_workers=True)
    return loc, lp, ctl, check


def one_echo(lp, echo_port, timeout=5):
    try:
        s, rep = socks_connect(lp, "127.0.0.1", echo_port, timeout=timeout)
        if rep != 0:
            return False
        s.sendall(b"ping")
        ok = recv_exact(s, 4) == b"ping"
        s.close()
        return ok
    except (OSError, AssertionError):
        return False


def wait_states(ctl, want, timeout=10):
    wait_until(lambda: [s["state"] for s in servers_json(ctl)] == want, timeout=timeout,
               what="server states %s" % want)


def udp_roundtrip(a, echo_port, body):
    """One datagram through the association to the echo, and back within a second."""
    a.send("127.0.0.1", echo_port, body)
    try:
        return a.recv()[2] == body
    except socket.timeout:
        return False


def test_failover_under_load_tcp_and_udp():
    """300 connections at about 30 a second; the preferred server is killed at the
    middle: at most 2 fail, every one after the next check succeeds; the UDP
    association moves; the server comes back and is used again."""
    echo, uecho = Server(echo_handler), UdpEcho()
    ports = [free_port(), free_port()]
    srvs = [ssserver(ports[i], METHODS[i], KEYS[i], extra=["-u"]) for i in range(2)]
    loc, lp, ctl, _ = start_local([("127.0.0.1", ports[i], METHODS[i], KEYS[i]) for i in range(2)],
                                  mode="fallback", udp=True)
    wait_states(ctl, ["ok", "ok"])
    assoc = Association(lp)
    assoc.udp.settimeout(1)
    assert udp_roundtrip(assoc, uecho.port, b"before"), "UDP before the kill"
    results, killed_at = [], [None]
    for i in range(300):
        if i == 150:
            srvs[0].stop(signal.SIGKILL)
            killed_at[0] = time.time()
        t0 = time.time()
        results.append((t0, one_echo(lp, echo.port)))
        time.sleep(max(0, 1 / 30 - (time.time() - t0)))
    failed = [t for t, ok in results if not ok]
    late = [t for t in failed if t > killed_at[0] + 1.5]
    print("failover: %d of 300 connections failed (%d after the next check)" % (len(failed), len(late)))
    assert len(failed) <= 2 and not late, failed
    st = servers_json(ctl)
    assert st[0]["state"] == "failed" and st[1]["connections"] >= 140, st
    # The association goes to the other server on its next datagram.
    assert any(udp_roundtrip(assoc, uecho.port, b"after%d" % k) for k in range(5)), "UDP after the kill"
    assert servers_json(ctl)[1]["udp_associations"] >= 1
    # Back again: first in the list, so fallback uses it again.
    srvs[0] = ssserver(ports[0], METHODS[0], KEYS[0], extra=["-u"])
    wait_states(ctl, ["ok", "ok"])
    before = servers_json(ctl)[0]["connections"]
    assert all(one_echo(lp, echo.port) for _ in range(10))
    assert servers_json(ctl)[0]["connections"] >= before + 10
    assoc.close()
    assert loc.poll() is None


def test_server_with_another_key_is_marked_failed():
    echo = Server(echo_handler)
    ports = [free_port(), free_port()]
    ssserver(ports[0], METHODS[0], "the-servers-key")
    ssserver(ports[1], METHODS[1], KEYS[1])
    # The first server takes TCP and answers nothing under our key.
    loc, lp, ctl, _ = start_local([("127.0.0.1", ports[0], METHODS[0], "not-the-key"),
                                   ("127.0.0.1", ports[1], METHODS[1], KEYS[1])], mode="fallback")
    wait_states(ctl, ["failed", "ok"])
    st = servers_json(ctl)
    # ssserver, like libev, holds a request it cannot authenticate in silence (no probe learns anything).
    assert any(w in st[0]["last_failure"] for w in ("no answer within", "closed before answering", "decrypt")), st
    assert all(one_echo(lp, echo.port) for _ in range(20))
    st = servers_json(ctl)
    assert st[1]["connections"] >= 20 and st[0]["connections"] == 0, st
    assert loc.poll() is None


class DelayRelay:
    """A TCP relay that holds every chunk 25 ms in each direction: 50 ms more per round
    trip through the server behind it. (The kernels this runs on may lack netem,
    CONFIG_NET_SCH_NETEM, so the delay is added here.)"""

    def __init__(self, to_port, delay=0.025):
        self.to, self.delay = to_port, delay
        self.srv = Server(self.handle)
        self.port = self.srv.port

    def pump(self, src, dst):
        try:
            while True:
                d = src.recv(65536)
                time.sleep(self.delay)
                if not d:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(d)
        except OSError:
            pass

    def handle(self, sock):
        up = socket.create_connection(("127.0.0.1", self.to), timeout=10)
        t = threading.Thread(target=self.pump, args=(up, sock), daemon=True)
        t.start()
        self.pump(sock, up)
        t.join(10)
        up.close()


def test_latency_choice_avoids_the_slow_server():
    echo = Server(echo_handler)
    fast, slow = free_port(), free_port()
    ssserver(fast, METHODS[0], KEYS[0])
    ssserver(slow, METHODS[1], KEYS[1])
    relay = DelayRelay(slow)
    # The slow server is listed first: the choice is the latency's, not the order's.
    loc, lp, ctl, _ = start_local([("127.0.0.1", relay.port, METHODS[1], KEYS[1]),
                                   ("127.0.0.1", fast, METHODS[0], KEYS[0])])
    wait_until(lambda: all(s["checks"] >= 2 and s["state"] == "ok" for s in servers_json(ctl)),
               what="two checks each")
    before = [s["connections"] for s in servers_json(ctl)]
    assert sum(one_echo(lp, echo.port) for _ in range(100)) == 100
    st = servers_json(ctl)
    slow_share = (st[0]["connections"] - before[0]) / 100
    print("latency: slow %.1f ms, fast %.1f ms; slow chosen for %.0f%% of 100 connections"
          % (st[0]["rtt_ms"], st[1]["rtt_ms"], slow_share * 100))
    assert st[0]["rtt_ms"] > 40 and st[1]["rtt_ms"] < 40, st
    assert slow_share < 0.10, st


def test_load_balance_spreads_and_one_server_is_not_checked():
    echo = Server(echo_handler)
    ports = [free_port(), free_port()]
    for i in range(2):
        ssserver(ports[i], METHODS[i], KEYS[i])
    loc, lp, ctl, _ = start_local([("127.0.0.1", ports[i], METHODS[i], KEYS[i]) for i in range(2)],
                                  mode="load-balance")
    wait_states(ctl, ["ok", "ok"])
    assert all(one_echo(lp, echo.port) for _ in range(40))
    counts = [s["connections"] for s in servers_json(ctl)]
    assert sum(counts) == 40 and min(counts) >= 12, counts
    # /metrics has them too.
    mp = free_port()
    loc.stop()
    loc2, lp2, ctl2, _ = start_local([("127.0.0.1", ports[0], METHODS[0], KEYS[0])],
                                     extra=["--metrics", "127.0.0.1:%d" % mp])
    assert one_echo(lp2, echo.port)
    time.sleep(2.5)
    st = servers_json(ctl2)
    # One server: nothing to choose, so no check traffic goes through it.
    assert len(st) == 1 and st[0]["checks"] == 0 and st[0]["connections"] == 1, st
    body = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % mp], capture_output=True,
                          text=True, timeout=10).stdout
    assert 'ssbpf_server_connections_total{server="127.0.0.1:%d"} 1' % ports[0] in body, body[-1500:]


if __name__ == "__main__":
    run_in_netns([test_failover_under_load_tcp_and_udp, test_server_with_another_key_is_marked_failed,
                  test_latency_choice_avoids_the_slow_server, test_load_balance_spreads_and_one_server_is_not_checked],
                 "servers", "ssbsrv%d" % (os.getpid() % 100000))
