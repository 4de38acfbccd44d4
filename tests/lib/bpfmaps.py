# SPDX-License-Identifier: MIT
"""What a daemon's BPF maps hold, read as the kernel's selftests read what a
program did: the maps a process holds (its fdinfo) and their entries through
bpftool."""
import json
import os
import re
import subprocess


def bpf_maps_of(pid):
    """{map name: map id} of the BPF maps that process pid holds (its fdinfo), as
    the kernel's selftests read what a program did from its maps."""
    maps = {}
    for fd in os.listdir("/proc/%d/fdinfo" % pid):
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                m = re.search(r"map_id:\s*(\d+)", f.read())
        except OSError:
            continue
        if m:
            info = json.loads(subprocess.run(["bpftool", "map", "show", "id", m.group(1), "-j"],
                                             capture_output=True, text=True, check=True).stdout)
            maps[info["name"]] = int(m.group(1))
    return maps


def bpf_map_dump(pid, name):
    """The entries of process pid's map name, formatted through BTF: [{"key":, "value(s)":}]."""
    mid = bpf_maps_of(pid)[name]
    out = subprocess.run(["bpftool", "map", "dump", "id", str(mid), "-j"], capture_output=True,
                         text=True, check=True).stdout
    return [e["formatted"] if "formatted" in e else _unformatted(e) for e in json.loads(out)]


def _le(hexbytes):
    """bpftool's ["0x01", "0x00", ...] as a little-endian integer (a map without BTF)."""
    return int.from_bytes(bytes(int(b, 16) for b in hexbytes), "little")


def _unformatted(e):
    """An entry of a map the kernel took without BTF (libbpf drops it on older
    kernels), with integer keys and values as formatted entries have them."""
    out = {"key": _le(e["key"])}
    if "values" in e:
        out["values"] = [{"cpu": v["cpu"], "value": _le(v["value"])} for v in e["values"]]
    else:
        out["value"] = _le(e["value"])
    return out


def bpf_percpu_sum(entry):
    """The sum over CPUs of a per-CPU map entry."""
    return sum(v["value"] for v in entry["values"])
