# SPDX-License-Identifier: MIT
"""The docs say what the programs do: every flag of --help is in the man page
and in README.md, the signals are described alike in both, and README's
manager examples give the answers they show with Debian's nc."""
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sstest import *  # noqa: E402,F401,F403

README = open(os.path.join(ROOT, "README.md")).read()
PROGS = ("ssserver", "sslocal", "ssmanager")


def man(prog):
    with open(os.path.join(BUILD, "man", prog + ".1")) as f:
        return f.read()


def help_flags(prog):
    out = subprocess.run([os.path.join(BUILD, prog), "--help"], capture_output=True, text=True, timeout=10).stdout
    flags = set()
    for line in out.splitlines():
        m = re.match(r"^  (-[A-Za-z0-9])?(?:, )?\s*(--[a-z0-9-]+)?", line)
        if m:
            flags.update(f for f in m.groups() if f)
    return flags


def in_man(flag, page):
    return flag.replace("-", "\\-") in page


def in_readme(flag):
    # A table cell or a sentence: `--flag ...` or `-x`, written whole.
    return re.search(r"`%s[` ,=]" % re.escape(flag), README) is not None or \
        re.search(r", `%s`" % re.escape(flag), README) is not None


def test_every_flag_of_help_is_in_the_man_page_and_the_readme():
    missing = []
    total = 0
    for prog in PROGS:
        flags = help_flags(prog)
        assert len(flags) > 20, (prog, flags)
        page = man(prog)
        for f in sorted(flags):
            total += 1
            if not in_man(f, page):
                missing.append("%s %s: not in its man page" % (prog, f))
            if not in_readme(f):
                missing.append("%s %s: not in README.md" % (prog, f))
    print("  %d flags checked" % total)
    assert not missing, "\n".join(missing)


def section(page, name):
    m = re.search(r"^\.SH %s\n(.*?)(?=^\.SH )" % name, page, re.S | re.M)
    assert m, name
    return m.group(1)


def test_signals_agree():
    for prog in ("ssserver", "sslocal"):
        sig = section(man(prog), "SIGNALS")
        for s in ("SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGHUP"):
            assert s in sig, (prog, s)
            assert s in README, s
    # ssserver's SIGHUP reloads, in both; sslocal's logs totals.
    assert "Reload" in section(man("ssserver"), "SIGNALS").split("SIGHUP")[1]
    assert "SIGHUP (`systemctl reload`) re-reads the config file" in README
    assert "Log the traffic totals" in section(man("sslocal"), "SIGNALS").split("SIGHUP")[1]
    assert "SIGQUIT" in README and "stops\naccepting" in README
    assert "ssserver" in section(man("ssmanager"), "SIGNALS")


def test_readme_manager_examples_answer_as_shown():
    block = README.split("build/ssmanager --manager-address 127.0.0.1:6001", 1)[1].split("```", 1)[0]
    lines = [l for l in block.splitlines() if "| nc " in l]
    assert len(lines) == 4, lines
    mp, port = free_port(socket.SOCK_DGRAM), free_port()
    start([os.path.join(BUILD, "ssmanager"), "--manager-address", "127.0.0.1:%d" % mp, "-m", "aes-256-gcm",
           "-s", "127.0.0.1", "-u"])
    time.sleep(0.3)
    for line in lines:
        cmd, shown = line.split("#", 1)
        cmd = cmd.replace("6001", str(mp)).replace("8389", str(port))
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=15).stdout.strip()
        shown = shown.strip().replace("8389", str(port))
        if shown.startswith("stat:"):
            assert re.fullmatch(r'stat: \{"%d":\d+\}' % port, out), (cmd, out)
        elif shown.startswith("["):
            assert json.loads(out) == json.loads(shown), (cmd, out)
        else:
            assert out == shown, (cmd, out, shown)


if __name__ == "__main__":
    sys.exit(run_tests([
        test_every_flag_of_help_is_in_the_man_page_and_the_readme,
        test_signals_agree,
        test_readme_manager_examples_answer_as_shown,
    ], "docs"))
