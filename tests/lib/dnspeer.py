# SPDX-License-Identifier: MIT
"""A DNS peer for the tests: a responder on loopback that answers names under
.test and counts the queries, and a one-query client."""
import socket
import struct
import threading


class DnsResponder:
    """Answers A queries for names under .test with 127.0.0.1 (TTL given); counts queries."""

    def __init__(self, ttl=60):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.ttl = ttl
        self.queries = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                q, addr = self.sock.recvfrom(512)
            except OSError:
                return
            tid, flags, qd = struct.unpack(">HHH", q[:6])
            i, labels = 12, []
            while q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode())
                i += 1 + q[i]
            qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
            question = q[12:i + 5]
            name = ".".join(labels)
            self.queries.append((name, qtype))
            if not name.endswith(".test"):
                rcode, answers = 3, b""
            elif qtype == 1:
                rcode = 0
                answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, self.ttl, 4) + socket.inet_aton("127.0.0.1")
            else:
                rcode, answers = 0, b""
            an = 1 if answers else 0
            resp = struct.pack(">HHHHHH", tid, 0x8180 | rcode, 1, an, 0, 0) + question + answers
            self.sock.sendto(resp, addr)

    def close(self):
        self.sock.close()

    def lookup(self, port, name, qtype=1, timeout=5):
        """Sends one query to 127.0.0.1:port; returns (rcode, [IPv4 answers])."""
        return dns_query(port, name, qtype, timeout)


def dns_query(port, name, qtype=1, timeout=5):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(q, ("127.0.0.1", port))
    r, _ = s.recvfrom(4096)
    s.close()
    tid, flags, qd, an = struct.unpack(">HHHH", r[:8])
    assert tid == 0x1234, "DNS answer for another query"
    i = len(q)
    ips = []
    for _ in range(an):
        rtype, _, _, rdlen = struct.unpack(">HHIH", r[i + 2:i + 12])
        if rtype == 1:
            ips.append(socket.inet_ntoa(r[i + 12:i + 16]))
        i += 12 + rdlen
    return flags & 0xf, ips
