"""The exporter's server and collection thread in process: a feed stuck in a collection or
failing does not touch a scrape, the reaper ends a connection that lasts too long, and
--web-config brings TLS and basic auth (with a real certificate made by openssl)."""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import bcrypt
import pytest
from clirun import kvmtune
from exporter import Exporter

from kvmtune.demo import DemoFeed, open_demo
from kvmtune.export.loop import Collection
from kvmtune.export.promclient import Pages
from kvmtune.export.server import ExportServer, serve
from kvmtune.export.webconfig import WebConfig


class StuckFeed:
    """The demo's first snapshot, then a collection that never ends (a guest stuck in a
    migration holding libvirt) until released; `fail` makes the next one raise instead."""

    def __init__(self) -> None:
        self.demo = DemoFeed(open_demo(seed=1))
        self.label = "stuck"
        self.calls = 0
        self.release = threading.Event()
        self.fail: str | None = None

    @property
    def source(self):
        return None

    def next(self):
        self.calls += 1
        if self.fail:
            raise RuntimeError(self.fail)
        if self.calls > 1:
            self.release.wait(30)
        return self.demo.next()

    def close(self) -> None:
        self.demo.close()


@pytest.fixture
def running():
    feed = StuckFeed()
    pages = Pages()
    server = ExportServer(("127.0.0.1", 0), pages, WebConfig(), "test", timeout_s=2, max_request_s=1.5)
    collection = Collection(feed, 0.05, pages)
    stop = serve(server)
    yield feed, server, collection
    feed.release.set()
    stop()
    collection.stop()
    feed.close()


def scrape(server: ExportServer, path: str = "/metrics") -> tuple[int, str]:
    c = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    out = r.status, r.read().decode()
    c.close()
    return out


def value(page: str, name: str) -> float:
    return float(next(line.split()[-1] for line in page.splitlines() if line.startswith(name + " ")))


def test_a_scrape_answers_while_the_collection_is_stuck(running):
    feed, server, collection = running
    code, page = scrape(server)
    assert code == 200 and value(page, "kvmtune_exporter_collections_total") == 0   # before any frame
    assert scrape(server, "/snapshot.json")[0] == 503
    collection.start()
    deadline = time.monotonic() + 10
    while feed.calls < 2 and time.monotonic() < deadline:   # the second collection is stuck now
        time.sleep(0.02)
    assert feed.calls == 2
    for _ in range(5):
        t0 = time.monotonic()
        code, page = scrape(server)
        assert code == 200 and time.monotonic() - t0 < 1
        assert value(page, "kvmtune_exporter_collections_total") == 1 and 'guest="db-primary"' in page
    assert scrape(server, "/snapshot.json")[0] == 200


def test_a_failing_collection_is_counted_and_the_last_frame_stays(running, capsys):
    feed, server, collection = running
    collection.collect_once()
    feed.fail = "libvirt went away"
    collection.collect_once()
    collection.collect_once()
    _code, page = scrape(server)
    assert value(page, "kvmtune_exporter_collections_total") == 3
    assert value(page, "kvmtune_exporter_collection_errors_total") == 2
    assert 'kvmtune_guest_vcpus{guest="db-primary"}' in page
    assert capsys.readouterr().err == "kvmtune: export: a collection failed: RuntimeError: libvirt went away\n"


class FlakyFeed(StuckFeed):
    """The demo's snapshots, disconnected (as the live collector makes them when libvirtd
    stops answering: no guests, a libvirt error) while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def next(self):
        from dataclasses import replace

        from kvmtune.model import Error
        snap = self.demo.next()
        if self.down:
            return replace(snap, guests=(), disconnected=True, errors=(Error("libvirt", "connection reset"),))
        return snap


def test_a_hypervisor_outage_is_said_once_and_its_end_too(capsys):
    feed = FlakyFeed()
    collection = Collection(feed, 1, Pages())
    try:
        collection.collect_once()
        feed.down = True
        for _ in range(3):
            collection.collect_once()
        assert collection.frame is not None and collection.frame.stale
        feed.down = False
        collection.collect_once()
        collection.collect_once()
        feed.down = True   # a second outage is said again
        collection.collect_once()
    finally:
        feed.close()
    down = "kvmtune: export: the hypervisor does not answer (connection reset); serving the last known guests\n"
    assert capsys.readouterr().err == down + "kvmtune: export: the hypervisor answers again\n" + down


def test_a_connection_that_lasts_too_long_is_closed(running):
    _feed, server, _c = running
    s = socket.create_connection(server.server_address[:2], timeout=10)
    t0 = time.monotonic()
    for _ in range(4):   # a header byte every 0.5 s: no read times out (2 s)
        s.sendall(b"X")
        time.sleep(0.5)
    s.settimeout(5)
    try:
        while s.recv(1024):
            s.sendall(b"Y")   # trickle on until the server ends it
            time.sleep(0.5)
    except OSError:
        pass
    took = time.monotonic() - t0
    s.close()
    assert 1.5 <= took < 4.5, took   # max_request_s 1.5 + the reaper's 1 s tick
    assert scrape(server)[0] == 200


def test_a_scraper_keeping_its_connection_is_never_cut(running):
    """Prometheus keeps one connection between scrapes: only a request being read for too
    long is closed, not a connection that has lived long (the reaper once cut those)."""
    _feed, server, collection = running
    collection.collect_once()
    c = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    end = time.monotonic() + 3.5   # past max_request_s (1.5) and two reaper ticks
    n = 0
    while time.monotonic() < end:
        c.request("GET", "/metrics")
        r = c.getresponse()
        assert r.status == 200 and r.read()
        n += 1
        time.sleep(0.2)
    assert n >= 10 and c.sock is not None   # the same connection throughout
    c.close()


def test_one_client_holding_idle_connections_cannot_lock_prometheus_out():
    """70 idle connections from 127.0.0.2 (Linux routes all of 127/8 to lo): past its 8 they
    are closed at once, and a scrape from 127.0.0.1 is answered."""
    server = ExportServer(("127.0.0.1", 0), Pages(), WebConfig(), "test")
    stop = serve(server)
    flood = []
    try:
        for _ in range(70):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(5)
            s.connect(server.server_address[:2])
            flood.append(s)
        closed = 0
        for s in flood:   # the server has accepted (and kept or closed) each once this returns
            s.setblocking(False)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            closed = 0
            for s in flood:
                try:
                    closed += s.recv(1) == b""
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            if closed >= 62:
                break
            time.sleep(0.1)
        assert scrape(server)[0] == 200
        assert closed == 62   # 8 kept for 127.0.0.2
    finally:
        for s in flood:
            s.close()
        stop()


class LockedFeed(StuckFeed):
    """As LibvirtHypervisor: a stuck collection holds the connection's lock, and close()
    waits for that lock."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.closed = False

    def next(self):
        with self.lock:
            return super().next()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            super().close()


def test_sigterm_ends_the_exporter_while_the_collection_is_stuck(monkeypatch, capsys):
    """A hung libvirtd: SIGTERM must still end `kvmtune export` (exit 0) within the stop
    wait, not wait on the stuck collection's lock in feed.close() until systemd kills it."""
    from kvmtune.cli import build_parser
    from kvmtune.cli import export as cli_export
    feed = LockedFeed()
    monkeypatch.setattr(cli_export, "open_feed", lambda _args: feed)
    monkeypatch.setattr(cli_export, "STOP_WAIT_S", 0.5, raising=False)
    args = build_parser().parse_args(["export", "--demo", "--listen", "127.0.0.1:0", "--interval", "0.05"])
    unstick = threading.Timer(45, feed.release.set)   # so that the unfixed code ends at all
    unstick.start()

    def term_once_stuck() -> None:
        end = time.monotonic() + 10
        while feed.calls < 2 and time.monotonic() < end:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=term_once_stuck, daemon=True).start()
    t0 = time.monotonic()
    try:
        rc = args.func(args)
        took = time.monotonic() - t0
    finally:
        feed.release.set()
        unstick.cancel()
    err = capsys.readouterr().err
    assert rc == 0 and feed.calls >= 2 and not feed.closed
    assert took < 5, took
    assert "did not end within 0.5s" in err and err.endswith("kvmtune: exporter stopped\n"), err


def test_a_kept_alive_connection_waits_longer_than_a_read_for_the_next_scrape():
    """Prometheus scrapes every 15 s on one connection: the wait for the next request is
    the idle timeout (here 2 s), not the per-read one (0.5 s) — and it is still bounded."""
    pages = Pages()
    server = ExportServer(("127.0.0.1", 0), pages, WebConfig(), "test", timeout_s=0.5, idle_s=2)
    stop = serve(server)
    try:
        c = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        for _ in range(2):
            c.request("GET", "/metrics")
            r = c.getresponse()
            assert r.status == 200 and r.read()
            time.sleep(1.2)   # longer than a read may take
        assert c.sock is not None
        c.sock.settimeout(5)
        t0 = time.monotonic()
        assert c.sock.recv(1) == b""   # idle for longer than idle_s: closed
        assert time.monotonic() - t0 < 2.5
        c.close()
    finally:
        stop()


# -- --web-config ------------------------------------------------------------------------

@pytest.fixture
def tls_files(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
                   check=True, capture_output=True, timeout=60)
    return tmp_path / "c.pem", tmp_path / "k.pem"


def test_tls_and_basic_auth_from_a_web_config(tmp_path, tls_files):
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")   # as htpasswd
    conf = tmp_path / "web.yml"
    conf.write_text(f"tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"
                    f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    ctx = ssl.create_default_context(cafile=str(tls_files[0]))

    def auth(user: str, pw: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
    with Exporter("--demo", "--interval", "600", "--web-config", str(conf), state=tmp_path) as ex:
        assert ex.url.startswith("https://127.0.0.1:")
        code, headers, _ = ex.get("/metrics", context=ctx)
        assert code == 401 and headers["WWW-Authenticate"] == 'Basic realm="kvmtune"'
        assert ex.get("/metrics", auth("prometheus", "wrong"), context=ctx)[0] == 401
        assert ex.get("/metrics", auth("nobody", "s3cret"), context=ctx)[0] == 401
        assert ex.get("/nope", context=ctx)[0] == 401   # nothing, not even a 404, without a password
        silent = ex.connect()   # connects and never says hello: the handshake waits in its own thread
        code, _h, body = ex.get("/metrics", auth("prometheus", "s3cret"), context=ctx, timeout=5)
        assert code == 200 and b"kvmtune_guest_vcpus" in body
        plain = ex.connect()
        plain.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")   # plain HTTP to the TLS port: closed
        try:
            answer = b"".join(iter(lambda: plain.recv(65536), b""))
        except ConnectionResetError:
            answer = b""
        assert b"kvmtune_guest" not in answer
        silent.close()
        plain.close()


@pytest.mark.parametrize("text,why", [
    ("tls_server_config:\n  cert_file: c.pem\n", "tls_server_config: needs both cert_file and key_file"),
    ("tls_server_config:\n  cert_file: nope.pem\n  key_file: k.pem\n", "nope.pem: No such file or directory"),
    ("tls_server_config:\n  cert_file: k.pem\n  key_file: k.pem\n", "not a certificate and its key"),
    ("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_ca_file: ca.pem\n",
     "client_ca_file: not supported by kvmtune"),
    ("basic_auth_users:\n  alice: plain-password\n", "alice: not a bcrypt hash"),
    ("http_server_config:\n  http2: false\n", "http_server_config: not supported by kvmtune"),
    ("- a list\n", "expected a mapping"),
    ("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: [1]\n",
     "min_version [1]: TLS12 or TLS13"),
    ("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: 12\n",
     "min_version 12: TLS12 or TLS13"),
    ("tls_server_config:\n  cert_file: [c.pem]\n  key_file: k.pem\n", "cert_file: expected a file name"),
    ("tls_server_config:\n  cert_file: c.pem\n  key_file: {a: 1}\n", "key_file: expected a file name"),
    ("basic_auth_users:\n  alice: [x]\n", "'alice': expected a user name and its bcrypt hash"),
    ("basic_auth_users:\n  [a, b]: x\n", "not YAML"),
    ("a: [unclosed\n", "not YAML"),
])
def test_a_bad_web_config_is_one_line_and_exit_2(tmp_path, tls_files, text, why):
    conf = tmp_path / "web.yml"
    conf.write_text(text)
    p = kvmtune("export", "--demo", "--listen", "127.0.0.1:0", "--web-config", str(conf), state=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith(f"kvmtune: --web-config {conf}: ") and why in p.stderr
    assert p.stderr.count("\n") == 1, p.stderr


def test_a_missing_web_config_is_one_line(tmp_path):
    conf = tmp_path / "none.yml"
    p = kvmtune("export", "--demo", "--web-config", str(conf), state=tmp_path)
    assert p.returncode == 2 and p.stderr == f"kvmtune: --web-config {conf}: No such file or directory\n"


def test_pages_are_rendered_per_frame_for_the_formats_asked_lately(monkeypatch):
    from kvmtune.export.promclient import Stats
    from kvmtune.frame import Framer
    feed = DemoFeed(open_demo(seed=1))
    try:
        framer = Framer()
        f1, f2 = framer.push(feed.next()), framer.push(feed.next())
    finally:
        feed.close()
    pages = Pages()
    pages.update(f1, Stats(1))
    text, ctype = pages.page(None)
    assert ctype.startswith("text/plain") and pages.page(None)[0] is text   # kept, not rendered again
    zipped, _ = pages.page(None, gz=True)
    assert gzip.decompress(zipped) == text
    pages.update(f2, Stats(2))
    assert pages._pages.keys() == {(ctype, False), (ctype, True)}   # rendered by update, for the next scrape
    assert pages.page(None)[0] != text and gzip.decompress(pages.page(None, gz=True)[0]) == pages.page(None)[0]
    monkeypatch.setattr(Pages, "FORGET_S", 0.0)
    pages.update(f1, Stats(3))
    assert pages._pages == {}   # nobody asked lately: nothing rendered


def test_gzip_when_the_scraper_takes_it(running):
    from kvmtune.export.server import accepts_gzip
    _feed, server, collection = running
    collection.collect_once()
    c = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    c.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})   # as Prometheus asks
    r = c.getresponse()
    body = r.read()
    assert r.getheader("Content-Encoding") == "gzip" and r.getheader("Vary") == "Accept-Encoding"
    assert gzip.decompress(body).decode() == scrape(server)[1]
    assert len(body) * 4 < len(gzip.decompress(body))
    c.close()
    assert [accepts_gzip(h) for h in ("gzip", "deflate, GZIP;q=0.5", "gzip;q=0", "identity", None)] == \
        [True, True, False, False, False]
