# SPDX-License-Identifier: MIT
"""SIP003 plugins against the real Debian packages (simple-obfs, v2ray-plugin),
with libev's ss-local and ss-server as the other end, content checked both
ways; the plugin's life tied to the daemon's."""
import os
import shutil
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from sstest import *  # noqa: E402,F401,F403
from test_interop import roundtrip, via_socks, libev  # noqa: E402
from test_udp import Association, UdpEcho, paced_echo  # noqa: E402

M = "aes-256-gcm"
V2RAY = shutil.which("ss-v2ray-plugin") or shutil.which("v2ray-plugin")


def ours_server(plugin, opts, extra=()):
    sp = free_port()
    srv = ssserver(sp, M, extra=["--plugin", plugin, "--plugin-opts", opts] + list(extra))
    return srv, sp


def ours_local(sp, plugin, opts, extra=()):
    lp = free_port()
    loc = sslocal(lp, sp, M, extra=["--plugin", plugin, "--plugin-opts", opts] + list(extra))
    return loc, lp


def children(pid):
    """Live (not zombie) processes whose parent is pid: {pid: name}."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(d)] = name
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_libev_obfs_local_to_our_ssserver_obfs_server():
    srv, sp = ours_server("obfs-server", "obfs=http")
    lp = free_port()
    libev("ss-local", ["-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-k", "test-pw", "-m", M,
                       "--plugin", "obfs-local", "--plugin-opts", "obfs=http;obfs-host=www.example.org"], lp)
    roundtrip(via_socks(lp))
    assert "plugin: started obfs-server" in srv.log_text()


def test_our_sslocal_obfs_local_to_libev_ss_server_obfs_server():
    sp = free_port()
    libev("ss-server", ["-s", "127.0.0.1", "-p", str(sp), "-k", "test-pw", "-m", M,
                        "--plugin", "obfs-server", "--plugin-opts", "obfs=http"], sp)
    loc, lp = ours_local(sp, "obfs-local", "obfs=http;obfs-host=www.example.org")
    roundtrip(via_socks(lp))


def test_obfs_tls_between_our_daemons_and_udp_bypasses_the_plugin():
    srv, sp = ours_server("obfs-server", "obfs=tls", extra=["-u"])
    loc, lp = ours_local(sp, "obfs-local", "obfs=tls;obfs-host=www.example.org", extra=["-u"])
    roundtrip(via_socks(lp))
    # UDP goes straight to the server's public port (SIP003), not through obfs.
    echo = UdpEcho()
    a = Association(lp)
    assert paced_echo(a, echo.port, 200) == 200
    a.close()
    echo.close()


def test_v2ray_plugin_websocket_both_ways():
    assert V2RAY, "v2ray-plugin is not installed"
    srv, sp = ours_server(V2RAY, "server")
    lp = free_port()
    libev("ss-local", ["-s", "127.0.0.1", "-p", str(sp), "-l", str(lp), "-k", "test-pw", "-m", M,
                       "--plugin", V2RAY], lp)
    roundtrip(via_socks(lp))
    stop_all()
    sp = free_port()
    libev("ss-server", ["-s", "127.0.0.1", "-p", str(sp), "-k", "test-pw", "-m", M,
                        "--plugin", V2RAY, "--plugin-opts", "server"], sp)
    loc, lp = ours_local(sp, V2RAY, "")
    roundtrip(via_socks(lp))


def test_plugin_in_a_sip002_uri():
    srv, sp = ours_server("obfs-server", "obfs=http")
    lp = free_port()
    uri = "ss://%s:test-pw@127.0.0.1:%d/?plugin=obfs-local%%3Bobfs%%3Dhttp#t" % (M, sp)
    start([os.path.join(BUILD, "sslocal"), "--server-url", uri, "-l", str(lp)], wait=lp)
    roundtrip(via_socks(lp))


def test_a_plugin_that_exits_at_once_stops_the_daemon_non_zero():
    sp = free_port()
    p = start([os.path.join(BUILD, "ssserver"), "-s", "127.0.0.1", "-p", str(sp), "-k", "x", "-m", M,
               "--plugin", "sh", "--plugin-opts", "x"], default_workers=True)
    rc = p.wait(15)
    assert rc != 0, rc
    assert "plugin sh" in p.log_text() and "exited with status" in p.log_text(), p.log_text()
    # A plugin that dies later takes the daemon down too, with its status.
    srv, sp = ours_server("obfs-server", "obfs=http")
    plug = [k for k, v in children(srv.pid).items() if v == "obfs-server"]
    assert len(plug) == 1, children(srv.pid)
    os.kill(plug[0], signal.SIGKILL)
    rc = srv.wait(15)
    assert rc != 0 and "killed by signal 9" in srv.log_text(), (rc, srv.log_text())


def test_no_plugin_outlives_the_daemon():
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for prog in ("ssserver", "sslocal"):
            if prog == "ssserver":
                d, sp = ours_server("obfs-server", "obfs=http", extra=["--workers", "2"])
            else:
                d, lp = ours_local(free_port(), "obfs-local", "obfs=http")
            plug = [k for k, v in children(d.pid).items() if v.startswith("obfs-")]
            assert len(plug) == 1, children(d.pid)
            d.send_signal(sig)
            d.wait(15)
            wait_until(lambda: not alive(plug[0]), 5, "the plugin of %s to exit after signal %d" % (prog, sig))


if __name__ == "__main__":
    sys.exit(run_tests([
        test_libev_obfs_local_to_our_ssserver_obfs_server,
        test_our_sslocal_obfs_local_to_libev_ss_server_obfs_server,
        test_obfs_tls_between_our_daemons_and_udp_bypasses_the_plugin,
        test_v2ray_plugin_websocket_both_ways,
        test_plugin_in_a_sip002_uri,
        test_a_plugin_that_exits_at_once_stops_the_daemon_non_zero,
        test_no_plugin_outlives_the_daemon,
    ], "plugins"))
