# SPDX-License-Identifier: MIT
"""The programs of tests/netns/test_capture.py's targets (wan) and clients (the
containers), run with python3 -c inside their namespaces."""

TCP_SERVER = r"""
import hashlib, socket, sys, threading
def serve(c, a):
    peer = a[0].replace("::ffff:", "")
    mode = c.recv(1)
    if mode == b"U":
        h = hashlib.sha256()
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            h.update(d)
        c.sendall(("%s %s\n" % (h.hexdigest(), peer)).encode())
    else:
        f = c.makefile("rb")
        for line in f:
            c.sendall(b"peer=" + peer.encode() + b";" + line)
    c.close()
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(512)
print("listening", flush=True)
while True:
    c, a = s.accept()
    threading.Thread(target=serve, args=(c, a), daemon=True).start()
"""

UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
print("listening", flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b"peer=" + a[0].replace("::ffff:", "").encode() + b";" + d, a)
"""

# Answers A queries for names under .test with T4; prints each asker.
DNS_SERVER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("listening", flush=True)
while True:
    q, a = s.recvfrom(512)
    tid, flags, qd = struct.unpack(">HHH", q[:6])
    i = 12
    while q[i]:
        i += 1 + q[i]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    name = q[12:i]
    ok = name.endswith(b"\x04test") and qtype == 1
    hdr = struct.pack(">HHHHHH", tid, 0x8180 if ok else 0x8183, 1, 1 if ok else 0, 0, 0)
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(sys.argv[1]) if ok else b""
    s.sendto(hdr + question + ans, a)
    print("query from %s" % a[0], flush=True)
"""

UDP_CLIENT = r"""
import os, socket, sys
host, port, n, connected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "c"
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(3)
if connected:
    s.connect((host, port))
ok, peers, sources = 0, set(), set()
for i in range(n):
    payload = os.urandom(1 + (i * 37) % 1400)
    if connected:
        s.send(payload)
    else:
        s.sendto(payload, (host, port))
    try:
        d, a = s.recvfrom(65535)
    except socket.timeout:
        continue
    head, _, body = d.partition(b";")
    peers.add(head.decode().replace("peer=", "", 1))
    sources.add("%s:%d" % (a[0], a[1]))
    ok += body == payload
print("ok=%d peers=%s sources=%s getpeername=%s" % (ok, ",".join(sorted(peers)), ",".join(sorted(sources)),
      s.getpeername()[0] if connected else "-"))
"""

UPLOAD = r"""
import hashlib, os, socket, sys
host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=60)
s.sendall(b"U")
h, block = hashlib.sha256(), os.urandom(1 << 20)
for i in range(mb):
    chunk = block[i:] + block[:i]
    h.update(chunk)
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
reply = s.makefile().readline().split()
print("sent=%s got=%s peer=%s" % (h.hexdigest(), reply[0], reply[1]))
"""

SHORT = r"""
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok, peers = 0, set()
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"E%d\n" % i)
    line = s.makefile("rb").readline()
    head, _, body = line.partition(b";")
    ok += body == b"%d\n" % i
    peers.add(head.decode())
    s.close()
print("ok=%d peers=%s" % (ok, ",".join(sorted(peers))))
"""

HOLD = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"Ehello\n")
print(s.makefile("rb").readline().decode().strip(), "peername=%s" % s.getpeername()[0], flush=True)
time.sleep(float(sys.argv[3]))
"""
