# SPDX-License-Identifier: MIT
"""SIP022 (Shadowsocks 2022) over TCP: ssserver and sslocal checked against a
client and a server written here from the SIP022 document (python3-cryptography
for the AEADs, b3sum for BLAKE3), then against each other with several workers;
replays, old timestamps, reflections, wrong keys and bad headers reach no target."""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
# aead_probe moves to Debian's python3 first when this one lacks python3-cryptography.
from aead_probe import AESGCM, ChaCha20Poly1305  # noqa: E402
from sstest import *  # noqa: E402,F401,F403

METHODS = {"2022-blake3-aes-128-gcm": (16, AESGCM), "2022-blake3-aes-256-gcm": (32, AESGCM),
           "2022-blake3-chacha20-poly1305": (32, ChaCha20Poly1305)}
SIP022_MB = int(os.environ.get("SSBPF_SIP022_MB", "1024"))  # each way, for one method


# --- the protocol, from the document -------------------------------------------

def subkey(psk, salt):
    """BLAKE3 derive_key("shadowsocks 2022 session subkey", psk || salt), by b3sum."""
    r = subprocess.run(["b3sum", "--derive-key", "shadowsocks 2022 session subkey", "--raw",
                        "--length", str(len(psk))], input=psk + salt, capture_output=True,
                       check=True)
    return r.stdout


class Aead:
    """One direction: the session AEAD with its little-endian 12-byte counter."""

    def __init__(self, method, psk, salt):
        self.a = METHODS[method][1](subkey(psk, salt))
        self.n = 0

    def _nonce(self):
        v = self.n.to_bytes(12, "little")
        self.n += 1
        return v

    def seal(self, pt):
        return self.a.encrypt(self._nonce(), pt, None)

    def open(self, ct):
        return self.a.decrypt(self._nonce(), ct, None)


def key_of(method):
    return os.urandom(METHODS[method][0])


def b64(k):
    return base64.b64encode(k).decode()


def request(method, psk, target_port, payload, skew=0, padding=b"", typ=0, salt=None, padlen=None):
    """salt | seal(type, time, len) | seal(addr, padding len, padding, payload)."""
    salt = salt or os.urandom(len(psk))
    a = Aead(method, psk, salt)
    plen = len(padding) if padlen is None else padlen
    var = encode_addr("127.0.0.1", target_port) + struct.pack(">H", plen) + padding + payload
    fixed = struct.pack(">BQH", typ, int(time.time()) + skew, len(var))
    return salt + a.seal(fixed) + a.seal(var), salt


def read_response(sock, method, psk, req_salt):
    """The response header (checked as the document says) and its first payload chunk."""
    kl = len(psk)
    salt = recv_exact(sock, kl)
    a = Aead(method, psk, salt)
    hdr = a.open(recv_exact(sock, 1 + 8 + kl + 2 + 16))
    typ, ts = hdr[0], struct.unpack(">Q", hdr[1:9])[0]
    assert typ == 1, "response type %d" % typ
    assert abs(ts - time.time()) <= 30, "response timestamp %d" % ts
    assert hdr[9:9 + kl] == req_salt, "the response names another request"
    n = struct.unpack(">H", hdr[9 + kl:])[0]
    return a.open(recv_exact(sock, n + 16)), a


def server_port(srv):
    return int(srv.args[srv.args.index("-p") + 1])


def sip022_server(method, psk, extra=(), **kw):
    return ssserver(free_port(), method, password=b64(psk), extra=list(extra), **kw)


# --- ssserver and sslocal against the document ------------------------------------

def test_ssserver_answers_a_request_built_from_the_spec():
    echo = Server(echo_handler)
    for method in METHODS:
        psk = key_of(method)
        srv = sip022_server(method, psk)
        for payload, padding in ((b"hello sip022", b""), (b"x" * 70000, b""), (b"", b"p" * 900)):
            flight, salt = request(method, psk, echo.port, payload[:65000], padding=padding)
            s = socket.create_connection(("127.0.0.1", server_port(srv)), timeout=10)
            s.sendall(flight)
            if not payload:
                # Padding only: the target is reached; what we send next comes back.
                a = Aead(method, psk, salt)
                a.n = 2
                s.sendall(a.seal(struct.pack(">H", 3)) + a.seal(b"abc"))
                payload = b"abc"
            got, a = read_response(s, method, psk, salt)
            while len(got) < len(payload[:65000]):
                n = struct.unpack(">H", a.open(recv_exact(s, 18)))[0]
                got += a.open(recv_exact(s, n + 16))
            assert got == payload[:65000], (method, len(got))
            s.close()
        srv.stop()
    echo.close()


class SpecServer:
    """A SIP022 server from the document: decrypts sslocal's request, checks it,
    answers with a response naming it (or, with wrong_salt, another request)."""

    def __init__(self, method, psk, wrong_salt=False):
        self.method, self.psk, self.wrong = method, psk, wrong_salt
        self.seen = []
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        kl = len(self.psk)
        c.settimeout(10)
        first = c.recv(65536)  # salt and headers come in one write
        salt = first[:kl]
        a = Aead(self.method, self.psk, salt)
        fixed = a.open(first[kl:kl + 27])
        typ, ts, vlen = struct.unpack(">BQH", fixed)
        rest = first[kl + 27:]
        while len(rest) < vlen + 16:
            rest += c.recv(65536)
        var = a.open(rest[:vlen + 16])
        alen = 7  # 127.0.0.1:port
        (plen,) = struct.unpack(">H", var[alen:alen + 2])
        payload = var[alen + 2 + plen:]
        self.seen.append({"type": typ, "skew": ts - time.time(), "addr": var[:alen],
                          "padding": plen, "payload": payload, "one_write": len(first) >= kl + 27 + vlen + 16})
        rsalt = os.urandom(kl)
        r = Aead(self.method, self.psk, rsalt)
        named = os.urandom(kl) if self.wrong else salt
        body = b"answer to " + payload
        c.sendall(rsalt + r.seal(struct.pack(">BQ", 1, int(time.time())) + named +
                                 struct.pack(">H", len(body))) + r.seal(body))
        time.sleep(0.5)
        c.close()

    def close(self):
        self.lsock.close()


def test_sslocal_request_read_by_a_spec_server_and_response_checked():
    for method in METHODS:
        psk = key_of(method)
        spec = SpecServer(method, psk)
        lp = free_port()
        sslocal(lp, spec.port, method, password=b64(psk))
        s, rep = socks_connect(lp, "127.0.0.1", 4242)
        assert rep == 0
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert recv_all(s) == b"answer to GET / HTTP/1.0\r\n\r\n"
        seen = spec.seen[-1]
        assert seen["type"] == 0 and abs(seen["skew"]) <= 2, seen
        assert seen["addr"] == encode_addr("127.0.0.1", 4242)
        assert seen["payload"] == b"GET / HTTP/1.0\r\n\r\n" and seen["one_write"], seen
        # A client that sends nothing first: the header goes alone, with padding.
        s, rep = socks_connect(lp, "127.0.0.1", 4242)
        wait_until(lambda: len(spec.seen) == 2, timeout=5, what="the padded header alone")
        assert spec.seen[-1]["payload"] == b"" and 1 <= spec.seen[-1]["padding"] <= 900
        s.close()
        stop_all()
        spec.close()
    # A response that names another request is refused: nothing reaches the client.
    method = "2022-blake3-aes-256-gcm"
    psk = key_of(method)
    spec = SpecServer(method, psk, wrong_salt=True)
    lp = free_port()
    loc = sslocal(lp, spec.port, method, password=b64(psk))
    s, rep = socks_connect(lp, "127.0.0.1", 4242)
    s.sendall(b"ping")
    data, how = read_to_end(s)
    assert data == b"", data
    assert "malformed input in stream from server" in loc.log_text()
    spec.close()


# --- replays and probes ------------------------------------------------------------

def held_to_deadline(sock, t0, deadline=2.0):
    assert closed_within(sock, deadline + 8)
    return time.time() - t0 >= deadline - 0.2


def test_replays_old_requests_reflections_and_bad_headers_reach_no_target():
    method = "2022-blake3-aes-256-gcm"
    psk = key_of(method)
    echo = Server(echo_handler)
    # Several workers: a replay may land on any of them.
    srv = sip022_server(method, psk, extra=["--handshake-timeout", "2", "--workers", "3"])
    port = server_port(srv)
    flight, salt = request(method, psk, echo.port, b"once")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(flight)
    got, _ = read_response(s, method, psk, salt)
    assert got == b"once"
    wait_until(lambda: echo.accepts == 1, what="the original reaches the target")
    cases = {}
    for i in range(5):
        cases["replay %d" % i] = flight
    cases["120 s old"] = request(method, psk, echo.port, b"old", skew=-120)[0]
    cases["40 s ahead"] = request(method, psk, echo.port, b"ahead", skew=40)[0]
    cases["wrong key"] = request(method, key_of(method), echo.port, b"wrong")[0]
    cases["type 1"] = request(method, psk, echo.port, b"typed", typ=1)[0]
    good, _ = request(method, psk, echo.port, b"x")
    cases["header cut"] = good[:32 + 20]
    cases["no payload, no padding"] = request(method, psk, echo.port, b"")[0]
    cases["padding past the header"] = request(method, psk, echo.port, b"", padding=b"p" * 10,
                                               padlen=500)[0]
    # The server's own response sent back to it.
    s2 = socket.create_connection(("127.0.0.1", port), timeout=10)
    f2, salt2 = request(method, psk, echo.port, b"reflect me")
    s2.sendall(f2)
    response = s2.recv(65536)
    cases["reflected response"] = response
    wait_until(lambda: echo.accepts == 2, what="the second original reaches the target")
    socks = {}
    t0 = time.time()
    for name, data in cases.items():
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(data)
        socks[name] = c
    for name, c in socks.items():
        assert held_to_deadline(c, t0), "%s: closed before the deadline" % name
    assert echo.accepts == 2, "a replay or a bad request reached the target"
    log = srv.log_text()
    assert log.count("replayed salt") == 5, log[-3000:]
    assert log.count("timestamp more than 30 s off") == 2, log[-3000:]
    s.close()
    s2.close()
    echo.close()


# --- sslocal <-> ssserver ---------------------------------------------------------

def test_every_method_relays_big_streams_and_half_close_with_workers():
    hasher = Server(hash_reply_handler)
    blaster_data = os.urandom(1 << 20)

    def send_mib(sock):
        n = struct.unpack(">I", recv_exact(sock, 4))[0]
        for _ in range(n):
            sock.sendall(blaster_data)
        sock.close()
    sender = Server(send_mib)
    for method in METHODS:
        mb = SIP022_MB if method == "2022-blake3-aes-256-gcm" else 64
        psk = key_of(method)
        sp, lp = free_port(), free_port()
        ssserver(sp, method, password=b64(psk), extra=["--workers", "2"])
        sslocal(lp, sp, method, password=b64(psk), extra=["--workers", "2"])
        # Up, then FIN: the target's hash comes back over the half-closed pair.
        s, rep = socks_connect(lp, "127.0.0.1", hasher.port, timeout=60)
        h = hashlib.sha256()
        for _ in range(mb):
            s.sendall(blaster_data)
            h.update(blaster_data)
        s.shutdown(socket.SHUT_WR)
        data, how = read_to_end(s, timeout=120)
        assert data.decode().split() == [str(mb << 20), h.hexdigest()], (method, data)
        # Down.
        s, rep = socks_connect(lp, "127.0.0.1", sender.port, timeout=60)
        s.sendall(struct.pack(">I", mb))
        s.settimeout(120)
        n, digest = sha256_stream(s)
        assert n == mb << 20, (method, n)
        assert digest == hashlib.sha256(blaster_data * mb).hexdigest()
        # Short connections.
        echo = Server(echo_handler)
        for i in range(200):
            assert socks_echo(lp, "127.0.0.1", echo.port, b"short %d" % i) == b"short %d" % i
        echo.close()
        stop_all()
    hasher.close()
    sender.close()


def test_keys_genkey_uri_and_what_is_refused():
    ss = os.path.join(BUILD, "ssserver")
    # A password that is not a key of the right length: exit 2, saying how to make one.
    for k in ("test-pw", b64(os.urandom(16))):
        r = subprocess.run([ss, "-m", "2022-blake3-aes-256-gcm", "-k", k, "-p", "1"],
                           capture_output=True, timeout=10)
        assert r.returncode == 2, r
        assert b"openssl rand -base64 32" in r.stderr, r.stderr
    # --genkey gives a key of the method's length.
    for method, (kl, _) in METHODS.items():
        r = subprocess.run([os.path.join(BUILD, "sslocal"), "--genkey", method],
                           capture_output=True, timeout=10)
        assert r.returncode == 0 and len(base64.b64decode(r.stdout.strip())) == kl, r
    # A SIP002 URI with the userinfo percent-encoded, as SIP002 asks for 2022 methods.
    method = "2022-blake3-aes-128-gcm"
    psk = key_of(method)
    sp, lp = free_port(), free_port()
    ssserver(sp, method, password=b64(psk))
    uri = "ss://%s:%s@127.0.0.1:%d#t" % (method, urllib.parse.quote(b64(psk), safe=""), sp)
    start([os.path.join(BUILD, "sslocal"), "--server-url", uri, "-l", str(lp), "-b", "127.0.0.1"],
          wait=lp)
    echo = Server(echo_handler)
    assert socks_echo(lp, "127.0.0.1", echo.port, b"via uri") == b"via uri"
    echo.close()
    # Users on a 2022 port need its password (the identity PSK), and an AES method.
    cfg = os.path.join(LOGDIR, "users.json")
    for m, pw in ((method, None), ("2022-blake3-chacha20-poly1305", b64(os.urandom(32)))):
        conf = {"server_port": free_port(), "method": m,
                "users": [{"name": "a", "password": b64(os.urandom(METHODS[m][0]))}]}
        if pw:
            conf["password"] = pw
        with open(cfg, "w") as f:
            json.dump(conf, f)
        r = subprocess.run([ss, "-c", cfg], capture_output=True, timeout=10)
        assert r.returncode == 2 and b"SIP023" in r.stderr, r


# --- SIP023: users on one port, found by their identity header -----------------

def b3_hash16(k):
    return subprocess.run(["b3sum", "--raw", "--length", "16"], input=k, capture_output=True,
                          check=True).stdout


def identity_header(ipsk, salt, upsk):
    """AES(derive_key("shadowsocks 2022 identity subkey", iPSK || salt), hash(uPSK)[0..16])."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    sub = subprocess.run(["b3sum", "--derive-key", "shadowsocks 2022 identity subkey", "--raw",
                          "--length", str(len(ipsk))], input=ipsk + salt, capture_output=True,
                         check=True).stdout
    e = Cipher(algorithms.AES(sub), modes.ECB()).encryptor()
    return e.update(b3_hash16(upsk)) + e.finalize()


def users_server(method, ipsk, users, extra=()):
    port = free_port()
    cfg = os.path.join(LOGDIR, "users-%d.json" % port)
    with open(cfg, "w") as f:
        json.dump({"server": "127.0.0.1", "server_port": port, "method": method,
                   "password": b64(ipsk),
                   "users": [{"name": n, "password": b64(k)} for n, k in users.items()]}, f)
    srv = start([os.path.join(BUILD, "ssserver"), "-c", cfg, "--allow-private",
                 "--handshake-timeout", "2"] + list(extra), wait=port)
    return srv, port


def user_bytes(srv):
    srv.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"user \d+/(\w+): (\d+) bytes", srv.log_text())}


def test_users_found_by_identity_header_and_counted_apart():
    echo = Server(echo_handler)
    hasher = Server(hash_reply_handler)
    for method in ("2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm"):
        ipsk = key_of(method)
        users = {"u%d" % i: key_of(method) for i in range(50)}
        srv, port = users_server(method, ipsk, users, extra=["--workers", "2"])
        # A request built from the documents, for user u7.
        upsk = users["u7"]
        flight, salt = request(method, upsk, echo.port, b"who am i")
        flight = salt + identity_header(ipsk, salt, upsk) + flight[len(salt):]
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(flight)
        got, _ = read_response(s, method, upsk, salt)
        assert got == b"who am i"
        s.close()
        # sslocal with "iPSK:uPSK", for two users, sizes apart.
        sizes = {"u1": 3 << 20, "u42": 1 << 20}
        for name, size in sizes.items():
            lp = free_port()
            sslocal(lp, port, method, password="%s:%s" % (b64(ipsk), b64(users[name])))
            s, rep = socks_connect(lp, "127.0.0.1", hasher.port)
            data = os.urandom(size)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            reply, _ = read_to_end(s)
            assert reply.decode().split() == [str(size), hashlib.sha256(data).hexdigest()]
        got = user_bytes(srv)
        for name, size in sizes.items():
            assert size <= got.get(name, 0) < size + (64 << 10), (name, got)
        # A user the server does not have, and a wrong identity PSK: probes, held.
        stranger = key_of(method)
        t0 = time.time()
        bad = []
        for ik, uk in ((ipsk, stranger), (key_of(method), upsk)):
            f, salt = request(method, uk, echo.port, b"x")
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(salt + identity_header(ik, salt, uk) + f[len(salt):])
            bad.append(c)
        for c in bad:
            assert closed_within(c, 10) and time.time() - t0 >= 1.8
        stop_all()
    echo.close()
    hasher.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_ssserver_answers_a_request_built_from_the_spec,
        test_sslocal_request_read_by_a_spec_server_and_response_checked,
        test_replays_old_requests_reflections_and_bad_headers_reach_no_target,
        test_every_method_relays_big_streams_and_half_close_with_workers,
        test_keys_genkey_uri_and_what_is_refused,
        test_users_found_by_identity_header_and_counted_apart,
    ], "sip022"))
