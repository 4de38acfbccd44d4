# SPDX-License-Identifier: MIT
"""ssctl url and qr: the SIP002 URIs ssserver and sslocal print work as given (an
sslocal started from each relays), 2022 users get iPSK:uPSK, and the QR code in the
terminal decodes (zbarimg) to the same URI."""
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

SSCTL = os.path.join(BUILD, "ssctl")


def ssctl(*args):
    r = subprocess.run([SSCTL] + list(args), capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def relays_with(uri, echo):
    lp = free_port()
    loc = start([os.path.join(BUILD, "sslocal"), "--server-url", uri, "-l", str(lp)], wait=lp)
    ok = socks_echo(lp, "127.0.0.1", echo.port, b"through " + uri.encode()) == b"through " + uri.encode()
    loc.stop()
    return ok


def qr_text(text):
    """The half-block drawing back into a bitmap (PBM, 8 pixels a module), read by zbarimg."""
    rows = []
    for line in text.splitlines():
        top, bottom = [], []
        for ch in line:
            lit = {"\u2588": (1, 1), "\u2580": (1, 0), "\u2584": (0, 1), " ": (0, 0)}[ch]
            top.append(lit[0])
            bottom.append(lit[1])
        rows += [top, bottom]
    path = os.path.join(LOGDIR, "qr.pbm")
    with open(path, "w") as f:
        f.write("P1\n%d %d\n" % (len(rows[0]) * 8, len(rows) * 8))
        for r in rows:
            line = " ".join("0" if lit else "1" for lit in r for _ in range(8))  # lit = light = 0 in PBM
            f.write((line + "\n") * 8)
    r = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_ssserver_uris_work_and_their_qr_codes_decode():
    echo = Server(echo_handler)
    sp = free_port()
    ctl = os.path.join(LOGDIR, "srv.sock")
    ssserver(sp, "aes-256-gcm", "pw with space:colon", extra=["--ctl-socket", ctl])
    uris = ssctl("-s", ctl, "url").split()
    assert len(uris) == 1 and uris[0].startswith("ss://") and uris[0].endswith("@127.0.0.1:%d#ssbpf-%d" % (sp, sp)), uris
    info = uris[0][5:uris[0].index("@")]
    assert base64.urlsafe_b64decode(info + "=" * (-len(info) % 4)) == b"aes-256-gcm:pw with space:colon"
    assert relays_with(uris[0], echo)
    out = ssctl("-s", ctl, "url", "--qr")
    lines = out.splitlines()
    assert lines[0] == uris[0]
    assert qr_text("\n".join(lines[1:])) == uris[0]
    assert qr_text(ssctl("qr", "ss://x@y:1")) == "ss://x@y:1"


def test_2022_users_get_their_identity_keys_and_sslocal_lists_its_servers():
    echo = Server(echo_handler)
    method = "2022-blake3-aes-128-gcm"
    ipsk, ukey = (base64.b64encode(os.urandom(16)).decode() for _ in range(2))
    sp = free_port()
    ctl = os.path.join(LOGDIR, "srv22.sock")
    path = os.path.join(LOGDIR, "users.json")
    with open(path, "w") as f:
        json.dump({"server": "127.0.0.1", "server_port": sp, "method": method, "password": ipsk,
                   "users": [{"name": "alice", "password": ukey}], "ctl_socket": ctl}, f)
    start([os.path.join(BUILD, "ssserver"), "-c", path, "--allow-private"], wait=sp)
    uris = ssctl("-s", ctl, "url").split()
    assert len(uris) == 1 and uris[0].endswith("#alice"), uris
    # 2022: percent-encoded userinfo, the user's key after the port's identity key.
    assert "%3A" in uris[0] and uris[0].startswith("ss://2022-blake3-aes-128-gcm:"), uris
    assert relays_with(uris[0], echo)
    lctl = os.path.join(LOGDIR, "loc.sock")
    lp = free_port()
    start([os.path.join(BUILD, "sslocal"), "--server-url", uris[0], "--server-url", "ss://YWVzLTEyOC1nY206eA@10.0.0.9:1",
           "-l", str(lp), "--ctl-socket", lctl], wait=lp)
    listed = ssctl("-s", lctl, "url").split()
    assert listed[0] == uris[0].split("#")[0] and listed[1] == "ss://YWVzLTEyOC1nY206eA@10.0.0.9:1", listed


if __name__ == "__main__":
    sys.exit(run_tests([test_ssserver_uris_work_and_their_qr_codes_decode,
                        test_2022_users_get_their_identity_keys_and_sslocal_lists_its_servers], "url"))
