"""The kvmtune.snapshot/1 contract (docs/snapshot-json.md), key by key, as one checker;
and a reader of `kvmtune snapshot`'s text report, so tests compare it with the JSON.

Every tier runs it on what it has: a hand-built snapshot (unit), the demo host's
`kvmtune snapshot --demo --json` and the lab's `kvmtune snapshot --json`. Loaded by
tests/conftest.py (fixture `snapshot_contract`), not imported as a package.
"""

from __future__ import annotations

import re
from typing import Any

INT, STR, FLOAT = int, str, float


def OPT(t):
    return (t, type(None))


CONTRACT: dict[str, dict[str, Any]] = {
    "": {"schema": STR, "time": FLOAT, "host": dict, "guests": list, "errors": list},
    "host": {"hostname": STR, "nodes": list, "hugepages": dict, "ksm": OPT(dict),
             "thp_enabled": OPT(STR), "numa_balancing": OPT(INT), "tuned_profile": OPT(STR)},
    "node": {"id": INT, "cpus": list, "mem_total_kib": INT, "mem_free_kib": INT,
             "distances": OPT(list), "hugepages": dict},
    "node_pool": {"total": INT, "free": INT, "surplus": INT},
    "pool": {"total": INT, "free": INT, "reserved": INT, "surplus": INT},
    "ksm": {"run": INT, "pages_shared": INT, "pages_sharing": INT, "pages_unshared": INT,
            "pages_volatile": INT, "full_scans": INT, "merge_across_nodes": OPT(INT),
            "pages_to_scan": INT, "sleep_millisecs": INT, "general_profit": OPT(INT)},
    "guest": {"name": STR, "uuid": STR, "id": OPT(INT), "state": STR, "pid": OPT(INT),
              "memory_kib": INT, "vcpus": list, "emulator_affinity": OPT(list),
              "numatune": OPT(dict), "memtune": OPT(dict), "numa_memory_kib": OPT(dict),
              "hugepages": OPT(dict), "ksm": OPT(dict), "blkio_weight": OPT(INT), "disks": list},
    "vcpu": {"index": INT, "tid": OPT(INT), "pcpu": OPT(INT), "affinity": list, "pinned": bool,
             "cpu_time_ns": OPT(INT)},
    # added in version 1 (docs/snapshot-json.md, "Keys added"): the vCPU's state
    "vcpu_state": {"state": OPT(STR)},
    "numatune": {"mode": STR, "nodeset": OPT(STR)},
    "memtune": {"hard_limit_kib": OPT(INT), "soft_limit_kib": OPT(INT), "swap_hard_limit_kib": OPT(INT)},
    # shared_kib: added in version 1 (docs/snapshot-json.md, "Keys added")
    "guest_ksm": {"merging_pages": OPT(INT), "profit_bytes": OPT(INT), "shared_kib": OPT(dict)},
    "disk": {"target": STR, "source": OPT(STR), "iotune": dict, "rd_bytes": OPT(INT),
             "wr_bytes": OPT(INT), "rd_reqs": OPT(INT), "wr_reqs": OPT(INT)},
    # added in version 1 (docs/snapshot-json.md, "Keys added"): latency, flushes and errors
    "disk_times": {"rd_times_ns": OPT(INT), "wr_times_ns": OPT(INT), "fl_reqs": OPT(INT),
                   "fl_times_ns": OPT(INT), "errors": OPT(INT)},
    "guest_nics": {"nics": list},
    "netif": {"mac": OPT(STR), "type": OPT(STR), "source": OPT(STR), "target": OPT(STR), "model": OPT(STR),
              "vhost": OPT(bool), "queues": OPT(INT), "note": OPT(STR),
              **{f"{side}_{k}": OPT(INT) for side in ("rx", "tx") for k in ("bytes", "packets", "errs", "drop")}},
    "iotune": {k: INT for k in ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
                                "total_iops_sec", "read_iops_sec", "write_iops_sec")},
    "error": {"source": STR, "message": STR},
    # added in version 1 (docs/snapshot-json.md, "Keys added"): the advisor's facts
    "host_facts": {"tuned_running": OPT(bool), "numad_running": OPT(bool), "arp_filter": OPT(INT),
                   "vhost_zcopytx": OPT(INT), "uptime_s": OPT(FLOAT), "loadavg": OPT(list)},
    "guest_facts": {"domain": OPT(dict)},
    # added in version 1: libvirt did not answer for the guest in time (docs/snapshot-json.md)
    "guest_stale": {"stale": bool},
    # added in version 1: its settings are not read yet (the TUI's first polls; docs/snapshot-json.md)
    "guest_pending": {"settings_pending": bool},
    # added in version 1: the vhost-net workers of its NICs (docs/snapshot-json.md)
    "guest_vhost": {"vhost_threads": list},
    "vhost_thread": {"tid": INT, "pcpu": OPT(INT), "affinity": list, "cpu_time_ns": OPT(INT), "kernel": bool},
    # added in version 1: the configured size and the RSS beside memory_kib; each node's numastat
    "guest_memory": {"max_memory_kib": OPT(INT), "rss_kib": OPT(INT)},
    "node_numastat": {"numastat": OPT(dict)},
    "domain": {"cpu_mode": OPT(STR), "cpu_model": OPT(STR), "sockets": OPT(INT), "cores": OPT(INT),
               "threads": OPT(INT), "pmu": OPT(bool), "cells": list, "nics": list, "controllers": list,
               "disk_iothreads": dict, "sounds": list, "inputs": list, "redirdevs": INT, "graphics": list,
               "memballoon": OPT(STR), "vcpu_placement": OPT(STR), "numa_placement": OPT(STR),
               "iothreads": INT, "max_memory_kib": OPT(INT)},
    "cell": {"id": INT, "cpus": OPT(STR), "memory_kib": INT, "nodeset": OPT(STR)},
    "nic": {"mac": OPT(STR), "type": OPT(STR), "source": OPT(STR), "model": OPT(STR), "driver": OPT(STR),
            "queues": OPT(INT), "target": OPT(STR), "alias": OPT(STR)},
    "controller": {"type": STR, "model": OPT(STR), "index": OPT(INT), "queues": OPT(INT)},
}
MODES = {"strict", "preferred", "interleave", "restrictive"}
VCPU_STATES = {"running", "halted", "blocked", "stopped", "offline", None}


def check(obj: dict, part: str) -> None:
    for key, typ in CONTRACT[part].items():
        assert key in obj, f"{part}.{key} missing"
        assert isinstance(obj[key], typ) and not (typ is INT and isinstance(obj[key], bool)), \
            f"{part}.{key}: {obj[key]!r} is not {typ}"


def _int_map(m: dict | None, what: str, depth: int = 1) -> None:
    """{"<int>": int} (or nested `depth` levels): keys are decimal strings, leaves ints."""
    if m is None:
        return
    assert isinstance(m, dict), what
    for k, v in m.items():
        assert isinstance(k, str) and k.isdigit(), f"{what}: key {k!r} is not a number"
        if depth > 1:
            _int_map(v, f"{what}.{k}", depth - 1)
        else:
            assert isinstance(v, int) and not isinstance(v, bool), f"{what}.{k}: {v!r}"


def _ints(xs: list, what: str) -> None:
    assert all(isinstance(x, int) and not isinstance(x, bool) for x in xs), f"{what}: {xs!r}"


def _domain(f: dict, what: str) -> None:
    check(f, "domain")
    for c in f["cells"]:
        check(c, "cell")
    for n in f["nics"]:
        check(n, "nic")
    for c in f["controllers"]:
        check(c, "controller")
    assert all(isinstance(k, str) and isinstance(v, int) for k, v in f["disk_iothreads"].items()), what
    for key in ("sounds", "inputs", "graphics"):
        assert all(isinstance(x, str) for x in f[key]), f"{what} domain.{key}: {f[key]!r}"


def check_document(d: dict) -> None:
    """The whole document: every object in it has the contract's keys and types."""
    check(d, "")
    assert d["schema"] == "kvmtune.snapshot/1"
    h = d["host"]
    check(h, "host")
    check(h, "host_facts")
    if h["ksm"] is not None:
        check(h["ksm"], "ksm")
    for n in h["nodes"]:
        check(n, "node")
        _ints(n["cpus"], "node.cpus")
        if n["distances"] is not None:
            _ints(n["distances"], "node.distances")
        for size, pool in n["hugepages"].items():
            assert size.isdigit(), size
            check(pool, "node_pool")
        check(n, "node_numastat")
        if n["numastat"] is not None:
            assert "numa_hit" in n["numastat"], n["numastat"]
            _ints(list(n["numastat"].values()), "node.numastat")
    for size, pool in h["hugepages"].items():
        assert size.isdigit(), size
        check(pool, "pool")
    for g in d["guests"]:
        what = f"guest {g.get('name')!r}"
        check(g, "guest")
        for v in g["vcpus"]:
            check(v, "vcpu")
            check(v, "vcpu_state")
            assert v["state"] in VCPU_STATES, f"{what} vcpu {v['index']} state {v['state']!r}"
            _ints(v["affinity"], f"{what} vcpu affinity")
        if g["emulator_affinity"] is not None:
            _ints(g["emulator_affinity"], f"{what} emulator_affinity")
        if g["numatune"] is not None:
            check(g["numatune"], "numatune")
            assert g["numatune"]["mode"] in MODES, g["numatune"]
        if g["memtune"] is not None:
            check(g["memtune"], "memtune")
        _int_map(g["numa_memory_kib"], f"{what} numa_memory_kib")
        _int_map(g["hugepages"], f"{what} hugepages", depth=2)
        if g["ksm"] is not None:
            check(g["ksm"], "guest_ksm")
            _int_map(g["ksm"]["shared_kib"], f"{what} ksm.shared_kib")
        for disk in g["disks"]:
            check(disk, "disk")
            check(disk, "disk_times")
            check(disk["iotune"], "iotune")
        check(g, "guest_nics")
        for n in g["nics"]:
            check(n, "netif")
            # counters only with a host device (and then all of them); else a note says why
            counted = [n[f"{s}_{k}"] is not None for s in ("rx", "tx") for k in ("bytes", "packets", "errs", "drop")]
            assert all(counted) or (not any(counted) and n["note"]), f"{what} nic {n}"
        check(g, "guest_facts")
        check(g, "guest_stale")
        check(g, "guest_pending")
        check(g, "guest_vhost")
        for t in g["vhost_threads"]:
            check(t, "vhost_thread")
        check(g, "guest_memory")
        if g["domain"] is not None:
            _domain(g["domain"], what)
    for e in d["errors"]:
        check(e, "error")


def parse_report(text: str) -> tuple[list[list[str]], dict[str, dict]]:
    """(node rows, {guest: {"head", "mem": {row: [cells]}, "ksm", "vcpus": [[cells]], "emulator"}})."""
    nodes: list[list[str]] = []
    guests: dict[str, dict] = {}
    g = None
    section = None
    for line in text.splitlines():
        if m := re.match(r"guest (\S+) \((.*)\)$", line):
            g = guests[m.group(1)] = {"head": m.group(2), "mem": {}, "ksm": None, "vcpus": [], "emulator": None}
            continue
        words = line.split()
        if g is None:
            if words[:2] == ["node", "cpus"]:
                section = "nodes"
            elif section == "nodes" and words and words[0].isdigit():
                nodes.append(words)
            continue
        if words[:1] == ["MiB"]:
            section = "mem"
        elif words[:1] == ["vCPU"]:
            section = "vcpu"
        elif line.startswith("  KSM-shared "):
            g["ksm"] = line.strip()
        elif line.startswith("  emulator affinity "):
            g["emulator"] = words[2]
        elif section == "mem" and words and words[0] in ("Huge", "Anon", "Total"):
            g["mem"][words[0]] = words[1:]
        elif section == "vcpu" and words and words[0].isdigit():
            g["vcpus"].append(words)
    return nodes, guests
