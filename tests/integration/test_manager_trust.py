# SPDX-License-Identifier: MIT
"""Who may drive ssmanager: an unprivileged local user can make nothing run
as root, and cannot add, list or remove ports, over UDP or the unix socket,
unless the operator allowed it; plugins come only from the operator's list;
list shows a password only to the caller that set it; bad text is refused."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

SSMANAGER = os.path.join(BUILD, "ssmanager")
M = "aes-256-gcm"
NOBODY = 65534
TMP = tempfile.mkdtemp(prefix="ssbpf-mgrtrust.")
os.chmod(TMP, 0o777)
# The program an attacker names as a plugin: it records who ran it.
MARKER = os.path.join(TMP, "ran-as")
SCRIPT = os.path.join(TMP, "evil-plugin")
with open(SCRIPT, "w") as f:
    f.write("#!/bin/sh\nid -u >> %s\nexec sleep 30\n" % MARKER)
os.chmod(SCRIPT, 0o755)

# Runs as nobody: sends one command, prints the answer (or the error as "ERRNO n").
CLIENT = r'''
import os, socket, sys
addr, text, mine = sys.argv[1], sys.argv[2], sys.argv[3]
if addr.startswith("/"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(mine)
else:
    h, p = addr.rsplit(":", 1)
    addr = (h, int(p))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
try:
    s.sendto(os.fsencode(text), addr)
    print(s.recv(65536).decode())
except OSError as e:
    print("ERRNO %d" % e.errno)
'''


def as_user(uid, addr, text):
    """One manager command sent by a process of user uid; its answer."""
    mine = os.path.join(TMP, "c-%d-%d.sock" % (uid, time.monotonic_ns()))
    args = ["/usr/bin/python3", "-c", CLIENT, addr, text, mine]  # text: str or raw bytes
    if uid:
        args = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] + args
    out = subprocess.run(args, capture_output=True, text=True, timeout=20)
    return out.stdout.strip()


def manager(addr, *extra):
    p = start([SSMANAGER, "--manager-address", addr, "-m", M, "--allow-private", "-s", "127.0.0.1"]
              + list(extra))
    if addr.startswith("/"):
        wait_until(lambda: os.path.exists(addr), 10, "the manager socket")
    else:
        wait_until(lambda: as_user(0, addr, "ping").startswith("stat:"), 10, "the manager")
    return p


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def attack(addr, victim):
    """What nobody tries; every answer must be a refusal, and nothing may change."""
    port = free_port()
    before = as_user(0, addr, "list")
    answers = [as_user(NOBODY, addr, 'add: {"server_port": %d, "password": "x", "plugin": "%s"}'
                       % (port, SCRIPT)),
               as_user(NOBODY, addr, 'add: {"server_port": %d, "password": "x"}' % port),
               as_user(NOBODY, addr, "list"),
               as_user(NOBODY, addr, "ping"),
               as_user(NOBODY, addr, 'remove: {"server_port": %d}' % victim),
               as_user(NOBODY, addr, 'stat: {"%d": 999999}' % victim)]
    for a in answers[:5]:
        assert a == "err: not allowed" or a.startswith("ERRNO"), answers
    assert "pw-root" not in "".join(answers)
    time.sleep(1)
    assert not os.path.exists(MARKER), "the plugin ran: " + open(MARKER).read()
    assert not listening(port)
    assert listening(victim), "nobody removed root's port"
    after = as_user(0, addr, "list")
    assert after == before, (before, after)
    assert json.loads(as_user(0, addr, "ping")[6:]).get(str(victim), 0) < 999999


def test_nobody_cannot_drive_the_manager_over_udp():
    mp = free_port(socket.SOCK_DGRAM)
    addr = "127.0.0.1:%d" % mp
    manager(addr)
    victim = free_port()
    assert as_user(0, addr, 'add: {"server_port": %d, "password": "pw-root"}' % victim) == "ok"
    wait_port(victim)
    attack(addr, victim)


def test_nobody_cannot_drive_the_manager_over_a_unix_socket():
    addr = os.path.join(TMP, "mgr.sock")
    manager(addr)
    assert os.stat(addr).st_mode & 0o777 == 0o600
    victim = free_port()
    assert as_user(0, addr, 'add: {"server_port": %d, "password": "pw-root"}' % victim) == "ok"
    wait_port(victim)
    attack(addr, victim)
    # Even with the socket opened to everyone, the kernel's credentials decide.
    os.chmod(addr, 0o666)
    assert as_user(NOBODY, addr, "list") == "err: not allowed"
    attack(addr, victim)


def test_plugins_only_from_the_operators_list_and_run_as_the_user():
    mp = free_port(socket.SOCK_DGRAM)
    addr = "127.0.0.1:%d" % mp
    manager(addr)
    port = free_port()
    r = as_user(0, addr, 'add: {"server_port": %d, "password": "x", "plugin": "%s"}' % (port, SCRIPT))
    assert r.startswith("err: plugin") and "not allowed" in r, r
    assert not os.path.exists(MARKER)
    stop_all()
    manager(addr, "--manager-plugins", "obfs-server," + SCRIPT, "-a", "nobody")
    r = as_user(0, addr, 'add: {"server_port": %d, "password": "x", "plugin": "%s"}' % (port, SCRIPT))
    assert r == "ok", repr(r)
    wait_until(lambda: os.path.exists(MARKER) and open(MARKER).read().strip(), 10, "the plugin")
    assert open(MARKER).read().split() == [str(NOBODY)], "the plugin runs as --user, not root"
    os.unlink(MARKER)


def test_allowed_user_and_passwords_only_for_their_owner():
    mp = free_port(socket.SOCK_DGRAM)
    addr = "127.0.0.1:%d" % mp
    manager(addr, "--manager-allow", "nobody")
    mine, theirs = free_port(), free_port()
    assert as_user(NOBODY, addr, 'add: {"server_port": %d, "password": "pw-nobody"}' % mine) == "ok"
    assert as_user(0, addr, 'add: {"server_port": %d, "password": "pw-root"}' % theirs) == "ok"
    wait_port(mine)
    wait_port(theirs)
    seen = {int(e["server_port"]): e.get("password") for e in json.loads(as_user(NOBODY, addr, "list"))}
    assert seen == {mine: "pw-nobody", theirs: None}, seen
    seen = {int(e["server_port"]): e.get("password") for e in json.loads(as_user(0, addr, "list"))}
    assert seen == {mine: None, theirs: "pw-root"}, seen
    # Non-UTF-8 text is refused and list stays valid JSON.
    r = as_user(0, addr, b'add: {"server_port": %d, "password": "\xff\xfe"}' % free_port())
    assert r.startswith("err"), r
    json.loads(as_user(0, addr, "list"))
    assert as_user(NOBODY, addr, 'remove: {"server_port": %d}' % mine) == "ok"


def test_bad_allow_list_is_a_clear_error():
    out = subprocess.run([SSMANAGER, "--manager-address", "127.0.0.1:1", "-m", M,
                          "--manager-allow", "no-such-user-here"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 2 and "no user \"no-such-user-here\"" in out.stderr, out.stderr


if __name__ == "__main__":
    sys.exit(run_tests([
        test_nobody_cannot_drive_the_manager_over_udp,
        test_nobody_cannot_drive_the_manager_over_a_unix_socket,
        test_plugins_only_from_the_operators_list_and_run_as_the_user,
        test_allowed_user_and_passwords_only_for_their_owner,
        test_bad_allow_list_is_a_clear_error,
    ], "manager_trust"))
