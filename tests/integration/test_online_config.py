# SPDX-License-Identifier: MIT
"""SIP008 online configuration: sslocal takes its servers from a document served
over HTTPS by a local server whose certificate a test CA signed (--ca-file),
fetches it again on its update interval and on SIGHUP, moves new connections
to the servers of a changed document while a live one stays on its server,
keeps the last good list when a document is broken (as a whole: one bad entry
spoils it), refuses a server it cannot verify, and reads file:// URLs."""
import base64
import http.server
import json
import os
import signal
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

SSCTL = os.path.join(BUILD, "ssctl")


def make_ca():
    """A CA and a certificate for 127.0.0.1 (an IP SAN) that it signs."""
    d = os.path.join(LOGDIR, "pki")
    os.makedirs(d, exist_ok=True)

    def run(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=ssbpf test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    return d


class Subscription:
    """An HTTPS server of one document, changed by the test; counts its fetches."""

    def __init__(self, pki):
        sub = self
        self.doc = b"{}"
        self.fetches = 0
        self.moved = {}  # path: (status, Location)

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                sub.fetches += 1
                body = sub.doc
                if self.path in sub.moved:
                    self.send_response(sub.moved[self.path][0])
                    self.send_header("Location", sub.moved[self.path][1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200 if self.path in ("/sub.json", "/c/d/doc.json") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(pki, "srv.pem"), os.path.join(pki, "srv.key"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = "https://127.0.0.1:%d/sub.json" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def set(self, servers, version=1):
        self.doc = json.dumps({"version": version, "servers": servers,
                               "bytes_used": 1, "bytes_remaining": 2}).encode()


def entry(port, method, password, **more):
    e = {"id": "x%d" % port, "remarks": "r", "server": "127.0.0.1", "server_port": port,
         "method": method, "password": password}
    e.update(more)
    return e


def servers_of(ctl):
    r = subprocess.run([SSCTL, "-s", ctl, "servers", "--json"], capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return {s["server"]: s for s in json.loads(r.stdout)["servers"]}


def local_with(cfg, name):
    path = os.path.join(LOGDIR, name + ".json")
    lp = free_port()
    cfg.update({"local_address": "127.0.0.1", "local_port": lp,
                "ctl_socket": os.path.join(LOGDIR, name + ".sock")})
    with open(path, "w") as f:
        json.dump(cfg, f)
    return start([os.path.join(BUILD, "sslocal"), "-c", path], wait=lp), lp, cfg["ctl_socket"]


PKI = None


def pki():
    global PKI
    PKI = PKI or make_ca()
    return PKI


def test_servers_follow_the_document_and_a_bad_one_is_kept_out():
    echo = Server(echo_handler)
    a, b = free_port(), free_port()
    key22 = base64.b64encode(os.urandom(16)).decode()
    ssserver(a, "aes-256-gcm", "pw-a")
    ssserver(b, "2022-blake3-aes-128-gcm", key22)
    sub = Subscription(pki())
    sub.set([entry(a, "aes-256-gcm", "pw-a"), entry(9, "aes-256-gcm", "x", plugin="obfs-local")])
    loc, lp, ctl = local_with({"online_config": {"config_url": sub.url, "update_interval": 2},
                               "ca_file": os.path.join(PKI, "ca.pem")}, "online")
    assert socks_echo(lp, "127.0.0.1", echo.port, b"via a") == b"via a"
    have = servers_of(ctl)
    assert list(have) == ["127.0.0.1:%d" % a] and have["127.0.0.1:%d" % a]["online"], have
    assert "1 servers with a plugin left out" in loc.log_text()
    # A connection that lives across the change stays on its server.
    live, rep = socks_connect(lp, "127.0.0.1", echo.port)
    assert rep == 0, rep
    live.sendall(b"before")
    assert recv_exact(live, 6) == b"before"
    sub.set([entry(b, "2022-blake3-aes-128-gcm", key22)])
    wait_until(lambda: list(servers_of(ctl)) == ["127.0.0.1:%d" % b], 10, "the new document")
    for i in range(5):
        assert socks_echo(lp, "127.0.0.1", echo.port, b"via b %d" % i) == b"via b %d" % i
    assert servers_of(ctl)["127.0.0.1:%d" % b]["connections"] >= 5
    live.sendall(b"after")
    assert recv_exact(live, 5) == b"after"
    live.close()
    # Broken documents (not JSON; one entry with an unknown method) keep the last good list.
    for bad in (b"{\"version\": 1, \"servers\": [", None):
        n = sub.fetches
        if bad:
            sub.doc = bad
        else:
            sub.set([entry(b, "2022-blake3-aes-128-gcm", key22), entry(a, "no-such-method", "x")])
        wait_until(lambda: sub.fetches >= n + 1, 10, "a fetch")
        wait_until(lambda: loc.log_text().count("keeping the 1 servers of the last good document")
                   >= (1 if bad else 2), 5, "the refusal")
        assert list(servers_of(ctl)) == ["127.0.0.1:%d" % b]
        assert socks_echo(lp, "127.0.0.1", echo.port, b"still b") == b"still b"
    assert loc.poll() is None


def test_sighup_fetches_a_file_url_again():
    echo = Server(echo_handler)
    a, b = free_port(), free_port()
    ssserver(a, "chacha20-ietf-poly1305", "pw-a")
    ssserver(b, "aes-128-gcm", "pw-b")
    doc = os.path.join(LOGDIR, "sub.json")
    with open(doc, "w") as f:
        json.dump({"version": 1, "servers": [entry(a, "chacha20-ietf-poly1305", "pw-a")]}, f)
    loc, lp, ctl = local_with({"online_config": {"config_url": "file://" + doc}}, "file")
    assert socks_echo(lp, "127.0.0.1", echo.port, b"a") == b"a"
    with open(doc, "w") as f:
        json.dump({"version": 1, "servers": [entry(a, "chacha20-ietf-poly1305", "pw-a"),
                                             entry(b, "aes-128-gcm", "pw-b")]}, f)
    loc.send_signal(signal.SIGHUP)
    wait_until(lambda: len(servers_of(ctl)) == 2, 10, "SIGHUP's fetch")
    assert "(1 unchanged, 1 new, 0 gone)" in loc.log_text()
    # Connections still relay.
    assert socks_echo(lp, "127.0.0.1", echo.port, b"two") == b"two"


def test_redirects_are_followed_over_tls_only():
    sub = Subscription(pki())
    target = Server(echo_handler)
    srv_port = free_port()
    start([os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(srv_port), "-k", "moved-pw",
           "-m", "aes-256-gcm", "--allow-private"], wait=srv_port)
    sub.set([entry(srv_port, "aes-256-gcm", "moved-pw")])
    root = sub.url.rsplit("/", 1)[0]
    # Absolute, then from the root, then from the folder: three hops to the document.
    sub.moved = {"/a/start": (301, root + "/b/next"), "/b/next": (307, "/c/d/last"),
                 "/c/d/last": (302, "doc.json"), "/plain": (302, root.replace("https", "http") + "/sub.json"),
                 "/loop": (302, "/loop")}
    lp = free_port()
    local = start([os.path.join(BUILD, "sslocal"), "--online-config-url", root + "/a/start", "--ca-file",
                   os.path.join(PKI, "ca.pem"), "-l", str(lp)], wait=lp)
    assert socks_echo(lp, "127.0.0.1", target.port, b"redirected") == b"redirected"
    local.stop()
    for path, want in (("/plain", b"only over TLS"), ("/loop", b"over 5 redirects")):
        r = subprocess.run([os.path.join(BUILD, "sslocal"), "--online-config-url", root + path, "--ca-file",
                            os.path.join(PKI, "ca.pem"), "-l", str(lp)], capture_output=True, timeout=60)
        assert r.returncode != 0 and want in r.stderr, (path, r.stderr)


def test_an_unverified_server_or_no_document_is_refused_at_start():
    sub = Subscription(pki())
    sub.set([entry(1, "aes-256-gcm", "x")])
    lp = free_port()
    # The system's store does not know the test CA: no server to use, a clear exit.
    r = subprocess.run([os.path.join(BUILD, "sslocal"), "--online-config-url", sub.url, "-l", str(lp)],
                       capture_output=True, timeout=60)
    assert r.returncode != 0 and b"certificate not trusted" in r.stderr, r.stderr
    r = subprocess.run([os.path.join(BUILD, "sslocal"), "--online-config-url", sub.url.replace("https", "http"),
                        "-l", str(lp)], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"only over TLS" in r.stderr, r.stderr
    sub.set([])
    r = subprocess.run([os.path.join(BUILD, "sslocal"), "--online-config-url", sub.url, "--ca-file",
                        os.path.join(PKI, "ca.pem"), "-l", str(lp)], capture_output=True, timeout=60)
    assert r.returncode != 0 and b"no server to use" in r.stderr, r.stderr


if __name__ == "__main__":
    sys.exit(run_tests([test_servers_follow_the_document_and_a_bad_one_is_kept_out,
                        test_sighup_fetches_a_file_url_again,
                        test_redirects_are_followed_over_tls_only,
                        test_an_unverified_server_or_no_document_is_refused_at_start], "online"))
