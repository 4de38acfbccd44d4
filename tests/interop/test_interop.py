# SPDX-License-Identifier: MIT
"""Interop with the real shadowsocks-libev from Debian (ss-local, ss-server,
ss-tunnel) for all five AEAD methods, checked by content hash both ways."""
import hashlib
import os
import shutil
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

SIZE = 8 << 20


def roundtrip(connect):
    """Sends SIZE random bytes up and reads them back; checks both hashes."""
    hs = Server(sized_hash_handler)
    echo = Server(echo_handler)
    data = os.urandom(SIZE)
    s = connect(hs.port)
    s.sendall(struct.pack(">Q", SIZE) + data)
    reply = s.makefile("rb").readline().decode().split()
    s.close()
    assert reply == [str(SIZE), hashlib.sha256(data).hexdigest()], "upstream hash differs: %r" % reply
    s = connect(echo.port)
    down = []

    t = threading.Thread(target=lambda: down.append(recv_exact(s, SIZE)))
    t.start()
    s.sendall(data)
    t.join(60)
    s.close()
    assert down and hashlib.sha256(down[0]).digest() == hashlib.sha256(data).digest(), "echo hash differs"
    hs.close()
    echo.close()


def via_socks(lp):
    def connect(port):
        s, rep = socks_connect(lp, "127.0.0.1", port, timeout=30)
        assert rep == 0
        return s
    return connect


def libev(name, args, wait):
    return start([shutil.which(name)] + args, name=name, wait=wait)


def test_libev_sslocal_to_our_ssserver_all_methods():
    for m in AEAD_METHODS:
        sp, lp = free_port(), free_port()
        ssserver(sp, m, password="interop-" + m)
        libev("ss-local", ["-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-k", "interop-" + m, "-m", m], lp)
        roundtrip(via_socks(lp))
        stop_all()


def test_our_sslocal_to_libev_ssserver_all_methods():
    for m in AEAD_METHODS:
        sp, lp = free_port(), free_port()
        libev("ss-server", ["-s", "127.0.0.1", "-p", str(sp), "-k", "interop-" + m, "-m", m], sp)
        sslocal(lp, sp, m, password="interop-" + m)
        roundtrip(via_socks(lp))
        stop_all()


def tunnel_connect(tp):
    return lambda port: socket.create_connection(("127.0.0.1", tp), timeout=30)


def test_tunnels_both_ways():
    m = "chacha20-ietf-poly1305"
    hs = Server(sized_hash_handler)
    # libev ss-tunnel -> our ssserver
    sp, tp = free_port(), free_port()
    ssserver(sp, m)
    libev("ss-tunnel", ["-s", "127.0.0.1", "-p", str(sp), "-l", str(tp), "-k", "test-pw", "-m", m,
                        "-L", "127.0.0.1:%d" % hs.port], tp)
    data = os.urandom(SIZE)
    s = socket.create_connection(("127.0.0.1", tp), timeout=30)
    s.sendall(struct.pack(">Q", SIZE) + data)
    assert s.makefile("rb").readline().decode().split() == [str(SIZE), hashlib.sha256(data).hexdigest()]
    s.close()
    stop_all()
    # our sslocal in tunnel mode -> libev ss-server
    sp, tp = free_port(), free_port()
    libev("ss-server", ["-s", "127.0.0.1", "-p", str(sp), "-k", "test-pw", "-m", "aes-128-gcm"], sp)
    start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(tp), "-k", "test-pw",
           "-m", "aes-128-gcm", "-L", "127.0.0.1:%d" % hs.port], wait=tp)
    s = socket.create_connection(("127.0.0.1", tp), timeout=30)
    s.sendall(struct.pack(">Q", SIZE) + data)
    assert s.makefile("rb").readline().decode().split() == [str(SIZE), hashlib.sha256(data).hexdigest()]
    s.close()
    hs.close()


def test_curl_through_libev_local_and_our_server_by_domain():
    web = HttpFiles(LOGDIR)
    path = random_file(4 << 20, "interop.bin")
    sp, lp = free_port(), free_port()
    ssserver(sp, "xchacha20-ietf-poly1305")
    libev("ss-local", ["-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-k", "test-pw", "-m",
                       "xchacha20-ietf-poly1305"], lp)
    r = curl(["--socks5-hostname", "127.0.0.1:%d" % lp, "http://localhost:%d/interop.bin" % web.port])
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == sha256_file(path)
    web.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_libev_sslocal_to_our_ssserver_all_methods,
        test_our_sslocal_to_libev_ssserver_all_methods,
        test_tunnels_both_ways,
        test_curl_through_libev_local_and_our_server_by_domain,
    ], "interop"))
