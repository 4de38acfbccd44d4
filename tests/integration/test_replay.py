# SPDX-License-Identifier: MIT
"""Replays that arrive at the same moment in different workers: the same
first flight (TCP) or datagram (UDP) sent twice at once reaches the target
once, with 2 and 4 workers. Flights are built here from the SIP004 spec
(EVP_BytesToKey, HKDF-SHA1 "ss-subkey", AES-256-GCM with a counting nonce)."""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
# aead_probe moves to Debian's python3 first when this one lacks python3-cryptography.
from aead_probe import tcp_flight as flight_to, udp_datagram as datagram_to  # noqa: E402
from sstest import *  # noqa: E402,F401,F403

M, PW = "aes-256-gcm", b"race-pw"
PAIRS = 1000


def tcp_flight(port, payload):
    return flight_to(PW, port, payload)


def udp_datagram(port, payload):
    return datagram_to(PW, port, payload)


class Counter:
    """A TCP target that counts how often each 8-byte request id arrives."""

    def __init__(self):
        self.seen = {}
        self.lock = threading.Lock()

        def handler(sock):
            data = recv_exact(sock, 8)
            with self.lock:
                self.seen[data] = self.seen.get(data, 0) + 1
        self.srv = Server(handler)
        self.port = self.srv.port


def race_tcp(workers):
    target = Counter()
    port = free_port()
    start([os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(port), "-k", PW.decode(),
           "-m", M, "--allow-private", "--replay-file", "off", "--handshake-timeout", "1",
           "--workers", str(workers)], wait=port)
    for batch in range(0, PAIRS, 100):
        socks = []
        for i in range(batch, batch + 100):
            flight = tcp_flight(target.port, struct.pack(">Q", i))
            a = socket.create_connection(("127.0.0.1", port), timeout=5)
            b = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append((a, b, flight))
        # Both copies leave back to back once both connections are accepted somewhere.
        time.sleep(0.05)
        for a, b, flight in socks:
            a.send(flight)
            b.send(flight)
        time.sleep(0.1)
        for a, b, _ in socks:
            a.close()
            b.close()
    wait_until(lambda: len(target.seen) >= PAIRS * 0.99, 20, "the flights at the target")
    time.sleep(1)
    twice = [k for k, v in target.seen.items() if v > 1]
    assert not twice, "%d of %d flights reached the target twice" % (len(twice), PAIRS)
    target.srv.close()
    stop_all()


def race_udp(workers):
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    target.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    target.settimeout(0.5)
    port = free_port(socket.SOCK_DGRAM)
    srv = start([os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(port), "-k",
                 PW.decode(), "-m", M, "--allow-private", "--replay-file", "off", "-U",
                 "--workers", str(workers)])
    time.sleep(0.5)
    assert srv.poll() is None
    seen = {}
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(16)]
    for i in range(PAIRS):
        d = udp_datagram(target.getsockname()[1], struct.pack(">Q", i))
        # Two sources: the kernel hashes them to (most often) different workers.
        clients[(2 * i) % 16].sendto(d, ("127.0.0.1", port))
        clients[(2 * i + 1) % 16].sendto(d, ("127.0.0.1", port))
        if i % 50 == 49:
            time.sleep(0.01)
    while True:
        try:
            data = target.recv(100)
        except socket.timeout:
            break
        seen[data] = seen.get(data, 0) + 1
    twice = [k for k, v in seen.items() if v > 1]
    assert len(seen) >= PAIRS * 0.9, "only %d of %d datagrams arrived" % (len(seen), PAIRS)
    assert not twice, "%d of %d datagrams reached the target twice" % (len(twice), PAIRS)
    for c in clients:
        c.close()
    target.close()
    stop_all()


def test_simultaneous_tcp_replays_pass_once_with_2_and_4_workers():
    race_tcp(2)
    race_tcp(4)


def test_simultaneous_udp_replays_pass_once_with_2_and_4_workers():
    race_udp(2)
    race_udp(4)


if __name__ == "__main__":
    sys.exit(run_tests([
        test_simultaneous_tcp_replays_pass_once_with_2_and_4_workers,
        test_simultaneous_udp_replays_pass_once_with_2_and_4_workers,
    ], "replay"))
