"""The advisor's domain facts on the lab's real guests equal what `virsh dumpxml` says,
read here with ElementTree on its own (not through kvmtune's parser); and the untuned guest
carries the three things it was defined with (writeback cache, e1000, no <cpu>)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from labkit import GUESTS, LAB_SH, UNTUNED, virsh

KIB = {"KiB": 1, "k": 1, "K": 1, "MiB": 1024, "M": 1024, "GiB": 1024 ** 2, "G": 1024 ** 2}


def _int(v):
    return None if v is None else int(v)


def from_virsh(name: str) -> dict:
    """The facts as virsh's XML gives them, each in the form the snapshot JSON uses."""
    d = ET.fromstring(virsh("dumpxml", name))
    # the CPU mode and model as the saved definition has them (a started host-model guest's
    # live XML says custom); the topology is the live one
    cpu = ET.fromstring(virsh("dumpxml", "--inactive", name)).find("cpu")
    topo = d.find("cpu/topology")
    mem = d.find("memory")
    pmu = d.find("features/pmu")
    nt = d.find("numatune/memory")
    dev = d.find("devices")

    def src(i):
        s = i.find("source")
        return None if s is None else s.get("network") or s.get("bridge") or s.get("dev")

    def attr(el, path, key):
        e = el.find(path)
        return None if e is None else e.get(key)
    return {
        "virt_type": d.get("type"),
        "max_vcpus": int(d.find("vcpu").text),
        "cpu_mode": None if cpu is None else cpu.get("mode", "custom"),
        "cpu_model": None if cpu is None or cpu.find("model") is None else cpu.find("model").text,
        "sockets": None if topo is None else _int(topo.get("sockets")),
        "cores": None if topo is None else _int(topo.get("cores")),
        "threads": None if topo is None else _int(topo.get("threads")),
        "pmu": None if pmu is None else pmu.get("state") == "on",
        "cells": [{"id": int(c.get("id")), "cpus": c.get("cpus"),
                   "memory_kib": int(c.get("memory")) * KIB[c.get("unit", "KiB")], "nodeset": None}
                  for c in d.findall("cpu/numa/cell")],
        "nics": [{"mac": attr(i, "mac", "address"), "type": i.get("type"), "source": src(i),
                  "model": attr(i, "model", "type"), "driver": attr(i, "driver", "name"),
                  "queues": _int(attr(i, "driver", "queues")), "target": attr(i, "target", "dev"),
                  "alias": attr(i, "alias", "name")} for i in dev.findall("interface")],
        "controllers": [{"type": c.get("type"), "model": c.get("model"), "index": _int(c.get("index")),
                         "queues": _int(attr(c, "driver", "queues"))} for c in dev.findall("controller")],
        "disk_iothreads": {k.find("target").get("dev"): int(k.find("driver").get("iothread"))
                           for k in dev.findall("disk") if attr(k, "driver", "iothread") is not None},
        "sounds": [s.get("model") for s in dev.findall("sound")],
        "inputs": [f"{i.get('type')}/{i.get('bus')}" if i.get("bus") else i.get("type")
                   for i in dev.findall("input")],
        "redirdevs": len(dev.findall("redirdev")),
        "graphics": [g.get("type") for g in dev.findall("graphics")],
        "memballoon": attr(dev, "memballoon", "model"),
        "vcpu_placement": attr(d, "vcpu", "placement"),
        "numa_placement": None if nt is None else nt.get("placement"),
        "iothreads": int(d.find("iothreads").text) if d.find("iothreads") is not None else 0,
        "max_memory_kib": int(mem.text) * KIB[mem.get("unit", "KiB")],
        "disks": [{"target": k.find("target").get("dev"), "bus": k.find("target").get("bus"),
                   "cache": attr(k, "driver", "cache"), "io": attr(k, "driver", "io")}
                  for k in dev.findall("disk") if k.get("device", "disk") == "disk"],
    }


@pytest.fixture(scope="module")
def snap():
    from kvmtune.collect import Collector
    from kvmtune.source import open_live
    src = open_live("qemu:///system")
    try:
        yield Collector(src, settings_every=0).collect()
    finally:
        src.close()


@pytest.mark.parametrize("name", GUESTS)
def test_domain_facts_equal_virsh_dumpxml(snap, name):
    g = snap.guest(name)
    assert g is not None and g.domain is not None, [e for e in snap.errors if name in e.source]
    got = snap.to_json()["guests"][snap.guests.index(g)]
    want = from_virsh(name)
    disks = want.pop("disks")
    assert got["domain"] == want
    assert [{k: d[k] for k in ("target", "bus", "cache", "io")} for d in got["disks"]] == disks


def test_the_untuned_guest_is_what_the_advisor_must_flag(snap):
    g = snap.guest(UNTUNED)
    assert g is not None and g.domain is not None
    # defined without <cpu>: libvirt 9 then names QEMU's default model in its XML (saved and live)
    assert ET.parse(LAB_SH.parent / "lab" / "untuned.xml").getroot().find("cpu") is None
    assert ET.fromstring(virsh("dumpxml", "--inactive", UNTUNED)).find("cpu/model").text == "qemu64"
    assert (g.domain.cpu_mode, g.domain.cpu_model) == ("custom", "qemu64")
    assert [(n.type, n.model) for n in g.domain.nics] == [("user", "e1000")]
    assert [(d.target, d.cache) for d in g.disks] == [("vda", "writeback")]
