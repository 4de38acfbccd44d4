# SPDX-License-Identifier: MIT
"""sslocal -> ssserver end to end over loopback: curl, big transfers, concurrency,
half-close, tunnel mode, IPv6, DNS through c-ares, configuration, signals."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

BIG_MB = int(os.environ.get("SSBPF_BIG_MB", "512"))


def test_curl_big_download_and_upload():
    path = random_file(BIG_MB << 20, "big.bin")
    want = sha256_file(path)
    web = HttpFiles(os.path.dirname(path))
    srv, loc, lp = pair()
    try:
        t0 = time.time()
        r = curl(["--socks5-hostname", "127.0.0.1:%d" % lp,
                  "http://127.0.0.1:%d/big.bin" % web.port, "-o", path + ".down"])
        dt = time.time() - t0
        assert r.returncode == 0, r.stderr
        assert sha256_file(path + ".down") == want, "download hash differs"
        print("download %d MiB in %.2fs: %.2f Gbit/s" % (BIG_MB, dt, BIG_MB * 8.0 / 1024 / dt))
        os.unlink(path + ".down")
        t0 = time.time()
        r = curl(["--socks5-hostname", "127.0.0.1:%d" % lp, "-T", path,
                  "http://localhost:%d/up" % web.port])
        dt = time.time() - t0
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().split() == [str(BIG_MB << 20), want], r.stdout
        print("upload %d MiB in %.2fs: %.2f Gbit/s" % (BIG_MB, dt, BIG_MB * 8.0 / 1024 / dt))
    finally:
        web.close()
        os.unlink(path)


def test_200_concurrent_connections():
    echo = Server(echo_handler)
    srv, loc, lp = pair()
    base = fd_baseline(srv, loc)
    results = []
    payloads = [os.urandom(1000 + i * 300) for i in range(200)]
    barrier = threading.Barrier(200, timeout=30)

    def one(i):
        try:
            s, rep = socks_connect(lp, "127.0.0.1", echo.port, timeout=30)
            assert rep == 0
            barrier.wait()  # all 200 are open at once
            s.sendall(payloads[i])
            s.shutdown(socket.SHUT_WR)
            back = recv_all(s)
            s.close()
            results.append(back == payloads[i])
        except Exception as e:  # noqa: BLE001
            results.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results.count(True) == 200, [r for r in results if r is not True][:5]
    wait_until(lambda: (srv.fd_count(), loc.fd_count()) == base, what="fds back to baseline")
    echo.close()


def test_half_close_still_gets_reply():
    hs = Server(hash_reply_handler)
    srv, loc, lp = pair()
    data = os.urandom(3 << 20)
    s, rep = socks_connect(lp, "127.0.0.1", hs.port)
    assert rep == 0
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reply = recv_all(s).decode().split()
    import hashlib
    assert reply == [str(len(data)), hashlib.sha256(data).hexdigest()], reply
    hs.close()


def test_tunnel_mode():
    echo = Server(echo_handler)
    sp, tp = free_port(), free_port()
    ssserver(sp)
    start([os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(sp), "-l", str(tp),
           "-k", "test-pw", "-m", "chacha20-ietf-poly1305", "-L", "127.0.0.1:%d" % echo.port],
          wait=tp)
    s = socket.create_connection(("127.0.0.1", tp), timeout=10)
    data = os.urandom(200000)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == data
    echo.close()


def test_ipv6_listeners_and_target():
    echo6 = Server(echo_handler, family=socket.AF_INET6)
    sp, lp = free_port(family=socket.AF_INET6), free_port(family=socket.AF_INET6)
    start([os.path.join(BUILD, "ssserver"), "--allow-private", "-s", "::1", "-p", str(sp), "-k", "k", "-m",
           "aes-256-gcm"], wait=sp, host="::1")
    start([os.path.join(BUILD, "sslocal"), "-s", "::1", "-p", str(sp), "-b", "::1", "-l", str(lp),
           "-k", "k", "-m", "aes-256-gcm"], wait=lp, host="::1")
    s = socket.create_connection(("::1", lp), timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00" + encode_addr("::1", echo6.port))
    assert recv_socks_reply(s) == 0
    s.sendall(b"over ipv6")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"over ipv6"
    echo6.close()


def test_domain_target_resolved_by_cares_and_cached():
    dns = DnsResponder(ttl=60)
    echo = Server(echo_handler)
    srv, loc, lp = pair(server_extra=["-d", "127.0.0.1:%d" % dns.port])
    for i in range(3):
        assert socks_echo(lp, "web%d.test" % (i % 1), echo.port, b"hello %d" % i) == b"hello %d" % i
    a_queries = [q for q in dns.queries if q == ("web0.test", 1)]
    assert len(a_queries) == 1, dns.queries  # answered from the cache afterwards
    # A name the responder does not know fails cleanly, and the relay goes on.
    s, rep = socks_connect(lp, "nosuch.example", echo.port)
    assert closed_within(s, 10)
    dns.close()
    echo.close()


def test_dns_ttl_expiry_requeries():
    dns = DnsResponder(ttl=1)
    echo = Server(echo_handler)
    srv, loc, lp = pair(server_extra=["-d", "127.0.0.1:%d" % dns.port])
    for i in range(2):
        assert socks_echo(lp, "short.test", echo.port, b"x") == b"x"
        time.sleep(1.5)
    assert len([q for q in dns.queries if q == ("short.test", 1)]) == 2, dns.queries
    dns.close()
    echo.close()


def run_bin(name, args, timeout=10):
    return subprocess.run([os.path.join(BUILD, name)] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, stdin=subprocess.DEVNULL)


def write_json(obj_or_text):
    path = os.path.join(LOGDIR, "cfg%d.json" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
    return path


def test_config_errors_name_the_problem():
    good = {"server": "127.0.0.1", "server_port": 8388, "password": "x", "method": "aes-256-gcm"}
    cases = [
        (["-c", write_json(dict(good, colour="blue"))], 'unknown key "colour"'),
        (["-c", write_json(dict(good, timeout="soon"))], 'key "timeout" must be a positive integer'),
        (["-c", write_json(dict(good, server_port=70000))], 'key "server_port" must be a port number'),
        (["-c", write_json(dict(good, fast_open="yes"))], 'key "fast_open" must be true or false'),
        (["-c", write_json(dict(good, method="rc4-md5"))], "stream ciphers are insecure"),
        (["-c", write_json(dict(good, method="aes-256-cfb"))], "stream ciphers are insecure"),
        (["-c", write_json(dict(good, method="rot13"))], "unknown method"),
        (["-c", write_json('{"server_port": 8388,')], "invalid JSON: line 1"),
        (["-c", "/nonexistent/cfg.json"], "cannot open config file"),
        (["-p", "8388", "-m", "aes-256-gcm"], "no password given"),
        (["-p", "abc", "-k", "x", "-m", "aes-256-gcm"], '-p: "abc" is not a port number'),
        (["-p", "1", "-k", "x", "-m", "aes-256-gcm", "--frobnicate"], "unknown option --frobnicate"),
        (["-p", "1", "-k", "x", "-m", "aes-256-gcm", "--bpf", "maybe"], '--bpf: "maybe"'),
        (["--server-url", "ss://not-base64!!@host:1"], "not valid base64url"),
        (["--server-url", "ss://YWVzLTI1Ni1nY206eA@hostonly"], "must end in host:port"),
    ]
    for args, msg in cases:
        r = run_bin("ssserver", args)
        err = r.stderr.decode()
        assert r.returncode == 2, (args, r.returncode, err)
        assert msg in err, (args, err)
    r = run_bin("sslocal", ["-p", "1", "-k", "x", "-m", "aes-256-gcm"])
    assert r.returncode == 2 and "no server given" in r.stderr.decode()
    r = run_bin("sslocal", ["-s", "h", "-p", "1", "-k", "x", "-m", "aes-256-gcm", "--mode", "tunnel"])
    assert r.returncode == 2 and "tunnel mode needs -L" in r.stderr.decode()


def test_json_config_and_server_url():
    echo = Server(echo_handler)
    sp, lp = free_port(), free_port()
    cfg = write_json({"server": ["127.0.0.1"], "server_port": sp, "password": "json-pw",
                      "method": "aes-128-gcm", "timeout": 30, "no_delay": True, "fast_open": True,
                      "mode": "tcp_only", "bpf": "off", "allow_private": True})
    start([os.path.join(BUILD, "ssserver"), "-c", cfg], wait=sp)
    import base64
    userinfo = base64.urlsafe_b64encode(b"aes-128-gcm:json-pw").decode().rstrip("=")
    start([os.path.join(BUILD, "sslocal"), "--server-url", "ss://%s@127.0.0.1:%d/#test" % (userinfo, sp),
           "-l", str(lp), "--fast-open", "--no-delay"], wait=lp)
    assert socks_echo(lp, "127.0.0.1", echo.port, b"configured") == b"configured"
    echo.close()


def test_socks5_username_password():
    echo = Server(echo_handler)
    srv, loc, lp = pair(local_extra=["--socks5-username", "alice", "--socks5-password", "s3cret"])
    # curl speaks RFC 1929 when the proxy URL carries credentials.
    web = HttpFiles(LOGDIR)
    with open(os.path.join(LOGDIR, "hello.txt"), "w") as f:
        f.write("hello through auth\n")
    r = curl(["-x", "socks5h://alice:s3cret@127.0.0.1:%d" % lp, "http://127.0.0.1:%d/hello.txt" % web.port])
    assert r.returncode == 0 and r.stdout == b"hello through auth\n", r
    r = curl(["-x", "socks5h://alice:wrong@127.0.0.1:%d" % lp, "http://127.0.0.1:%d/hello.txt" % web.port])
    assert r.returncode != 0
    # A client offering only no-auth gets 0xFF.
    s = socket.create_connection(("127.0.0.1", lp), timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\xff"
    assert closed_within(s, 5)
    web.close()
    echo.close()


def test_sigquit_drains_then_exits():
    echo = Server(echo_handler)
    srv, loc, lp = pair()
    s, rep = socks_connect(lp, "127.0.0.1", echo.port)
    s.sendall(b"before")
    assert recv_exact(s, 6) == b"before"
    loc.send_signal(signal.SIGQUIT)
    wait_until(lambda: "draining" in loc.log_text(), what="drain log line")
    try:
        c = socket.create_connection(("127.0.0.1", lp), timeout=2)
        c.close()
        raise AssertionError("still accepting after SIGQUIT")
    except ConnectionRefusedError:
        pass
    s.sendall(b"during drain")
    assert recv_exact(s, 12) == b"during drain"
    assert loc.poll() is None
    s.close()
    assert loc.wait(10) == 0
    assert srv.stop() == 0
    echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([
        test_curl_big_download_and_upload,
        test_200_concurrent_connections,
        test_half_close_still_gets_reply,
        test_tunnel_mode,
        test_ipv6_listeners_and_target,
        test_domain_target_resolved_by_cares_and_cached,
        test_dns_ttl_expiry_requeries,
        test_config_errors_name_the_problem,
        test_json_config_and_server_url,
        test_socks5_username_password,
        test_sigquit_drains_then_exits,
    ], "relay"))
