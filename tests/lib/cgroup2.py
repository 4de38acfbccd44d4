# SPDX-License-Identifier: MIT
"""Scratch cgroup v2 directories for the local shortcut's tests and benchmark."""
import os
import subprocess
import tempfile


def make(tag):
    """A scratch cgroup v2 directory: under /sys/fs/cgroup when that is cgroup2,
    else under a cgroup2 mount made here. Returns (root, directory, mounted)."""
    root, mounted = "/sys/fs/cgroup", False
    kind = subprocess.run(["stat", "-f", "-c", "%T", root], capture_output=True, text=True).stdout.strip()
    if kind != "cgroup2fs":
        root = tempfile.mkdtemp(prefix="ssbpf-cg2.")
        subprocess.run(["mount", "-t", "cgroup2", "none", root], check=True)
        mounted = True
    d = os.path.join(root, "ssbpf-%s-%d" % (tag, os.getpid()))
    os.mkdir(d)
    return root, d, mounted


def remove(root, d, mounted):
    """Moves what is left in d to the root, removes d, and unmounts what make mounted."""
    with open(os.path.join(d, "cgroup.procs")) as f:
        left = f.read().split()
    for pid in left:
        with open(os.path.join(root, "cgroup.procs"), "w") as f:
            f.write(pid)
    os.rmdir(d)
    if mounted:
        subprocess.run(["umount", root])
        os.rmdir(root)
