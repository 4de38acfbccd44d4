# SPDX-License-Identifier: MIT
"""Reads vmtest console logs (a first run that died, then the re-run of the
files it left; a file counts by its last run): prints the last lines of a
console whose guest died, the guest kernel, what it has natively
and what fell back, a table of every test with its result, and ends with
"N passed, N failed". A test file that planned tests it never reported, a
file that exited non-zero, a run that executed nothing, or a guest that did
not finish count as failures; exit status 1 then."""
import re
import sys

FEATURES = ("sockmap", "sk_lookup", "sockops/sk_msg", "cgroup_sock_addr", "BTF", "netns_cookie")
# What the daemon does without a feature (README, "Kernel support").
FALLBACK = {"sockmap": "pass-through pairs use splice",
            "sk_lookup": "redir steering uses nftables TPROXY",
            "sockops/sk_msg": "no local shortcut (--bpf-cgroup refused with a reason)",
            "cgroup_sock_addr": "no cgroup capture",
            "BTF": "no BPF (CO-RE needs BTF): splice and nftables",
            "netns_cookie": "no local shortcut (it pairs sockets by SO_NETNS_COOKIE, 5.14)"}


def parse(text):
    files, cur = [], None
    for line in text.splitlines():
        m = re.match(r"VMTEST FILE (\S+)", line)
        if m:
            cur = {"file": m.group(1), "plan": 0, "rows": [], "exit": None}
            files.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"  PLAN (\d+) ", line)
        if m:
            cur["plan"] += int(m.group(1))
        m = re.match(r"  (PASS|FAIL) (\S+)", line)
        if m:
            cur["rows"].append((m.group(1), m.group(2)))
        m = re.match(r"  VMTEST EXIT \S+ (\d+)", line)
        if m:
            cur["exit"] = int(m.group(1))
    return files


def crash_tail(text, lines=40):
    """What the console showed last before the guest died (a panic's trace)."""
    tail = [l for l in text.splitlines() if l.strip()][-lines:]
    print("the guest died before the end; the last lines of its console:")
    for l in tail:
        print("    " + l)
    print()


def main(paths, selected):
    """paths: console logs, in order; a file counts by its last run."""
    texts = [open(p, errors="replace").read() for p in paths]
    text = texts[-1]
    for t in texts:
        if "VMTEST DONE" not in t and "VMTEST UNAME" in t:
            crash_tail(t)
    uname = re.search(r"VMTEST UNAME (\S+)", text)
    tier = re.search(r"VMTEST TIER (\S+)", text)
    feats = dict(re.findall(r"VMTEST FEATURE (\S+) (yes|no)", text))
    notes = re.findall(r"VMTEST NOTE (.*)", text)
    done = "VMTEST DONE" in text
    last = {}
    for t in texts:
        for f in parse(t):
            last[f["file"]] = f
    files = [last[t] for t in selected if t in last] + \
        [f for n, f in last.items() if n not in selected]
    if len(texts) > 1:
        print("re-run after a guest crash: %s" % ", ".join(f["file"] for f in parse(text)))
    kernel = uname.group(1) if uname else "did not boot"
    native = [f for f in FEATURES if feats.get(f) == "yes"]
    fell = ["%s (%s)" % (f, FALLBACK[f]) for f in FEATURES if feats.get(f) == "no"]
    print("guest kernel: %s" % kernel)
    print("native: %s" % (", ".join(native) or "none"))
    print("fell back: %s" % ("; ".join(fell) or "nothing"))
    print("pass-through tier the daemon chose: %s" % (tier.group(1) if tier else "?"))
    for n in notes:
        print("  daemon: %s" % n.strip())
    print()
    print("| test | result |")
    print("| --- | --- |")
    passed = failed = 0
    for f in files:
        for res, name in f["rows"]:
            print("| %s | %s |" % (name, res))
        p = sum(1 for r, _ in f["rows"] if r == "PASS")
        x = sum(1 for r, _ in f["rows"] if r == "FAIL")
        missing = max(f["plan"] - p - x, 0)
        if f["plan"] == 0 or missing or (f["exit"] not in (0, None) and not x):
            # Died at import, or before reporting every test it planned.
            why = "no test ran (exit %s)" % f["exit"] if f["plan"] == 0 else \
                "%d of %d planned tests never reported" % (missing, f["plan"])
            print("| %s | FAIL: %s |" % (f["file"], why))
            x += max(missing, 1)
        passed += p
        failed += x
    ran = {f["file"] for f in files}
    for t in selected:
        if t not in ran:
            print("| %s | FAIL: never started |" % t)
            failed += 1
    if not done:
        print("\nthe guest did not finish (timeout or crash): counted as one failure")
        failed += 1
    if passed == 0:
        print("\nno test passed: an empty run is a failure")
        failed = max(failed, 1)
    summary = "%d passed, %d failed" % (passed, failed)
    print("MATRIX %s | native: %s | fell back: %s | %s%s" % (
        kernel, ", ".join(native) or "none",
        ", ".join(f for f in FEATURES if feats.get(f) == "no") or "nothing", summary,
        " (the guest died once; the files it left ran again)" if len(texts) > 1 else ""))
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    cut = args.index("--") if "--" in args else 1
    sys.exit(main(args[:cut], args[cut + 1:] if "--" in args else args[1:]))
