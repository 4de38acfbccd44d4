# SPDX-License-Identifier: MIT
"""make run as a user sees it: the printed curl line and ss:// URI work, and
Ctrl-C (SIGINT) stops everything it started."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403


def test_make_run_prints_working_commands_and_stops_on_ctrl_c():
    env = dict(os.environ, SSBPF_SERVER_PORT=str(free_port()), SSBPF_LOCAL_PORT=str(free_port()),
               SSBPF_WEB_PORT=str(free_port()))
    p = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    out = b""
    end = time.time() + 120
    while b"Press Ctrl-C" not in out and time.time() < end and p.poll() is None:
        out += p.stdout.read1(4096)
    text = out.decode()
    try:
        m = re.search(r"^  (curl --socks5-hostname .*)$", text, re.M)
        assert m, text
        r = subprocess.run(m.group(1).split() + ["-sS", "--max-time", "20"], stdout=subprocess.PIPE,
                           timeout=30)
        with open(os.path.join(ROOT, "README.md"), "rb") as f:
            assert r.stdout == f.read(), "curl through make run did not return README.md"
        uri = re.search(r"^  (ss://\S+)$", text, re.M).group(1)
        # The URI is enough for another sslocal to use the same server.
        lp = free_port()
        start([os.path.join(BUILD, "sslocal"), "--server-url", uri, "-l", str(lp)], wait=lp)
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--socks5-hostname", "127.0.0.1:%d" % lp,
                            "http://127.0.0.1:%s/LICENSE" % env["SSBPF_WEB_PORT"]], stdout=subprocess.PIPE,
                           timeout=30)
        assert r.stdout.startswith(b"MIT License"), r.stdout[:100]
    finally:
        os.killpg(p.pid, signal.SIGINT)
        p.wait(20)
    rest = p.stdout.read().decode()
    assert "stopped" in rest, rest
    # Nothing is left listening on the ports.
    for port in ("SSBPF_SERVER_PORT", "SSBPF_LOCAL_PORT", "SSBPF_WEB_PORT"):
        wait_until(lambda: subprocess.run(["ss", "-Htln", "sport = :%s" % env[port]],
                                          stdout=subprocess.PIPE).stdout == b"", what="port %s free" % port)


if __name__ == "__main__":
    sys.exit(run_tests([test_make_run_prints_working_commands_and_stops_on_ctrl_c], "make_run"))
