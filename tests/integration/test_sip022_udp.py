# SPDX-License-Identifier: MIT
"""SIP022 (Shadowsocks 2022) UDP: ssserver and sslocal against a client and a
server written here from the SIP022 document (AES-ECB separate header and
AES-GCM from python3-cryptography, XChaCha20-Poly1305 from libsodium through
ctypes, BLAKE3 from b3sum); sessions by ID, roaming, the sliding window,
timestamps and reflections; sslocal <-> ssserver with several workers."""
import ctypes
import ctypes.util
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
# test_sip022 moves to Debian's python3 first when this one lacks python3-cryptography.
from test_sip022 import METHODS, b3_hash16, b64, key_of, subkey, user_bytes, users_server  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from sstest import *  # noqa: E402,F401,F403
from test_udp import Association, UdpEcho, UdpPeer, paced_echo  # noqa: E402

sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
sodium.sodium_init()


def xchacha_seal(key, nonce, m):
    c = ctypes.create_string_buffer(len(m) + 16)
    n = ctypes.c_ulonglong()
    assert sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        c, ctypes.byref(n), m, ctypes.c_ulonglong(len(m)), None, ctypes.c_ulonglong(0), None,
        nonce, key) == 0
    return c.raw[:n.value]


def xchacha_open(key, nonce, c):
    m = ctypes.create_string_buffer(max(len(c), 1))
    n = ctypes.c_ulonglong()
    if sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            m, ctypes.byref(n), None, c, ctypes.c_ulonglong(len(c)), None, ctypes.c_ulonglong(0),
            nonce, key) != 0:
        raise ValueError("xchacha20-poly1305: authentication failed")
    return m.raw[:n.value]


def ecb(psk, block, encrypt):
    c = Cipher(algorithms.AES(psk), modes.ECB())
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(block) + op.finalize()


def packet(method, psk, sid, pid, body):
    """separate header | AEAD(body), or for chacha20-poly1305 nonce | XChaCha(ids | body)."""
    hdr = sid + struct.pack(">Q", pid)
    if "chacha" in method:
        nonce = os.urandom(24)
        return nonce + xchacha_seal(psk, nonce, hdr + body)
    return ecb(psk, hdr, True) + AESGCM(subkey(psk, sid)).encrypt(hdr[4:], body, None)


def unpacket(method, psk, pkt):
    """(session ID, packet ID, body) of a packet."""
    if "chacha" in method:
        pt = xchacha_open(psk, pkt[:24], pkt[24:])
        return pt[:8], struct.unpack(">Q", pt[8:16])[0], pt[16:]
    hdr = ecb(psk, pkt[:16], False)
    return hdr[:8], struct.unpack(">Q", hdr[8:])[0], AESGCM(subkey(psk, hdr[:8])).decrypt(
        hdr[4:], pkt[16:], None)


def client_packet(method, psk, sid, pid, port, payload, skew=0, padding=b""):
    body = struct.pack(">BQH", 0, int(time.time()) + skew, len(padding)) + padding + \
        encode_addr("127.0.0.1", port) + payload
    return packet(method, psk, sid, pid, body)


def server_body(body, client_sid):
    """Checks a server-to-client body as the document says; returns (address, payload)."""
    typ, ts = body[0], struct.unpack(">Q", body[1:9])[0]
    assert typ == 1 and abs(ts - time.time()) <= 30, (typ, ts)
    assert body[9:17] == client_sid, "a reply to another client session"
    (plen,) = struct.unpack(">H", body[17:19])
    rest = body[19 + plen:]
    assert rest[0] == 1, rest[:1]
    return rest[1:5], struct.unpack(">H", rest[5:7])[0], rest[7:]


def udp_sock(timeout=3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(timeout)
    return s


def silent(sock, secs=0.7):
    sock.settimeout(secs)
    try:
        sock.recvfrom(65535)
        return False
    except socket.timeout:
        return True


def test_ssserver_answers_spec_packets_by_session_and_follows_a_roaming_client():
    echo = UdpEcho()
    for method in METHODS:
        psk = key_of(method)
        sp = free_port()
        # One worker, and three: the kernel may hand a moved client, or a replay sent
        # from another address, to a worker that does not hold the session, which
        # hands it to the one that does.
        workers = 1 if method == "2022-blake3-aes-128-gcm" else 3
        srv = ssserver(sp, method, password=b64(psk), extra=["-u", "--workers", str(workers)])
        sid = os.urandom(8)
        a = udp_sock()
        a.sendto(client_packet(method, psk, sid, 0, echo.port, b"first"), ("127.0.0.1", sp))
        pkt, _ = a.recvfrom(65535)
        ssid, spid, body = unpacket(method, psk, pkt)
        assert ssid != sid and spid == 0
        ip, port, payload = server_body(body, sid)
        assert (ip, port, payload) == (socket.inet_aton("127.0.0.1"), echo.port, b"first")
        # The same session from another address (a client that moved): the reply
        # follows it there.
        b = udp_sock(timeout=3)
        b.sendto(client_packet(method, psk, sid, 1, echo.port, b"moved", padding=b"\0" * 40),
                 ("127.0.0.1", sp))
        got = b.recvfrom(65535)[0]
        ssid2, spid2, body = unpacket(method, psk, got)
        assert ssid2 == ssid and spid2 == 1 and server_body(body, sid)[2] == b"moved"
        # Many moves: each new address reaches the session, whichever worker takes it.
        for i in range(8):
            m = udp_sock(timeout=3)
            m.sendto(client_packet(method, psk, sid, 2 + i, echo.port, b"move %d" % i),
                     ("127.0.0.1", sp))
            assert server_body(unpacket(method, psk, m.recvfrom(65535)[0])[2], sid)[2] == b"move %d" % i
            m.close()
        count = echo.count
        # Replays: a packet ID seen before, an old timestamp, the server's own packet.
        a.sendto(client_packet(method, psk, sid, 0, echo.port, b"first"), ("127.0.0.1", sp))
        a.sendto(client_packet(method, psk, sid, 50, echo.port, b"old", skew=-120), ("127.0.0.1", sp))
        a.sendto(pkt, ("127.0.0.1", sp))
        b.sendto(client_packet(method, psk, sid, 0, echo.port, b"first"), ("127.0.0.1", sp))
        c = udp_sock()
        c.sendto(client_packet(method, psk, sid, 0, echo.port, b"first", padding=b"\0" * 9),
                 ("127.0.0.1", sp))
        c.sendto(client_packet(method, key_of(method), os.urandom(8), 0, echo.port, b"wrong key"),
                 ("127.0.0.1", sp))
        assert silent(a) and silent(b) and silent(c)
        assert echo.count == count, "a replayed or forged packet reached the target"
        # A packet ID far ahead is fine; then one just behind it, once.
        a.sendto(client_packet(method, psk, sid, 5000, echo.port, b"ahead"), ("127.0.0.1", sp))
        a.settimeout(3)
        assert server_body(unpacket(method, psk, a.recvfrom(65535)[0])[2], sid)[2] == b"ahead"
        a.sendto(client_packet(method, psk, sid, 4990, echo.port, b"late"), ("127.0.0.1", sp))
        assert server_body(unpacket(method, psk, a.recvfrom(65535)[0])[2], sid)[2] == b"late"
        a.sendto(client_packet(method, psk, sid, 4990, echo.port, b"late"), ("127.0.0.1", sp))
        assert silent(a)
        srv.stop()
    echo.close()


class SpecUdpServer(UdpPeer):
    """A SIP022 UDP server from the document: opens sslocal's packets, answers
    through the echo semantics, with a server session it can change (a restart)."""

    def __init__(self, method, psk):
        self.method, self.psk = method, psk
        self.sid, self.pid = os.urandom(8), 0
        self.seen = []
        self.reply_to_sid = None
        super().__init__()

    def handle(self, pkt, addr):
        csid, cpid, body = unpacket(self.method, self.psk, pkt)
        typ, ts, plen = struct.unpack(">BQH", body[:11])
        rest = body[11 + plen:]
        self.seen.append((csid, cpid, typ, ts - time.time(), rest))
        reply = struct.pack(">BQ", 1, int(time.time())) + (self.reply_to_sid or csid) + \
            struct.pack(">H", 0) + rest
        self.sock.sendto(packet(self.method, self.psk, self.sid, self.pid, reply), addr)
        self.pid += 1

    def restart(self):
        self.sid, self.pid = os.urandom(8), 0


def test_sslocal_packets_read_by_a_spec_server_and_server_sessions_checked():
    for method in METHODS:
        psk = key_of(method)
        spec = SpecUdpServer(method, psk)
        lp = free_port()
        sslocal(lp, spec.port, method, password=b64(psk), extra=["-u"])
        a = Association(lp)
        for i in range(3):
            a.send("127.0.0.1", 9, b"dgram %d" % i)
            assert a.recv()[2] == b"dgram %d" % i
        csid, cpid, typ, skew, rest = spec.seen[-1]
        assert typ == 0 and abs(skew) <= 2 and cpid == 2, spec.seen[-1]
        assert rest == encode_addr("127.0.0.1", 9) + b"dgram 2"
        assert len({s[0] for s in spec.seen}) == 1, "one client session per association"
        # A restarted server (a new server session) is taken; a third within the minute is not.
        spec.restart()
        a.send("127.0.0.1", 9, b"after restart")
        assert a.recv()[2] == b"after restart"
        spec.restart()
        a.send("127.0.0.1", 9, b"third session")
        a.udp.settimeout(0.7)
        try:
            a.recv()
            raise AssertionError("a third server session within a minute was taken")
        except socket.timeout:
            pass
        # A reply naming another client session is dropped.
        spec.restart()
        spec.reply_to_sid = os.urandom(8)
        a.send("127.0.0.1", 9, b"not yours")
        try:
            a.recv()
            raise AssertionError("a reply to another client session was delivered")
        except socket.timeout:
            pass
        a.close()
        spec.sock.close()
        stop_all()


def test_sslocal_to_ssserver_1000_datagrams_every_method_with_workers():
    echo = UdpEcho()
    for method in METHODS:
        psk = key_of(method)
        sp, lp = free_port(), free_port()
        ssserver(sp, method, password=b64(psk), extra=["-u", "--workers", "2"])
        sslocal(lp, sp, method, password=b64(psk), extra=["-u", "--workers", "2"])
        for _ in range(2):
            a = Association(lp)
            ok = paced_echo(a, echo.port, 1000)
            assert ok == 1000, "%s: only %d of 1000 datagrams came back intact" % (method, ok)
            a.close()
        # The UDP tunnel (-U with -L) too.
        tp = free_port()
        start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(tp),
               "-b", "127.0.0.1", "-k", b64(psk), "-m", method, "-U", "-L",
               "127.0.0.1:%d" % echo.port])
        time.sleep(0.5)
        t = udp_sock()
        t.sendto(b"through the tunnel", ("127.0.0.1", tp))
        assert t.recvfrom(65535)[0] == b"through the tunnel"
        stop_all()
    echo.close()


def eih_packet(method, ipsk, upsk, sid, pid, port, payload):
    """SIP023: the separate header under iPSK, then AES(iPSK, hash(uPSK) ^ header), then the
    body under the user's session subkey."""
    hdr = sid + struct.pack(">Q", pid)
    eih = ecb(ipsk, bytes(a ^ b for a, b in zip(b3_hash16(upsk), hdr)), True)
    body = struct.pack(">BQH", 0, int(time.time()), 0) + encode_addr("127.0.0.1", port) + payload
    return ecb(ipsk, hdr, True) + eih + AESGCM(subkey(upsk, sid)).encrypt(hdr[4:], body, None)


def test_users_by_identity_header_over_udp():
    echo = UdpEcho()
    method = "2022-blake3-aes-256-gcm"
    ipsk = key_of(method)
    users = {"alice": key_of(method), "bob": key_of(method)}
    srv, port = users_server(method, ipsk, users, extra=["-u", "--workers", "2"])
    # From the documents: a packet of bob's; the reply comes under bob's key.
    sid = os.urandom(8)
    a = udp_sock()
    a.sendto(eih_packet(method, ipsk, users["bob"], sid, 0, echo.port, b"bob here"), ("127.0.0.1", port))
    ssid, spid, body = unpacket(method, users["bob"], a.recvfrom(65535)[0])
    assert server_body(body, sid)[2] == b"bob here"
    # A user it does not know: dropped.
    a.sendto(eih_packet(method, ipsk, key_of(method), os.urandom(8), 0, echo.port, b"?"),
             ("127.0.0.1", port))
    assert silent(a)
    # sslocal with "iPSK:uPSK": alice's datagrams, counted as hers.
    lp = free_port()
    sslocal(lp, port, method, password="%s:%s" % (b64(ipsk), b64(users["alice"])), extra=["-u"])
    assoc = Association(lp)
    assert paced_echo(assoc, echo.port, 200, maxlen=1000) == 200
    got = user_bytes(srv)
    assert got.get("alice", 0) >= 200 * 8, got
    assoc.close()
    echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_ssserver_answers_spec_packets_by_session_and_follows_a_roaming_client,
        test_sslocal_packets_read_by_a_spec_server_and_server_sessions_checked,
        test_sslocal_to_ssserver_1000_datagrams_every_method_with_workers,
        test_users_by_identity_header_over_udp,
    ], "sip022-udp"))
