# SPDX-License-Identifier: MIT
"""SIP022 across restarts: a TCP request and UDP packets recorded before a
restart (clean, or SIGKILL) are refused after it, and a UDP session that goes
on across the restart keeps working above the packet IDs already seen.
Requests and packets are built here from the SIP022 document."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from test_sip022 import Aead, b64, key_of, read_response, request  # noqa: E402
from test_sip022_udp import client_packet, server_body, silent, udp_sock, unpacket  # noqa: E402
from sstest import *  # noqa: E402,F401,F403
from test_udp import UdpEcho  # noqa: E402

M = "2022-blake3-aes-256-gcm"


def server(port, psk, path, workers, udp=False):
    """TCP, or TCP and UDP, on port (the same number for both)."""
    extra = ["--replay-file", path, "--handshake-timeout", "2", "--workers", str(workers)]
    return ssserver(port, M, password=b64(psk), extra=extra + (["-u"] if udp else []))


def test_tcp_request_recorded_before_a_restart_is_refused_after_it():
    echo = Server(echo_handler)
    psk = key_of(M)
    for workers in (1, 2):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            path = os.path.join(LOGDIR, "s22-%d-%d.replay" % (workers, sig))
            port = free_port()
            srv = server(port, psk, path, workers)
            flight, salt = request(M, psk, echo.port, b"recorded")
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(flight)
            got, _ = read_response(s, M, psk, salt)
            assert got == b"recorded"
            s.close()
            accepts = echo.accepts
            srv.stop(sig)
            srv = server(port, psk, path, workers)
            again = socket.create_connection(("127.0.0.1", port), timeout=5)
            again.sendall(flight)
            assert closed_within(again, 10)
            assert echo.accepts == accepts, \
                "a request recorded before a restart (signal %d, %d workers) reached the target" \
                % (sig, workers)
            assert "SIP022 salt window: kept from %s.sip022" % path in srv.log_text(), \
                srv.log_text()
            # A new request is served.
            flight, salt = request(M, psk, echo.port, b"fresh")
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(flight)
            assert read_response(s, M, psk, salt)[0] == b"fresh"
            s.close()
            srv.stop()
    echo.close()


def roundtrip(sock, port, sid, pid, echo, payload):
    sock.sendto(client_packet(M, psk_of[0], sid, pid, echo.port, payload), ("127.0.0.1", port))
    return server_body(unpacket(M, psk_of[0], sock.recvfrom(65535)[0])[2], sid)[2]


psk_of = [None]


def test_udp_packets_recorded_before_a_restart_are_refused_and_the_session_goes_on():
    echo = UdpEcho()
    psk = psk_of[0] = key_of(M)
    for workers in (1, 2):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            path = os.path.join(LOGDIR, "s22u-%d-%d.replay" % (workers, sig))
            port = free_port()
            srv = server(port, psk, path, workers, udp=True)
            sid = os.urandom(8)
            a = udp_sock()
            recorded = [client_packet(M, psk, sid, pid, echo.port, b"pkt %d" % pid)
                        for pid in range(5)]
            for pid, pkt in enumerate(recorded):
                a.sendto(pkt, ("127.0.0.1", port))
                assert server_body(unpacket(M, psk, a.recvfrom(65535)[0])[2], sid)[2] == \
                    b"pkt %d" % pid
            srv.stop(sig)
            srv = server(port, psk, path, workers, udp=True)
            count = echo.count
            # Every recorded packet, from the old address and from a new one: nothing passes.
            b = udp_sock()
            for pkt in recorded[::-1] + recorded:
                a.sendto(pkt, ("127.0.0.1", port))
                b.sendto(pkt, ("127.0.0.1", port))
            assert silent(a) and silent(b)
            assert echo.count == count, "%d recorded packets reached the target after a restart" \
                % (echo.count - count)
            # The client goes on with its session: newer packet IDs are served.
            assert roundtrip(a, port, sid, 7, echo, b"after") == b"after"
            assert roundtrip(a, port, sid, 6, echo, b"late") == b"late"  # in the window, unseen
            a.sendto(recorded[4], ("127.0.0.1", port))
            assert silent(a)
            # And a new session.
            assert roundtrip(b, port, os.urandom(8), 0, echo, b"new") == b"new"
            a.close()
            b.close()
            srv.stop()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_tcp_request_recorded_before_a_restart_is_refused_after_it,
        test_udp_packets_recorded_before_a_restart_are_refused_and_the_session_goes_on,
    ], "sip022_restart"))
