# SPDX-License-Identifier: MIT
"""make deb: a Debian package that lintian finds no error in, that dpkg
installs (binaries, man pages, units, completions, the ssbpf user and its
state directory) and removes and purges without leaving anything behind."""
import glob
import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

FILES = ["usr/bin/ssserver", "usr/bin/sslocal", "usr/bin/ssmanager", "usr/bin/ssctl",
         "usr/share/man/man1/ssserver.1.gz", "usr/share/man/man1/ssmanager.1.gz",
         "lib/systemd/system/ssbpf-server@.service", "lib/systemd/system/ssbpf-manager.service",
         "usr/share/bash-completion/completions/ssserver", "usr/share/zsh/vendor-completions/_sslocal",
         "etc/ssbpf/example.json", "usr/lib/sysusers.d/ssbpf.conf"]


def sh(args, timeout=600):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


def installed():
    return subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "ssbpf"], capture_output=True,
                          text=True).stdout.strip()


def test_make_deb_installs_and_removes_cleanly():
    o = os.path.relpath(os.path.join(BUILD, "debtest"), ROOT)
    rc, out = sh(["make", "-C", ROOT, "-s", "O=" + o, "deb"], timeout=900)
    assert rc == 0, out[-3000:]
    deb = [d for d in glob.glob(os.path.join(ROOT, o, "deb", "ssbpf_*.deb")) if "dbgsym" not in d]
    assert len(deb) == 1, deb
    rc, out = sh(["lintian", "--allow-root", deb[0]])
    errors = [l for l in out.splitlines() if l.startswith("E:")]
    assert not errors, out
    assert installed() != "installed", "ssbpf is installed already; this test installs and purges it"
    try:
        rc, out = sh(["dpkg", "-i", deb[0]])
        assert rc == 0, out
        for f in FILES:
            assert os.path.exists("/" + f), f
        rc, out = sh(["/usr/bin/ssserver", "--version"])
        assert rc == 0 and "ssserver" in out, out
        assert pwd.getpwnam("ssbpf").pw_dir == "/var/lib/ssbpf"
        st = os.stat("/var/lib/ssbpf")
        assert st.st_uid == pwd.getpwnam("ssbpf").pw_uid, st
        # The bash completion offers the table's flags.
        rc, out = sh(["bash", "-c", "source /usr/share/bash-completion/completions/sslocal; "
                      "COMP_WORDS=(sslocal --ser); COMP_CWORD=1; _ssbpf_sslocal; echo ${COMPREPLY[@]}"])
        assert out.split() == ["--server-url"], out
        for prog in ("ssserver", "sslocal", "ssmanager"):
            rc, out = sh(["zsh", "-n", "/usr/share/zsh/vendor-completions/_" + prog])
            assert rc == 0, out
        rc, out = sh(["dpkg", "-r", "ssbpf"])
        assert rc == 0, out
        assert not os.path.exists("/usr/bin/ssserver")
        assert os.path.exists("/etc/ssbpf/example.json"), "a removed package keeps its conffiles"
        rc, out = sh(["dpkg", "--purge", "ssbpf"])
        assert rc == 0, out
        for f in FILES:
            assert not os.path.exists("/" + f), f
        assert not os.path.exists("/etc/ssbpf") and not os.path.exists("/var/lib/ssbpf")
        try:
            pwd.getpwnam("ssbpf")
            raise AssertionError("purge left the ssbpf user")
        except KeyError:
            pass
    finally:
        if installed():
            sh(["dpkg", "--purge", "ssbpf"])
        sh(["rm", "-rf", os.path.join(ROOT, o)])


if __name__ == "__main__":
    sys.exit(run_tests([test_make_deb_installs_and_removes_cleanly], "deb"))
