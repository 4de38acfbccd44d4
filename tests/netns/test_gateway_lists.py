# SPDX-License-Identifier: MIT
"""The gateway at a real gateway's scale, in the lan/gw/wan namespaces of
test_gateway.py: 100,000 excluded prefixes from a file in either steering
mode (installed in under 2 s, a few rules, excluded traffic forwarded as fast
as without steering, steered traffic still proxied), a LAN client that
reaches an excluded target when nothing but that target is excluded (its
replies are not captured), libev's chn.acl given to redir (its bypass ranges
never reach sslocal), and SIGHUP with changed lists under a live steered
download."""
import hashlib
import ipaddress
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_gateway import *  # noqa: E402,F401,F403
from test_gateway import (GW, LAN, WAN, SERVER4, SS_PORT, REDIR_PORT, HTTP_PORT, T4, T6, X4, X6,  # noqa: E402
                          TABLE, topology_up, topology_down, setup_wan, curl_lan, udp_lan, ns, sh,
                          wait_log, steering_state, check_clean)

CHN_ACL = os.path.join(os.path.dirname(__file__), "..", "data", "chn.acl")
CHN_TARGET = "1.0.1.1"  # in chn.acl's 1.0.1.0/24 (bypass_list)
SSCTL = os.path.join(BUILD, "ssctl")


def prefixes_file(n, path):
    """n disjoint IPv4 prefixes from 20.0.0.0 on (/24, /26, /28 or /32, one per /24
    block), as plain lines and ipset "add" lines."""
    rnd = random.Random(1461)
    base = int(ipaddress.ip_address("20.0.0.0"))
    with open(path, "w") as f:
        f.write("# %d prefixes\ncreate bypass hash:net family inet\n" % n)
        for i in range(n):
            plen = rnd.choice((24, 26, 28, 32))
            net = ipaddress.ip_network((base + i * 256, plen))
            f.write("add bypass %s\n" % net if i % 2 else "%s  # block %d\n" % (net, i))
    return path


def start_redir(bpf, args, ctl=None):
    cmd = ["ip", "netns", "exec", GW, os.path.join(BUILD, "sslocal"), "--mode", "redir",
           "-s", SERVER4, "-p", str(SS_PORT), "-k", "gw-pw", "-m", "chacha20-ietf-poly1305",
           "-l", str(REDIR_PORT), "-u", "-v", "--bpf", "on" if bpf else "off"] + list(args)
    if ctl:
        cmd += ["--ctl-socket", ctl]
    t0 = time.time()
    gw = start(cmd, name="sslocal")
    wait_log(gw, r"steering \(.*\) installed", timeout=30)
    took = time.time() - t0
    wait_log(gw, "sslocal ready")
    return gw, took


def stats(ctl):
    r = subprocess.run([SSCTL, "-s", ctl, "stats", "--json"], capture_output=True, text=True,
                       timeout=15)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def iperf(target, seconds=2):
    """One TCP stream lan -> wan target, in Gbit/s. Sender and receiver are pinned to
    CPUs of their own (iperf3 -A): where the scheduler puts them swung one stream's
    rate by more than the difference measured."""
    last = str((os.cpu_count() or 1) - 1)
    srv = start(["ip", "netns", "exec", WAN, "iperf3", "-s", "-1", "-B", target, "-p", "5202", "--forceflush",
                 "-A", last], name="iperf3")
    wait_until(lambda: "listening" in srv.log_text(), what="iperf3 server")
    out = ns(LAN, "iperf3", "-c", target, "-p", "5202", "-t", str(seconds), "-J", "-A", "0")
    srv.wait(10)
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def proxied(wan, target, path="small.txt"):
    """Fetches from the LAN; True when it went through ssserver, False when routed."""
    before = len(wan.targets_seen())
    rc, body, err = curl_lan(target, path=path)
    assert rc == 0 and body == b"small\n", (target, rc, err)
    return any(target in s for s in wan.targets_seen()[before:])


def scale(bpf):
    mode = "sk_lookup" if bpf else "nftables"
    topology_up()
    try:
        wan, _ = setup_wan()
        path = prefixes_file(100000, os.path.join(LOGDIR, "bypass.ipset"))
        args = ["--steer", "0.0.0.0/0,::/0", "--exclude", "%s,%s" % (X4, X6), "--exclude-file", path]
        # Excluded traffic is forwarded as fast as without steering. One stream's
        # rate swings by 10% from run to run here and drifts over a run (21 Gbit/s
        # at first, 17 later, in one CI run), so the two are alternated and each
        # round's pair, measured back to back, gives a ratio; the median ratio
        # counts: 5 rounds, and up to 20 while it misses the bound (the best of
        # each side, compared before, failed on one early outlier).
        # sk_lookup mode adds no netfilter hook: within 5%. nftables mode puts a
        # prerouting chain (and its set lookup) on every forwarded packet, which
        # cost it 3-8% of one stream in some runs: within 15%.
        bound = 0.95 if bpf else 0.85
        plain, steered, took = [], [], []

        def ratio():
            r = sorted(s / p for s, p in zip(steered, plain))
            return (r[(len(r) - 1) // 2] + r[len(r) // 2]) / 2
        for i in range(20):
            plain.append(iperf(X4))
            gw, t = start_redir(bpf, args)
            took.append(t)
            steered.append(iperf(X4))
            if i == 19 or (i >= 4 and ratio() >= bound):
                break
            assert gw.stop() == 0
        took = sorted(took)[len(took) // 2]
        print("%s: 100,000 prefixes installed in %.2fs (median; from start to the line)" % (mode, took))
        assert took < 2.0, took
        assert "100000 from files" in gw.log_text(), gw.log_text()[-1500:]
        rules, routes, nft = steering_state()
        print("%s: %d rules, %d routes in table %d" % (mode, len(rules), len(routes), TABLE))
        assert len(rules) <= 4, rules
        if bpf:
            assert sum(r.startswith("throw") for r in routes) >= 100000, len(routes)
        else:
            out = ns(GW, "nft", "list", "set", "inet", "ssbpf", "exclude4")
            assert out.count(",") >= 99000, out.count(",")
        print("%s: excluded traffic lan -> wan, %d rounds: %.2f Gbit/s with 100,000 prefixes, "
              "%.2f without steering (medians); median ratio of each round's pair %.3f"
              % (mode, len(plain), sorted(steered)[len(steered) // 2], sorted(plain)[len(plain) // 2],
                 ratio()))
        assert ratio() >= bound, (steered, plain)
        # Steered traffic still reaches ssserver; the excluded target is routed.
        assert proxied(wan, T4) and proxied(wan, T6)
        assert not proxied(wan, X4) and not proxied(wan, X6)
        assert gw.stop() == 0
        check_clean()
    finally:
        stop_all()
        topology_down()


def test_100k_excluded_prefixes_with_sk_lookup():
    scale(True)


def test_100k_excluded_prefixes_with_nftables():
    scale(False)


def test_only_the_target_excluded_still_comes_back():
    """--steer 0.0.0.0/0,::/0 --exclude TARGET: the replies to the LAN client
    are not captured (its subnet is the gateway's own), in both modes."""
    topology_up()
    try:
        wan, _ = setup_wan()
        for bpf in (True, False):
            gw, _ = start_redir(bpf, ["--steer", "0.0.0.0/0,::/0", "--exclude", "%s,%s" % (X4, X6)])
            for target, client in ((X4, "10.77.1.2"), (X6, "fd77:1::2")):
                before = len(wan.http_peers())
                assert not proxied(wan, target), target
                assert any(client in p for p in wan.http_peers()[before:]), wan.http_peers()[before:]
                ok, peers, _ = udp_lan(target, n=20)
                assert ok == 20 and peers == [client], (bpf, target, ok, peers)
            assert proxied(wan, T4) and proxied(wan, T6)
            assert gw.stop() == 0
            check_clean()
    finally:
        stop_all()
        topology_down()


def test_chn_acl_bypass_never_touches_sslocal():
    """libev's chn.acl on redir: 1.0.1.1 (in its bypass list) is forwarded by the
    kernel, sslocal never sees it; 10.77.9.9 (not in it) is proxied."""
    topology_up()
    try:
        sh("ip", "-n", WAN, "addr", "add", CHN_TARGET + "/32", "dev", "lo")
        sh("ip", "-n", GW, "route", "add", "1.0.1.0/24", "via", SERVER4)
        wan, _ = setup_wan()
        for bpf in (True, False):
            ctl = os.path.join(LOGDIR, "gw-%d.sock" % bpf)
            gw, _ = start_redir(bpf, ["--steer", "0.0.0.0/0", "--acl", CHN_ACL], ctl=ctl)
            assert re.search(r"\d+ exclusions \(0 from files, 5\d\d\d from the ACL", gw.log_text()), \
                gw.log_text()[-1500:]
            wait_until(lambda: stats(ctl)["steering"]["exclusions_from_acl"] > 5000, 5,
                       "the ACL's prefixes in ssctl stats")
            st0 = stats(ctl)
            before = len(wan.http_peers())
            assert not proxied(wan, CHN_TARGET)
            assert any("10.77.1.2" in p for p in wan.http_peers()[before:])
            st1 = stats(ctl)
            assert st1["connections"]["accepted"] == st0["connections"]["accepted"], (st0, st1)
            assert proxied(wan, T4)
            wait_until(lambda: stats(ctl)["connections"]["accepted"] > st0["connections"]["accepted"],
                       5, "the proxied connection in sslocal's counters")
            if bpf:
                wait_until(lambda: stats(ctl)["steering"]["steered_tcp"] >= 1, 5, "the steered count")
            assert gw.stop() == 0
            check_clean()
    finally:
        stop_all()
        topology_down()


def test_sighup_reloads_the_lists_under_a_live_download():
    topology_up()
    try:
        wan, digest = setup_wan()
        for bpf in (True, False):
            path = os.path.join(LOGDIR, "excl-%d.txt" % bpf)
            with open(path, "w") as f:
                f.write("# before\n%s\n%s\n" % (X4, X6))
            gw, _ = start_redir(bpf, ["--steer", "10.77.9.0/24,fd77:9::/64", "--exclude-file", path])
            assert not proxied(wan, X4)
            result = {}

            def slow():
                url = "http://%s:%d/data.bin" % (T4, HTTP_PORT)
                r = subprocess.run(["ip", "netns", "exec", LAN, "curl", "-sS", "--limit-rate", "4M",
                                    "-m", "120", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                result["rc"], result["sha"] = r.returncode, hashlib.sha256(r.stdout).hexdigest()
            th = threading.Thread(target=slow)
            th.start()
            time.sleep(1.5)
            # X4 leaves the list, T4's neighbour .11 joins it; T4 itself stays steered.
            with open(path, "w") as f:
                f.write("10.77.9.11\n%s\n" % X6)
            n = len(re.findall(r"steering \(.*\) reloaded", gw.log_text()))
            os.kill(gw.pid, signal.SIGHUP)
            wait_until(lambda: len(re.findall(r"steering \(.*\) reloaded", gw.log_text())) > n,
                       10, "the reload line")
            th.join(150)
            assert result.get("rc") == 0 and result.get("sha") == digest, result
            assert proxied(wan, X4), "the new list applies to new flows"
            assert not proxied(wan, X6)
            assert gw.stop() == 0
            check_clean()
    finally:
        stop_all()
        topology_down()


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(run_tests([test_100k_excluded_prefixes_with_sk_lookup,
                        test_100k_excluded_prefixes_with_nftables,
                        test_only_the_target_excluded_still_comes_back,
                        test_chn_acl_bypass_never_touches_sslocal,
                        test_sighup_reloads_the_lists_under_a_live_download], "gateway_lists"))
