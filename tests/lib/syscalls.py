# SPDX-License-Identifier: MIT
"""System calls of running processes while an action runs, counted by strace -c -f
(make bench's set-up section and tests/netns/test_setup.py)."""
import os
import subprocess
import tempfile
import time


def count(pids, action):
    """Runs action() with strace -c -f attached to every pid; {system call: calls}, all pids summed."""
    files, tracers = [], []
    try:
        for pid in pids:
            files.append(tempfile.mktemp(prefix="ssbpf-strace."))
            tracers.append(subprocess.Popen(["strace", "-c", "-f", "-o", files[-1], "-p", str(pid)],
                                            stderr=subprocess.DEVNULL))
        time.sleep(1)  # attached before the first call counts
        action()
        time.sleep(0.3)
    finally:
        for t in tracers:
            t.terminate()
            t.wait()
    calls = {}
    for path in files:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    calls[parts[-1]] = calls.get(parts[-1], 0) + int(parts[3])
        os.unlink(path)
    return calls
