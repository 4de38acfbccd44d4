# SPDX-License-Identifier: MIT
"""Helpers for ssbpf's integration tests: real binaries, real sockets, loopback only.

Each test is a function; run_tests() prints "PASS name" / "FAIL name" lines that
tests/run.sh counts. Every blocking step has a timeout.
"""
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import http.server
import socketserver

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cgroup2 import make as cgroup2_make, remove as cgroup2_remove  # noqa: E402,F401
import syscalls  # noqa: E402,F401
from bpfmaps import bpf_maps_of, bpf_map_dump, bpf_percpu_sum  # noqa: E402,F401
from dnspeer import DnsResponder, dns_query  # noqa: E402,F401
BUILD = os.path.join(ROOT, os.environ.get("SSBPF_BUILD", "build"))
LOGDIR = tempfile.mkdtemp(prefix="ssbpf-it.")
AEAD_METHODS = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm",
                "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305"]


_ports_given = set()


def free_port(kind=socket.SOCK_STREAM, family=socket.AF_INET):
    """A port that is free for both TCP and UDP (daemons started with -u bind
    both) and that this run has not handed out before."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    for _ in range(200):
        s = socket.socket(family, kind)
        s.bind((host, 0))
        port = s.getsockname()[1]
        other = socket.socket(family, socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM)
        try:
            other.bind((host, port))
        except OSError:
            continue
        finally:
            other.close()
            s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise AssertionError("no port free for both TCP and UDP")


def udp_bound(port):
    """Whether a UDP socket is bound to port (any address), from /proc/net/udp*."""
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def wait_udp_port(port, timeout=10.0):
    wait_until(lambda: udp_bound(port), timeout=timeout, what="a UDP socket on port %d" % port)


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    end = time.time() + timeout
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (proc.args[0], proc.returncode, proc.log_text()))
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(0.5)
            s.connect((host, port))
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %s:%d after %.0fs" % (host, port, timeout))


def _alive(pid):
    """True while pid runs (a zombie, or a pid gone, counts as not running)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Proc(subprocess.Popen):
    """A daemon under test, its stderr kept in a log file."""

    def log_text(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def descendants(self):
        """Pids of every process below this one (workers, plugins), read from /proc."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            try:
                tasks = os.listdir("/proc/%d/task" % pid)
            except OSError:
                continue
            for task in tasks:
                try:
                    with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                        kids = [int(k) for k in f.read().split()]
                except OSError:
                    continue
                found += kids
                todo += kids
        return found

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal, wait for the process, then for its children: after SIGKILL a
        worker outlives its parent for a moment (PR_SET_PDEATHSIG) and still
        holds the ports."""
        kids = self.descendants() if self.poll() is None else []
        if self.poll() is None:
            self.send_signal(sig)
        try:
            rc = self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.wait()
            raise AssertionError("%s did not exit within %ds of signal %d" % (self.args[0], timeout, sig))
        end = time.time() + timeout
        while any(_alive(k) for k in kids):
            if time.time() > end:
                raise AssertionError("children %s of %s outlived it by %ds" % (kids, self.args[0], timeout))
            time.sleep(0.01)
        return rc


_procs = []


def start(args, name=None, env=None, wait=None, host="127.0.0.1", default_workers=False):
    name = name or os.path.basename(args[0])
    # One worker unless a test asks for more (or for the default, one per CPU):
    # tests read this process's fds, RSS and stats, which --workers N would
    # spread over child processes.
    if not default_workers and any(os.path.basename(a) in ("ssserver", "sslocal") for a in args) and "--workers" not in args:
        args = list(args) + ["--workers", "1"]
    logpath = os.path.join(LOGDIR, "%s.%d.log" % (name, len(_procs)))
    logf = open(logpath, "w")
    e = dict(os.environ)
    if env:
        e.update(env)
    p = Proc(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=e)
    p.logpath = logpath
    _procs.append(p)
    if wait:
        wait_port(wait, host=host, proc=p)
    return p


def stop_pid_file(path):
    """SIGTERM to the process a pid file names (a daemon another program started with -f), if any."""
    if os.path.exists(path):
        try:
            os.kill(int(open(path).read()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass


def stop_all():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    del _procs[:]


def ssserver(port, method="chacha20-ietf-poly1305", password="test-pw", extra=(), binary=None, host="127.0.0.1"):
    # Tests reach their own servers on loopback: lift the default target policy.
    p = start([binary or os.path.join(BUILD, "ssserver"), "-s", host, "-p", str(port),
               "-k", password, "-m", method, "--allow-private"] + list(extra), wait=port, host=host)
    # A worker binds its UDP socket just after its TCP listener: a datagram sent in
    # between would meet no socket.
    if "-u" in extra:
        wait_udp_port(port)
    return p


def sslocal(port, server_port, method="chacha20-ietf-poly1305", password="test-pw", extra=(), binary=None,
            default_workers=False):
    return start([binary or os.path.join(BUILD, "sslocal"), "-s", "127.0.0.1", "-p", str(server_port),
                  "-l", str(port), "-b", "127.0.0.1", "-k", password, "-m", method] + list(extra), wait=port,
                 default_workers=default_workers)


def pair(method="chacha20-ietf-poly1305", server_extra=(), local_extra=(), binary_dir=None):
    """Starts ssserver + sslocal; returns (server, local, socks_port)."""
    sp, lp = free_port(), free_port()
    d = binary_dir or BUILD
    srv = ssserver(sp, method, extra=server_extra, binary=os.path.join(d, "ssserver"))
    loc = sslocal(lp, sp, method, extra=local_extra, binary=os.path.join(d, "sslocal"))
    return srv, loc, lp


# --- SOCKS5 client -----------------------------------------------------------

def socks_connect(port, host, dport, timeout=10, greeting=b"\x05\x01\x00"):
    """Opens a SOCKS5 CONNECT through 127.0.0.1:port; returns (sock, reply code)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(greeting)
    m = recv_exact(s, 2)
    if m != b"\x05\x00":
        raise AssertionError("SOCKS5 method reply %r" % m)
    s.sendall(b"\x05\x01\x00" + encode_addr(host, dport))
    rep = recv_socks_reply(s)
    return s, rep


def socks_echo(port, host, dport, data):
    """CONNECT through the SOCKS5 proxy, send data, half-close, return all that comes back."""
    s, rep = socks_connect(port, host, dport)
    assert rep == 0, "SOCKS5 reply %d" % rep
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    back = recv_all(s)
    s.close()
    return back


def encode_addr(host, port):
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack(">H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack(">H", port)
    except OSError:
        pass
    h = host.encode()
    return b"\x03" + bytes([len(h)]) + h + struct.pack(">H", port)


def recv_socks_reply(s):
    head = recv_exact(s, 4)
    if head[0] != 5:
        raise AssertionError("bad SOCKS5 reply %r" % head)
    alen = {1: 4, 4: 16}.get(head[3])
    if alen is None:
        alen = recv_exact(s, 1)[0]
    recv_exact(s, alen + 2)
    return head[1]


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise AssertionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def recv_all(s):
    chunks = []
    while True:
        d = s.recv(1 << 20)
        if not d:
            return b"".join(chunks)
        chunks.append(d)


def closed_within(s, seconds):
    """True when the peer closes (EOF or reset) within seconds, sending nothing."""
    s.settimeout(seconds)
    try:
        d = s.recv(4096)
        if d:
            raise AssertionError("unexpected bytes from peer: %r" % d[:32])
        return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


# --- servers started by tests -----------------------------------------------

class ThreadServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


class Server:
    """A TCP server in a thread; handler(sock) runs per connection."""

    def __init__(self, handler, family=socket.AF_INET):
        outer = self
        self.accepts = 0

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                outer.accepts += 1
                try:
                    handler(self.request)
                except (OSError, AssertionError):
                    pass  # the peer went away; tests check what they need

        cls = ThreadServer
        if family == socket.AF_INET6:
            cls = type("ThreadServer6", (ThreadServer,), {"address_family": socket.AF_INET6})
        self.srv = cls(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def echo_handler(sock):
    while True:
        d = sock.recv(65536)
        if not d:
            sock.shutdown(socket.SHUT_WR)
            return
        sock.sendall(d)


def read_to_end(sock, slow=False, timeout=10):
    """Reads until EOF or an error; returns (bytes, "eof" | "reset" | the error's name).
    slow: small reads with pauses, as a slow reader."""
    sock.settimeout(timeout)
    buf = bytearray()
    while True:
        try:
            d = sock.recv(4096 if slow else 1 << 20)
        except ConnectionResetError:
            return bytes(buf), "reset"
        except OSError as e:
            return bytes(buf), type(e).__name__
        if not d:
            return bytes(buf), "eof"
        buf += d
        if slow and len(buf) % 20 == 0:
            time.sleep(0.002)


def sha256_stream(sock, limit=None):
    """Reads limit bytes (or until EOF); returns (bytes read, their sha256 in hex)."""
    h = hashlib.sha256()
    n = 0
    while limit is None or n < limit:
        d = sock.recv(1 << 20 if limit is None else min(limit - n, 1 << 20))
        if not d:
            break
        h.update(d)
        n += len(d)
    return n, h.hexdigest()


def hash_stream(sock, limit=None):
    """Reads limit bytes (or until EOF); returns the line "N SHA256\\n" that describes them."""
    return ("%d %s\n" % sha256_stream(sock, limit)).encode()


def hash_reply_handler(sock):
    """Reads until EOF, then answers with the sha256 of what it read and closes."""
    sock.sendall(hash_stream(sock))


class Blaster:
    """A target that sends blocks as fast as it can to each client until stopped."""

    def __init__(self, block=1 << 16):
        self.stop = threading.Event()

        def handler(sock):
            data = os.urandom(block)
            try:
                while not self.stop.is_set():
                    sock.sendall(data)
            except OSError:
                pass
        self.srv = Server(handler)
        self.port = self.srv.port

    def close(self):
        self.stop.set()
        self.srv.close()


def sized_hash_handler(sock):
    """Reads an 8-byte big-endian length, then that many bytes; answers with their
    sha256 without waiting for EOF (shadowsocks-libev does not relay half-close)."""
    sock.sendall(hash_stream(sock, struct.unpack(">Q", recv_exact(sock, 8))[0]))


class HttpFiles:
    """http.server on loopback serving a directory; PUT returns the body's sha256."""

    def __init__(self, directory):
        class H(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=directory, **kw)

            def log_message(self, *a):
                pass

            def do_PUT(self):
                n = int(self.headers.get("Content-Length", "0"))
                h = hashlib.sha256()
                left = n
                while left:
                    d = self.rfile.read(min(left, 1 << 20))
                    if not d:
                        break
                    h.update(d)
                    left -= len(d)
                body = ("%d %s\n" % (n - left, h.hexdigest())).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            d = f.read(1 << 20)
            if not d:
                return h.hexdigest()
            h.update(d)


def random_file(size, name="data.bin"):
    path = os.path.join(LOGDIR, name)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 22)
            f.write(os.urandom(n))
            left -= n
    return path


def curl(args, timeout=300):
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 10)
    return r


def fd_baseline(*procs):
    """fd counts once they stop changing (the start-up port probe has closed)."""
    return fd_baseline_of(lambda: tuple(p.fd_count() for p in procs))


def fd_baseline_of(count):
    """count() once its value stops changing for 0.3 s."""
    last, stable_since = None, time.time()
    end = time.time() + 10
    while time.time() < end:
        now = count()
        if now != last:
            last, stable_since = now, time.time()
        elif time.time() - stable_since > 0.3:
            return now
        time.sleep(0.05)
    return last


def netns_cookies():
    """Does the kernel give sockets network namespace cookies (SO_NETNS_COOKIE,
    Linux 5.14)? The local shortcut needs them; older kernels fall back."""
    s = socket.socket()
    try:
        s.getsockopt(socket.SOL_SOCKET, 71, 8)
        return True
    except OSError:
        return False
    finally:
        s.close()


def sockstat_tcp_mem_kib():
    """TCP memory of every socket on the machine (/proc/net/sockstat), KiB."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1]) * 4
    return 0


def slow_read(sock, seconds, procs, base_mem=None):
    """A slow reader: 16 x 64 KiB a second from sock for seconds. Returns (bytes read,
    peak growth of TCP memory in KiB, peak RSS of any of procs in KiB)."""
    base_mem = sockstat_tcp_mem_kib() if base_mem is None else base_mem
    sock.settimeout(5)
    peak_mem = peak_rss = got = 0
    end = time.time() + seconds
    while time.time() < end:
        t = time.time()
        got += len(sock.recv(65536))
        peak_mem = max(peak_mem, sockstat_tcp_mem_kib() - base_mem)
        peak_rss = max([peak_rss] + [p.rss_kib() for p in procs])
        time.sleep(max(0, 1 / 16 - (time.time() - t)))
    return got, peak_mem, peak_rss


class Mgr:
    """A client of the manager protocol: over UDP (a port on 127.0.0.1, or
    (host, port)) or a unix datagram socket (a path)."""

    def __init__(self, addr, timeout=15):
        self.addr = ("127.0.0.1", addr) if isinstance(addr, int) else addr
        if isinstance(addr, str):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.s.bind(os.path.join(LOGDIR, "mgr-client-%d-%d.sock" % (os.getpid(), id(self))))
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.settimeout(timeout)

    def cmd(self, text):
        self.s.sendto(text.encode(), self.addr)
        return self.s.recv(65536).decode()

    def stats(self):
        r = self.cmd("ping")
        assert r.startswith("stat: "), r
        return {int(k): v for k, v in json.loads(r[6:]).items()}

    def close(self):
        name = self.s.getsockname()
        self.s.close()
        if isinstance(name, str) and name:
            os.unlink(name)


def wait_until(pred, timeout=10.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


# --- runner -----------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def run_in_netns(tests, prefix, ns, setup=None, teardown=None):
    """Runs tests (run_tests) inside network namespace ns, made for them with lo
    up, between setup() and teardown(); removes it after and exits."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    rc = 1
    try:
        # This thread, and the threads it starts from now on, live in ns.
        assert _libc.setns(fd, CLONE_NEWNET) == 0, "setns: errno %d" % ctypes.get_errno()
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        if setup:
            setup()
        rc = run_tests(tests, prefix)
    finally:
        stop_all()
        if teardown:
            teardown()
        _libc.setns(home, CLONE_NEWNET)
        os.close(fd)
        subprocess.run(["ip", "netns", "del", ns])
    sys.exit(rc)


def run_tests(tests, prefix):
    only = sys.argv[1] if len(sys.argv) > 1 else None
    failed = 0
    chosen = [t for t in tests if not only or only in "%s/%s" % (prefix, t.__name__)]
    # What this run will execute: a runner counts a test that never reported as failed.
    print("PLAN %d %s" % (len(chosen), prefix), flush=True)
    for t in chosen:
        name = "%s/%s" % (prefix, t.__name__)
        t0 = time.time()
        try:
            t()
            print("PASS %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
            for p in _procs:
                print("--- log of %s:" % " ".join(p.args[:1]))
                print(p.log_text()[-3000:])
        finally:
            stop_all()
    # Logs and test files stay for a look after a failure only.
    if not failed:
        shutil.rmtree(LOGDIR, ignore_errors=True)
    return 1 if failed else 0
