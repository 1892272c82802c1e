"""`kvmtune export` as a subprocess on the demo host: the pages, what they hold, the bad
requests it must survive, stopping, and the errors that are one line.

The Prometheus text page goes through the real promtool (`check metrics`); the OpenMetrics
page through Prometheus's own OpenMetrics parser (`promtool tsdb create-blocks-from
openmetrics`: promtool 2.42's `check metrics` reads only the text format) and
prometheus-client's.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import time

import pytest
from clirun import kvmtune
from exporter import Exporter
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from kvmtune.model import Snapshot

OM = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," \
     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"   # what Prometheus 2.42 sends


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; `make setup` does it)")
    return path


@pytest.fixture
def demo(tmp_path):
    # one collection only (a long interval): /metrics and /snapshot.json show the same frame
    with Exporter("--demo", "--interval", "600", state=tmp_path) as ex:
        ex.wait_json()
        yield ex


def samples(text: str) -> dict[str, float]:
    """{'name{labels}': value} of a Prometheus text page (labels as printed)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def test_text_page_passes_promtool(demo, tmp_path):
    code, headers, body = demo.get("/metrics")
    assert code == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    p = subprocess.run([promtool(), "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    text = body.decode()
    assert "# TYPE kvmtune_guest_cpu_seconds_total counter" in text
    assert "# TYPE kvmtune_guest_state_info gauge" in text   # info families as text 0.0.4 has them


def test_openmetrics_page_parses_as_prometheus_and_the_client_read_it(demo, tmp_path):
    code, headers, body = demo.get("/metrics", {"Accept": OM})
    assert code == 200 and headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = body.decode()
    assert text.endswith("# EOF\n")
    fams = {f.name: f for f in text_string_to_metric_families(text)}   # strict: raises on any flaw
    assert fams["kvmtune_guest_state"].type == "info" and fams["kvmtune_guest_cpu_seconds"].type == "counter"
    om = tmp_path / "page.om"   # backfilling wants a timestamp on each sample: the page's own time
    ts = f" {json.loads(demo.wait_json())['time']!r}"
    om.write_text("".join(line + ("" if line.startswith("#") else ts) + "\n" for line in text.splitlines()))
    p = subprocess.run([promtool(), "tsdb", "create-blocks-from", "openmetrics", str(om), str(tmp_path / "b")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_metrics_are_the_snapshot_served_beside_them(demo):
    snap = Snapshot.from_json(json.loads(demo.wait_json()))
    page = samples(demo.get("/metrics")[2].decode())
    assert snap.guests
    for g in snap.guests:
        assert page[f'kvmtune_guest_vcpus{{guest="{g.name}"}}'] == len(g.vcpus)
        for n, kib in (g.numa_memory_kib or {}).items():
            assert page[f'kvmtune_guest_memory_bytes{{guest="{g.name}",node="{n}"}}'] == kib * 1024
        for v in g.vcpus:
            key = f'guest="{g.name}",vcpu="{v.index}"'
            assert page[f"kvmtune_guest_vcpu_pinned{{{key}}}"] == (1 if v.pinned else 0)
            if v.pcpu is not None:
                assert page[f"kvmtune_guest_vcpu_cpu{{{key}}}"] == v.pcpu
        for d in g.disks:
            key = f'disk="{d.target}",guest="{g.name}"'
            if d.rd_bytes is not None:
                assert page[f"kvmtune_guest_disk_read_bytes_total{{{key}}}"] == d.rd_bytes
            for kind in ("total", "read", "write"):
                assert page[f'kvmtune_guest_disk_limit_bytes_per_second{{{key},kind="{kind}"}}'] == \
                    d.iotune[f"{kind}_bytes_sec"]
    for n in snap.host.nodes:
        assert page[f'kvmtune_node_memory_free_bytes{{node="{n.id}"}}'] == n.mem_free_kib * 1024
        assert page[f'kvmtune_node_cpus{{node="{n.id}"}}'] == len(n.cpus)
    assert page["kvmtune_exporter_collections_total"] == 1 and page["kvmtune_exporter_collection_errors_total"] == 0
    assert demo.started <= page["kvmtune_exporter_last_collection_timestamp_seconds"] <= time.time()
    assert page["kvmtune_hypervisor_connected"] == 1


def test_snapshot_json_is_what_kvmtune_snapshot_prints(demo, tmp_path):
    body = demo.wait_json()
    served = json.loads(body)
    printed = json.loads(kvmtune("snapshot", "--json", "--demo", state=tmp_path).stdout)
    assert served["schema"] == printed["schema"] == "kvmtune.snapshot/1"
    assert served.keys() == printed.keys()
    assert [g["name"] for g in served["guests"]] == [g["name"] for g in printed["guests"]]
    assert [sorted(g) for g in served["guests"]] == [sorted(g) for g in printed["guests"]]
    assert body == (Snapshot.from_json(served).dumps(indent=2) + "\n").encode()   # the same printer


def test_index_head_and_unknown_paths(demo):
    code, headers, body = demo.get("/")
    assert code == 200 and b'href="/metrics"' in body and headers["Content-Type"].startswith("text/html")
    for path in ("/nope", "/metrics/x", "/../etc/passwd", "/snapshot.json.bak"):
        assert demo.get(path)[0] == 404, path
    s = demo.connect()
    s.sendall(b"HEAD /metrics HTTP/1.0\r\n\r\n")
    head = s.recv(65536)
    s.close()
    assert head.startswith(b"HTTP/1.1 200") and b"\r\nServer: kvmtune-exporter\r\n" in head
    assert head.endswith(b"\r\n\r\n")   # headers, no body
    s = demo.connect()
    s.sendall(b"POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
    assert s.recv(100).startswith(b"HTTP/1.1 501")
    s.close()
    s = demo.connect()
    s.sendall(b"\x16\x03\x01 garbage\r\n\r\n")   # a TLS hello to a plain server
    answer = b"".join(iter(lambda: s.recv(65536), b""))   # an HTTP/0.9-style error page, then closed
    assert b"Error code: 400" in answer
    s.close()
    assert demo.get("/metrics")[0] == 200


def test_a_huge_header_is_refused_and_the_next_scrape_answers(demo):
    s = demo.connect()
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    assert s.recv(100).split(b"\r\n")[0] in (b"HTTP/1.0 431 Line too long", b"HTTP/1.1 431 Line too long")
    s.close()
    s = demo.connect()
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n")
    assert b" 431 " in s.recv(100)
    s.close()
    assert demo.get("/metrics")[0] == 200


def test_slow_clients_do_not_hold_up_a_scrape(demo):
    slow = []
    for i in range(20):   # each sends half a request and then nothing, each from its own address
        s = demo.connect(f"127.0.0.{i + 2}")   # (one address gets MAX_PER_CLIENT connections)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + str(i).encode())
        slow.append(s)
    silent = demo.connect()   # says nothing at all
    t0 = time.monotonic()
    code, _h, body = demo.get("/metrics", timeout=5)
    took = time.monotonic() - t0
    assert code == 200 and b"kvmtune_guest_vcpus" in body and took < 2, took
    for s in slow:   # still held open by the server, not dropped to make room
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            s.recv(1)
        s.close()
    silent.close()


def test_sigterm_and_ctrl_c_stop_it_cleanly(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        ex = Exporter("--demo", "--interval", "0.2", state=tmp_path)
        try:
            ex.wait_json()
        finally:   # a failed check leaves no exporter running
            rc, err = ex.stop(sig)
        assert rc == 0, (sig, err)
        assert err.strip().splitlines()[-1] == "kvmtune: exporter stopped" and "Traceback" not in err
        with pytest.raises(OSError):   # the port is closed
            socket.create_connection(("127.0.0.1", ex.port), timeout=2).close()


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = kvmtune("export", "--demo", "--listen", f"127.0.0.1:{port}", state=tmp_path)
    assert p.returncode == 2 and p.stderr == f"kvmtune: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def has_ipv6_loopback() -> bool:
    try:
        with open("/proc/net/if_inet6") as f:
            return any(line.split()[0] == "0" * 31 + "1" for line in f)
    except OSError:
        return False


def answers(host: str, port: int) -> int:
    c = http.client.HTTPConnection(host, port, timeout=5)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().status
    finally:
        c.close()


def test_listen_on_every_address_is_ipv4_and_ipv6(tmp_path):
    """--listen :PORT says "every address": IPv4 and IPv6 both, on one dual-stack socket."""
    if not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1 not in /proc/net/if_inet6)")
    with Exporter("--demo", "--interval", "600", state=tmp_path, listen=":0") as ex:
        assert ex.url.startswith("http://[::]:")
        assert answers("127.0.0.1", ex.port) == 200 and answers("::1", ex.port) == 200


def test_listen_on_a_host_name(tmp_path):
    with Exporter("--demo", "--interval", "600", state=tmp_path, listen="localhost:0") as ex:
        host = ex.url.split("//")[1].rsplit(":", 1)[0].strip("[]")
        assert host in ("127.0.0.1", "::1") and answers(host, ex.port) == 200


@pytest.mark.parametrize("listen,why", [
    ("192.0.2.1:9177", "kvmtune: cannot listen on 192.0.2.1:9177: Cannot assign requested address\n"),
    ("no-such-host.invalid:9177", "kvmtune: cannot listen on no-such-host.invalid:9177: "),
    ("localhost", "kvmtune export: error: argument --listen: 'localhost' is not ADDR:PORT"),
    ("1.2.3.4:99999", "kvmtune export: error: argument --listen: '1.2.3.4:99999': the port must be 0 to 65535"),
])
def test_a_bad_address_is_one_line_and_exit_2(tmp_path, listen, why):
    p = kvmtune("export", "--demo", "--listen", listen, state=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith(why) and p.stderr.count("\n") == 1, p.stderr


def test_perf_counters_are_exported_with_perf_only(demo, tmp_path):
    """--perf (issue 13): each guest's and vCPU's counters and KVM exits, as the snapshot has them."""
    assert not [s for s in samples(demo.get("/metrics")[2].decode()) if "_perf_" in s or "_kvm_exits" in s]
    with Exporter("--demo", "--perf", "--interval", "600", state=tmp_path / "perf") as ex:
        snap = Snapshot.loads(ex.wait_json())
        got = samples(ex.get("/metrics")[2].decode())
    g = next(g for g in snap.guests if g.perf is not None and g.perf.total is not None and g.perf.vcpus)
    i, c = sorted(g.perf.vcpus.items())[0]
    assert got[f'kvmtune_guest_vcpu_perf_cpu_migrations_total{{guest="{g.name}",vcpu="{i}"}}'] == c.cpu_migrations
    assert got[f'kvmtune_guest_perf_task_clock_seconds_total{{guest="{g.name}"}}'] == \
        pytest.approx(g.perf.total.task_clock_ns / 1e9)
    exits = dict(g.perf.exits or {})
    assert got[f'kvmtune_guest_kvm_exits_total{{guest="{g.name}"}}'] == exits.pop("exits")   # the total alone
    reasons = {k: v for k, v in got.items() if k.startswith(f'kvmtune_guest_kvm_exit_reasons_total{{guest="{g.name}",')}
    polls = {k: v for k, v in got.items() if k.startswith(f'kvmtune_guest_kvm_halt_polls_total{{guest="{g.name}",')}
    assert {k.split('kind="')[1][:-2] for k in polls} == {"halt_attempted_poll", "halt_successful_poll", "halt_wakeup"}
    assert "halt_exits" in str(reasons) and not [k for k in reasons if "poll" in k or "wakeup" in k]
    assert sum(reasons.values()) == pytest.approx(got[f'kvmtune_guest_kvm_exits_total{{guest="{g.name}"}}'])
    for kind, n in exits.items():   # every other counter, in exactly one family
        assert [v for k, v in got.items() if k.endswith(f'{{guest="{g.name}",kind="{kind}"}}')] == [n]
