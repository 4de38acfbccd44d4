# SPDX-License-Identifier: MIT
"""HTTP proxy (CONNECT and absolute form) and SOCKS4/4a on sslocal's SOCKS5 port,
driven by curl and by hand: downloads with sha256, an upload, two targets on one
client connection, Basic authentication, malformed requests answered and closed,
and --mode http."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403


def files():
    d = os.path.join(LOGDIR, "www")
    os.makedirs(d, exist_ok=True)
    path = random_file(8 << 20, "www/data.bin")
    with open(os.path.join(d, "small.txt"), "w") as f:
        f.write("small\n")
    return HttpFiles(d), sha256_file(path)


def fetch(args):
    r = curl(args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def test_curl_http_socks4_and_socks5_on_one_port():
    web, digest = files()
    srv, loc, lp = pair()
    url = "http://127.0.0.1:%d/data.bin" % web.port
    proxies = [["-x", "http://127.0.0.1:%d" % lp],                 # absolute form
               ["-p", "-x", "http://127.0.0.1:%d" % lp],           # CONNECT
               ["--socks4", "127.0.0.1:%d" % lp], ["--socks4a", "127.0.0.1:%d" % lp],
               ["--socks5-hostname", "127.0.0.1:%d" % lp]]
    for px in proxies:
        body = fetch(px + [url])
        assert hashlib.sha256(body).hexdigest() == digest, (px, len(body))
    # SOCKS4a and HTTP with a name the server resolves.
    assert fetch(["--socks4a", "127.0.0.1:%d" % lp, "http://localhost:%d/small.txt" % web.port]) == b"small\n"
    assert fetch(["-x", "http://127.0.0.1:%d" % lp, "http://localhost:%d/small.txt" % web.port]) == b"small\n"
    # An upload in absolute form: the body follows the rewritten head.
    up = random_file(3 << 20, "up.bin")
    out = fetch(["-x", "http://127.0.0.1:%d" % lp, "-T", up, "http://127.0.0.1:%d/up" % web.port])
    assert out.decode().split() == [str(3 << 20), sha256_file(up)], out
    assert loc.poll() is None


def http_exchange(lp, request, timeout=10):
    s = socket.create_connection(("127.0.0.1", lp), timeout=timeout)
    s.sendall(request)
    data = recv_all(s)
    s.close()
    return data


def test_two_targets_keep_alive_and_refusals():
    web, _ = files()
    web2, _ = files()
    srv, loc, lp = pair()
    # Two requests for two origins on one connection: the first is answered, then
    # the connection closes cleanly (the origin was asked to close); the client's
    # next request goes on a new connection, as curl does with two URLs.
    reqs = b"".join(b"GET http://127.0.0.1:%d/small.txt HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n"
                    % p for p in (web.port, web2.port))
    data = http_exchange(lp, reqs)
    assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200"), data[:200]
    assert data.endswith(b"small\n") and data.count(b"HTTP/1.") == 1, data
    out = fetch(["-x", "http://127.0.0.1:%d" % lp, "http://127.0.0.1:%d/small.txt" % web.port,
                 "http://127.0.0.1:%d/small.txt" % web2.port])
    assert out == b"small\nsmall\n", out
    for bad, status in ((b"GARBAGE\r\n\r\n", b"400"), (b"GET /local HTTP/1.1\r\n\r\n", b"400"),
                        (b"GET https://127.0.0.1/ HTTP/1.1\r\n\r\n", b"501"),
                        (b"GET http://127.0.0.1:1/ HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n", b"431")):
        data = http_exchange(lp, bad)
        assert data.startswith(b"HTTP/1.1 " + status), (bad[:40], data[:100])
    # A server that cannot be reached: 502 from the proxy. (An origin the server cannot
    # reach is a close after 200: the protocol does not tell sslocal.)
    dead = sslocal(free_port(), free_port())
    lp2 = int(dead.args[dead.args.index("-l") + 1])
    assert http_exchange(lp2, b"CONNECT 127.0.0.1:80 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 502")
    # A byte that starts no known protocol: closed.
    assert http_exchange(lp, b"\x01\x02\x03") == b""
    assert loc.poll() is None


def test_basic_authentication_and_mode_http():
    web, _ = files()
    sp, lp = free_port(), free_port()
    ssserver(sp)
    start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-k", "test-pw",
           "-m", "chacha20-ietf-poly1305", "--mode", "http", "--socks5-username", "u",
           "--socks5-password", "p w"], wait=lp)
    url = "http://127.0.0.1:%d/small.txt" % web.port
    assert fetch(["-x", "http://u:p%%20w@127.0.0.1:%d" % lp, url]) == b"small\n"
    assert fetch(["-p", "-x", "http://u:p%%20w@127.0.0.1:%d" % lp, url]) == b"small\n"
    r = curl(["-x", "http://127.0.0.1:%d" % lp, "-o", "/dev/null", "-w", "%{http_code}", url])
    assert r.stdout == b"407", r.stdout
    r = curl(["-x", "http://u:wrong@127.0.0.1:%d" % lp, "-o", "/dev/null", "-w", "%{http_code}", url])
    assert r.stdout == b"407", r.stdout
    # SOCKS4 carries no password: refused while one is required; SOCKS5 with it works.
    assert curl(["--socks4", "127.0.0.1:%d" % lp, url]).returncode != 0
    assert fetch(["--socks5-hostname", "u:p%%20w@127.0.0.1:%d" % lp, url]) == b"small\n"


if __name__ == "__main__":
    sys.exit(run_tests([test_curl_http_socks4_and_socks5_on_one_port, test_two_targets_keep_alive_and_refusals,
                        test_basic_authentication_and_mode_http], "proxy_protocols"))
