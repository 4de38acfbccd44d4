# SPDX-License-Identifier: MIT
"""A Shadowsocks AEAD (SIP004) client written from the document, for tests that
talk to ssserver without an sslocal in between: EVP_BytesToKey for the master
key, HKDF-SHA1 ("ss-subkey") per salt, little-endian counter nonces, sealed
length chunks. Only aes-256-gcm (the method the tests use most)."""
import hashlib
import hmac
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(__file__))
from sstest import recv_exact  # noqa: E402

SYS_PYTHON = "/usr/bin/python3"  # Debian's, where python3-cryptography lives
try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305  # noqa: F401
except ImportError:
    if sys.executable != SYS_PYTHON and os.path.exists(SYS_PYTHON):
        os.execv(SYS_PYTHON, [SYS_PYTHON] + sys.argv)
    raise

KEY = 32  # aes-256-gcm: key and salt length
TAG = 16


def master_key(password, n=KEY):
    """EVP_BytesToKey with MD5, as every Shadowsocks implementation derives it."""
    if isinstance(password, str):
        password = password.encode()
    out, prev = b"", b""
    while len(out) < n:
        prev = hashlib.md5(prev + password).digest()
        out += prev
    return out[:n]


def subkey(master, salt):
    prk = hmac.new(salt, master, hashlib.sha1).digest()
    out, t, i = b"", b"", 1
    while len(out) < KEY:
        t = hmac.new(prk, t + b"ss-subkey" + bytes([i]), hashlib.sha1).digest()
        out += t
        i += 1
    return out[:KEY]


def nonce(n):
    return n.to_bytes(12, "little")


def ipv4_header(port, host="127.0.0.1"):
    return b"\x01" + socket.inet_aton(host) + struct.pack(">H", port)


def tcp_flight(password, port, payload):
    """salt | sealed length | sealed (address header + payload): a client's first flight."""
    salt = os.urandom(KEY)
    a = AESGCM(subkey(master_key(password), salt))
    plain = ipv4_header(port) + payload
    return salt + a.encrypt(nonce(0), struct.pack(">H", len(plain)), None) + \
        a.encrypt(nonce(1), plain, None)


def udp_datagram(password, port, payload):
    salt = os.urandom(KEY)
    plain = ipv4_header(port) + payload
    return salt + AESGCM(subkey(master_key(password), salt)).encrypt(nonce(0), plain, None)


def open_udp_reply(password, data):
    """The address header and payload of a server's datagram (raises on a wrong key)."""
    salt, sealed = data[:KEY], data[KEY:]
    plain = AESGCM(subkey(master_key(password), salt)).decrypt(nonce(0), sealed, None)
    return plain[:7], plain[7:]


def read_chunk(sock, aead, counter):
    """One sealed length and its sealed payload; returns (payload, next counter)."""
    n = struct.unpack(">H", aead.decrypt(nonce(counter), recv_exact(sock, 2 + TAG), None))[0]
    return aead.decrypt(nonce(counter + 1), recv_exact(sock, n + TAG), None), counter + 2


def tcp_round_trip(server_port, password, target_port, payload, timeout=3):
    """Sends payload to target_port (an echo) through ssserver; returns what came back, or
    None when the server closed or said nothing (a wrong key is never answered)."""
    try:
        with socket.create_connection(("127.0.0.1", server_port), timeout=timeout) as s:
            s.sendall(tcp_flight(password, target_port, payload))
            salt = recv_exact(s, KEY)
            aead = AESGCM(subkey(master_key(password), salt))
            got, counter = b"", 0
            while len(got) < len(payload):
                chunk, counter = read_chunk(s, aead, counter)
                got += chunk
            return got
    except (OSError, AssertionError, InvalidTag):
        return None


def udp_round_trip(server_port, password, target_port, payload, timeout=2):
    """A datagram to target_port (a UDP echo) through ssserver; its payload back, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(udp_datagram(password, target_port, payload), ("127.0.0.1", server_port))
        try:
            data = s.recv(65536)
        except OSError:
            return None
        header, body = open_udp_reply(password, data)
        assert header == ipv4_header(target_port), header
        return body
