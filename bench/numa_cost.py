"""What one per-guest NUMA memory read costs, on a big preallocated guest (prints, never asserts).

Starts kvmtune-lab-bench (4 GiB, preallocated, THP off for the run so the kernel holds it
in 4 KiB pages, the worst case for page-table walks) on the lab's libvirtd, then times:
  numa_maps        one read of /proc/PID/numa_maps (the kernel walks every page table)
  numa_stat        one read of the guest's memory cgroup memory.numa_stat
  numastat -p PID  the standard tool (numa_maps underneath, plus its own start-up)
  kvmtune          the per-tick per-guest memory read (kvmtune.collect.process), and a
                   whole Collector tick (host + every guest) for scale
and the same per-tick read on a 128 MiB lab guest, to show it does not grow with memory.
Needs the lab (`make lab-up`); otherwise it says why and exits 0.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

URI = "qemu:///system"
NAME = "kvmtune-lab-bench"
SMALL = "kvmtune-lab-plain1"
MEM_GIB = 4
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

XML = f"""<domain type='qemu'>
  <name>{NAME}</name>
  <memory unit='GiB'>{MEM_GIB}</memory>
  <memoryBacking><allocation mode='immediate'/></memoryBacking>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><audio id='1' type='none'/><memballoon model='none'/></devices>
</domain>
"""


def virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-q", "-c", URI, *args], capture_output=True, text=True,
                          check=check, stdin=subprocess.DEVNULL, timeout=300)


def timed(fn, repeat: int) -> float:
    """Median seconds of `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    try:
        if virsh("version", check=False).returncode != 0:
            return f"no libvirtd answers on {URI} (run `make lab-up`)"
    except FileNotFoundError:
        return "virsh is not installed (run `make lab-up`)"
    return None


def measure() -> None:
    from kvmtune.collect import Collector, process
    from kvmtune.hostfs import HostFS
    from kvmtune.source import open_live

    fs = HostFS("/")
    pid = int(read(f"/run/libvirt/qemu/{NAME}.pid"))
    cgdir = process.memory_cgroup_dir(fs, pid)
    small_pid = process.guest_pid(fs, SMALL)
    small_cg = process.memory_cgroup_dir(fs, small_pid) if small_pid else None
    stat_path = f"/{cgdir}/memory.numa_stat"      # cgdir is relative to the HostFS root "/"

    anon = process.anon_per_node_kib(fs, cgdir)
    status = read(f"/proc/{pid}/status")
    rss = next(line.split()[1] for line in status.splitlines() if line.startswith("RssAnon:"))
    print(f"{NAME}: pid {pid}, {MEM_GIB} GiB preallocated, THP never; RssAnon {int(rss) // 1024} MiB, "
          f"kvmtune per node (MiB) {({n: k // 1024 for n, k in anon.items()})}")

    rows = [("numa_maps (one read)", timed(lambda: read(f"/proc/{pid}/numa_maps"), 5)),
            ("cgroup memory.numa_stat (one read)", timed(lambda: read(stat_path), 50))]
    rows.append(("numastat -p PID", timed(lambda: subprocess.run(
        ["numastat", "-p", str(pid)], capture_output=True, check=True), 3)))
    kv = timed(lambda: process.anon_per_node_kib(fs, cgdir), 50)
    rows.append(("kvmtune per-tick guest memory", kv))
    if small_cg:
        rows.append((f"  same, on {SMALL} (128 MiB)", timed(lambda: process.anon_per_node_kib(fs, small_cg), 50)))
    src = open_live(URI)
    try:
        col = Collector(src)
        rows.append(("kvmtune whole Collector tick (all guests)", timed(col.collect, 5)))
    finally:
        src.close()

    print(f"{'read':44} {'ms':>9} {'x kvmtune':>10}")
    for label, secs in rows:
        print(f"{label:44} {secs * 1e3:9.3f} {secs / kv:10.1f}")
    # The headline is like for like: the file numastat reads against what kvmtune reads. The
    # numastat command's ratio also counts its process start-up, so it is printed second.
    maps = next(s for label, s in rows if label.startswith("numa_maps"))
    numastat = next(s for label, s in rows if label.startswith("numastat"))
    print(f"numa_maps read (numastat's source) / kvmtune per-tick read: {maps / kv:.0f}x")
    print(f"numastat -p PID (incl. starting the process) / kvmtune per-tick read: {numastat / kv:.0f}x")


def main() -> int:
    why = why_not()
    if why:
        print(f"numa_cost: skipped: {why}")
        return 0
    thp_before = next(w.strip("[]") for w in read(str(THP)).split() if w.startswith("["))
    virsh("destroy", NAME, check=False)        # left over from an interrupted run
    virsh("undefine", NAME, check=False)
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(XML)
        f.flush()
        try:
            THP.write_text("never")
            virsh("define", f.name)
            t = time.perf_counter()
            virsh("start", NAME)
            print(f"started {NAME} in {time.perf_counter() - t:.1f} s")
            measure()
        finally:
            virsh("destroy", NAME, check=False)
            virsh("undefine", NAME, check=False)
            THP.write_text(thp_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
