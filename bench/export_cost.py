"""What a scrape of `kvmtune export` costs on the 1000-guest demo host (no pass/fail).

The exporter runs as a user runs it (`kvmtune export --demo --demo-guests 1000`, a
subprocess with its own demo state), collecting once (a long --interval, so nothing else
runs while the scrapes are measured). Each format is scraped once to ask for it (that
first scrape renders the page), then --scrapes times: the answer's wall time as the
scraper sees it and the exporter's CPU (utime + stime of its process, from /proc) per
scrape. Goals (issue 16): <= 100 ms and <= 50 ms CPU a scrape.

Beside it: what the collection thread pays per frame to render a page (prometheus-client's
encoders, in process), and, when a libvirtd answers on qemu:///system (the lab), the time
of one getAllDomainStats call there.

    python bench/export_cost.py [--guests 1000] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

WALL_GOAL_MS, CPU_GOAL_MS = 100.0, 50.0
OM = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime + stime


def start(guests: int, state: str) -> tuple[subprocess.Popen[bytes], str]:
    env = dict(os.environ, XDG_STATE_HOME=state, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    err = Path(state) / "err"
    proc = subprocess.Popen([sys.executable, "-m", "kvmtune.cli", "export", "--demo", "--demo-guests", str(guests),
                             "--listen", "127.0.0.1:0", "--interval", "3600"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err.open("w"))
    end = time.monotonic() + 120
    while time.monotonic() < end:
        m = re.search(r"on (http://\S+)/metrics", err.read_text())
        if m:
            url = m.group(1)
            while time.monotonic() < end:   # the first collection is in when the snapshot is
                try:
                    urllib.request.urlopen(url + "/snapshot.json", timeout=30).read()
                    return proc, url
                except OSError:
                    time.sleep(0.2)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"kvmtune export did not come up: {err.read_text()}")


def scrape(url: str, accept: str | None, gz: bool = False) -> tuple[float, int]:
    headers = {"Accept": accept} if accept else {}
    if gz:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(url + "/metrics", headers=headers)
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as r:
        n = len(r.read())
    return time.perf_counter() - t, n


def measure(proc: subprocess.Popen[bytes], url: str, accept: str | None, gz: bool, n: int) -> dict[str, float]:
    c0 = proc_cpu(proc.pid)
    first, size = scrape(url, accept, gz)
    first_cpu = proc_cpu(proc.pid) - c0
    walls, c0 = [], proc_cpu(proc.pid)
    for _ in range(n):
        walls.append(scrape(url, accept, gz)[0])
    cpu = (proc_cpu(proc.pid) - c0) / n
    return {"first": first, "first_cpu": first_cpu, "median": statistics.median(walls), "max": max(walls),
            "cpu": cpu, "bytes": size}


def render_cost(guests: int) -> dict[str, float]:
    from kvmtune.demo import DemoFeed, open_demo
    from kvmtune.export.promclient import FrameCollector, Stats, negotiate
    from kvmtune.frame import Framer
    feed = DemoFeed(open_demo(seed=1, guests=guests))
    try:
        framer = Framer()
        framer.push(feed.next())
        t, c = time.perf_counter(), time.process_time()
        frame = framer.push(feed.next())
        collect = time.perf_counter() - t, time.process_time() - c
    finally:
        feed.close()
    source = FrameCollector(frame, Stats(1, 0, 1.0, frame.snap.time))
    out = {"collect": collect[0], "collect_cpu": collect[1],
           "samples": sum(1 for m in source.collect() for _ in m.samples)}
    for name, accept in (("text", None), ("openmetrics", OM)):
        enc, _ctype = negotiate(accept)
        c = time.process_time()
        enc(source)
        out[name] = time.process_time() - c
    return out


def lab_bulk_call() -> str:
    try:
        import libvirt
    except ImportError:
        return "no libvirt-python here"
    try:
        conn = libvirt.openReadOnly("qemu:///system")
    except libvirt.libvirtError:
        return "no libvirtd answers on qemu:///system (the lab is down)"
    try:
        doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            conn.getAllDomainStats(0, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
            times.append(time.perf_counter() - t)
        return (f"{statistics.median(times) * 1e3:.1f} ms (median of 5, all stats groups, NOWAIT) "
                f"for its {len(doms)} running guests")
    finally:
        conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description="What a scrape of kvmtune export costs on the demo host.")
    p.add_argument("--guests", type=int, default=1000)
    p.add_argument("--scrapes", type=int, default=20)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="kvmtune-bench-") as state:
        proc, url = start(a.guests, state)
        try:
            results = {name: measure(proc, url, accept, gz, a.scrapes)
                       for name, accept, gz in (("Prometheus text 0.0.4", None, False), ("OpenMetrics", OM, False),
                                                ("OpenMetrics, gzip", OM, True))}   # the last as Prometheus asks
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"kvmtune export --demo --demo-guests {a.guests}: {a.scrapes} scrapes of /metrics per format, "
          "after one that asked for it")
    for name, r in results.items():
        ok = r["max"] * 1e3 <= WALL_GOAL_MS and r["cpu"] * 1e3 <= CPU_GOAL_MS
        print(f"  {name:<22} {r['bytes'] / 2 ** 20:.2f} MiB: answer median {r['median'] * 1e3:.1f} ms, "
              f"max {r['max'] * 1e3:.1f} ms; exporter CPU {r['cpu'] * 1e3:.1f} ms a scrape "
              f"(goals <= {WALL_GOAL_MS:.0f} ms, <= {CPU_GOAL_MS:.0f} ms CPU: {'met' if ok else 'NOT met'})")
        print(f"  {'':<22} the first scrape asking for it (renders or compresses it): {r['first'] * 1e3:.0f} ms, "
              f"{r['first_cpu'] * 1e3:.0f} ms CPU")
    c = render_cost(a.guests)
    print(f"per frame, in the collection thread: collection {c['collect'] * 1e3:.0f} ms "
          f"({c['collect_cpu'] * 1e3:.0f} ms CPU), rendering {c['samples']} samples: text "
          f"{c['text'] * 1e3:.0f} ms CPU, OpenMetrics {c['openmetrics'] * 1e3:.0f} ms CPU (each format asked for)")
    print(f"one getAllDomainStats on this host's libvirtd: {lab_bulk_call()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
