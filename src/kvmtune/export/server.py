"""The exporter's HTTP server: /metrics, /snapshot.json, an index, 404 for the rest.

A scrape only sends the page the collection thread last made (promclient.Pages): no
request ever waits on libvirt. Each connection has its own daemon thread and a timeout
on every read and on each whole write (TIMEOUT_S), so a slow or silent client holds only
its own thread; a kept-alive connection waits IDLE_S for its next request (Prometheus
scrapes every 15 s or more and keeps its connection), still bounded; a reaper closes a
connection whose request (or TLS handshake) has been coming in for longer than
MAX_REQUEST_S (a slowloris client trickling one header byte at a time never times out a
read) — never one between requests; and at most MAX_CONNECTIONS are served at once, at
most MAX_PER_CLIENT of them from one address (more are closed at once: memory stays
bounded, and one client holding idle connections cannot lock Prometheus out). Headers are
capped by http.server
(65 536 bytes a line, 100 lines: 431 beyond). TLS handshakes run in the connection's
thread, under the same timeout, never in the accepting one.
"""

from __future__ import annotations

import errno
import html
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from .promclient import Pages
from .webconfig import WebConfig

TIMEOUT_S = 10.0         # one read, or one whole response written
IDLE_S = 120.0           # a kept-alive connection's wait for its next request
MAX_REQUEST_S = 30.0     # reading one request's line and headers (or a TLS handshake)
MAX_CONNECTIONS = 64
MAX_PER_CLIENT = 8       # Prometheus needs one; a few for a browser or curl beside it


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header takes gzip (Prometheus sends "gzip")."""
    for part in (header or "").split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() == "gzip":
            q = params.strip().lower()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


class Handler(BaseHTTPRequestHandler):
    server: ExportServer
    protocol_version = "HTTP/1.1"       # Prometheus keeps its connection between scrapes
    server_version = "kvmtune-exporter"

    def version_string(self) -> str:
        return self.server_version   # not the Python version: nothing for a scanner to match

    _served = False   # a request was answered on this connection: it is kept alive

    def handle_one_request(self) -> None:
        srv = self.server
        if self._served:   # between scrapes: wait IDLE_S for the next one's first byte
            self.request.settimeout(srv.idle_s)
            try:
                if not self.rfile.peek(1):  # type: ignore[attr-defined]  # a BufferedReader
                    self.close_connection = True
                    return
            except OSError:   # the idle wait timed out, or the client went away
                self.close_connection = True
                return
            self.request.settimeout(srv.timeout_s)
        self._served = True
        srv.reading(self.request, True)   # from here until its headers are in
        super().handle_one_request()

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        srv = self.server
        srv.reading(self.request, False)
        if not srv.web.authorized(self.headers.get("Authorization")):
            self._send(401, b"401 unauthorized\n", "text/plain; charset=utf-8", body,
                       {"WWW-Authenticate": 'Basic realm="kvmtune"'})
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            gz = accepts_gzip(self.headers.get("Accept-Encoding"))
            page, ctype = srv.pages.page(self.headers.get("Accept"), gz)
            self._send(200, page, ctype, body, {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if gz
                       else {"Vary": "Accept-Encoding"})
        elif path == "/snapshot.json":
            snap = srv.pages.snapshot_json()
            if snap is None:
                self._send(503, b"no snapshot yet: the first collection is under way\n",
                           "text/plain; charset=utf-8", body, {"Retry-After": "2"})
            else:
                self._send(200, snap, "application/json", body)
        elif path == "/":
            self._send(200, srv.index(), "text/html; charset=utf-8", body)
        else:
            self._send(404, b"404 not found: try /metrics or /snapshot.json\n", "text/plain; charset=utf-8", body)

    def _send(self, code: int, data: bytes, ctype: str, body: bool, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass   # a request log on every scrape would fill the journal


class ExportServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, addr: tuple[str, int], pages: Pages, web: WebConfig, label: str,
                 timeout_s: float = TIMEOUT_S, idle_s: float = IDLE_S, max_request_s: float = MAX_REQUEST_S,
                 max_connections: int = MAX_CONNECTIONS, max_per_client: int = MAX_PER_CLIENT):
        self.pages = pages
        self.web = web
        self.label = label
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self.max_request_s = max_request_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self.max_per_client = max_per_client
        self._per_client: dict[str, int] = {}   # open connections per client address
        self._reading: dict[socket.socket, float] = {}   # connections reading a request: since when
        self._open_lock = threading.Lock()
        self._reaping = threading.Event()
        host, port = addr
        where: tuple[str, int] | tuple[str, int, int, int]
        self._dual = not host   # ":9177": every address, IPv4 and IPv6 on one socket
        if self._dual:
            self.address_family, where = socket.AF_INET6, ("::", port)
        else:   # a name's family from the resolver (ip6-localhost is IPv6); an OSError if none
            info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            self.address_family, where = info[0], cast("tuple[str, int] | tuple[str, int, int, int]", info[4])
        try:
            super().__init__(where, Handler)
        except OSError as e:
            if not self._dual or e.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
            self._dual = False   # no IPv6 on this host: every IPv4 address then
            self.address_family = socket.AF_INET
            super().__init__(("0.0.0.0", port), Handler)
        threading.Thread(target=self._reap, name="kvmtune-export-reaper", daemon=True).start()

    def server_bind(self) -> None:
        if self._dual:   # IPv4 too, as ::ffff:a.b.c.d (whatever the sysctl bindv6only says)
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.web.tls else 'http'}://{host}:{port}"

    def index(self) -> bytes:
        label = html.escape(self.label)
        return (f"<!doctype html><html><head><title>kvmtune exporter</title></head><body>"
                f"<h1>kvmtune exporter</h1><p>{label}</p><ul>"
                '<li><a href="/metrics">/metrics</a>: OpenMetrics / Prometheus text (docs/metrics.md)</li>'
                '<li><a href="/snapshot.json">/snapshot.json</a>: the last snapshot, kvmtune.snapshot/1 JSON</li>'
                "</ul></body></html>\n").encode()

    def process_request(self, request: Any, client_address: Any) -> None:
        ip = str(client_address[0])
        with self._open_lock:
            mine = self._per_client.get(ip, 0)
            if mine >= self.max_per_client or not self._slots.acquire(blocking=False):
                mine = -1
            else:
                self._per_client[ip] = mine + 1
        if mine < 0:
            self.shutdown_request(request)   # full: this client waits for nobody's thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(ip)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(str(client_address[0]))

    def _release(self, ip: str) -> None:
        with self._open_lock:
            left = self._per_client.pop(ip, 1) - 1
            if left > 0:
                self._per_client[ip] = left
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        raw = request
        raw.settimeout(self.timeout_s)
        try:
            if self.web.tls is not None:
                self.reading(raw, True)
                request = self.web.tls.wrap_socket(request, server_side=True)
                self.reading(raw, False)
            super().finish_request(request, client_address)
        finally:
            self.reading(raw, False)
            self.reading(request, False)

    def reading(self, sock: socket.socket, now_reading: bool) -> None:
        with self._open_lock:
            if now_reading:
                self._reading[sock] = time.monotonic()
            else:
                self._reading.pop(sock, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass   # a client that went away, a bad TLS hello, a timeout: nothing to tell anyone

    def _reap(self) -> None:
        while not self._reaping.wait(1.0):
            now = time.monotonic()
            with self._open_lock:
                old = [s for s, t in self._reading.items() if now - t > self.max_request_s]
            for s in old:
                try:
                    s.shutdown(socket.SHUT_RDWR)   # its thread's read ends at once
                except OSError:
                    pass

    def server_close(self) -> None:
        self._reaping.set()
        super().server_close()


def serve(server: ExportServer) -> Callable[[], None]:
    """Serve in a daemon thread; returns the function that stops it."""
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25},
                         name="kvmtune-export-http", daemon=True)
    t.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        t.join(5)
    return stop

