"""`kvmtune export`: an OpenMetrics / Prometheus exporter of the host and its guests.

The port is bound before the host is opened, so a port in use or a bad address is one
line and exit 2 at once. Collection runs in its own thread every --interval (export/loop.py);
scrapes are served from the last frame by a threaded server (export/server.py). SIGINT,
SIGTERM and SIGHUP stop it cleanly: the server stops, the collection in flight finishes,
the feed is closed, exit 0. A collection stuck in a hypervisor that does not answer is
waited for STOP_WAIT_S only, and the feed is then left open: closing it would wait on the
connection lock that collection holds (libvirt_impl), and its daemon thread ends with the
process anyway. (kvmtune-exporter.service's TimeoutStopSec stays above that wait.)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from .. import inputs
from .common import CliError, add_perf_arg, add_source_args, argtype, open_feed, seconds

DEFAULT_LISTEN = "127.0.0.1:9177"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_WAIT_S = 5.0   # for the collection in flight, on a stop

EPILOG = """\
endpoints:
  /metrics        the metrics (docs/metrics.md): OpenMetrics when the scraper asks for
                  application/openmetrics-text (Prometheus does), else Prometheus text 0.0.4
  /snapshot.json  the last snapshot, as `kvmtune snapshot --json` prints it
  /               an index

A scrape never calls libvirt: it gets the page of the last collection. Listening on
another address than localhost exposes every guest's name and figures: use --web-config
(TLS, basic auth) or a reverse proxy (README, "Exporter").

examples:
  kvmtune export
  kvmtune export --listen :9177 --web-config /etc/kvmtune/web.yml
  kvmtune export --demo --interval 1
"""


def register(sub: Any) -> None:
    s = sub.add_parser(
        "export", help="serve the host's figures to Prometheus (/metrics, /snapshot.json)",
        description="Serve what kvmtune sees as OpenMetrics for Prometheus: per-node memory, per-guest "
                    "memory per node, locality, vCPU placement and pinning, hugepages, KSM, disk "
                    "traffic and throttles, and the tuning guide's findings.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--listen", metavar="ADDR:PORT", default=DEFAULT_LISTEN,
                   type=argtype(inputs.listen_address, "address"),
                   help=f"where to listen (default {DEFAULT_LISTEN}; [::1]:9177 for IPv6, "
                        ":9177 for every address, IPv4 and IPv6)")
    s.add_argument("--interval", metavar="SECONDS", type=seconds, default=argparse.SUPPRESS,
                   help="seconds between collections (default 5)")
    s.add_argument("--web-config", metavar="FILE", default=None,
                   help="TLS and basic auth, in the web config format of Prometheus exporters "
                        "(tls_server_config, basic_auth_users with bcrypt hashes)")
    add_source_args(s)
    add_perf_arg(s)
    s.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..export.loop import Collection
    from ..export.promclient import Pages
    from ..export.server import ExportServer, serve
    from ..export.webconfig import WebConfig, WebConfigError, load
    listen: tuple[str, int] = args.listen
    interval = float(getattr(args, "interval", 5.0))
    try:
        web = load(args.web_config) if args.web_config else WebConfig()
    except WebConfigError as e:
        raise CliError(str(e)) from None
    pages = Pages()
    try:
        server = ExportServer(listen, pages, web, label="")
    except OSError as e:   # in use, not an address of this host, a name that does not resolve
        host, port = listen
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise CliError(f"cannot listen on {shown}: {e.strerror or e}") from None
    stopped = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        got.append(signum)
        stopped.set()
    old = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        feed = open_feed(args)
        close_feed = True
        try:
            server.label = f"{feed.label}, collected every {interval:g}s"
            collection = Collection(feed, interval, pages)
            collection.start()
            stop_http = serve(server)
            print(f"kvmtune: exporting {feed.label} on {server.url}/metrics every {interval:g}s; "
                  "stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)
            try:
                stopped.wait()
            finally:
                stop_http()
                if not collection.stop(STOP_WAIT_S):
                    close_feed = False   # close() would wait on the lock the stuck collection holds
                    print(f"kvmtune: export: the collection in flight did not end within {STOP_WAIT_S:g}s "
                          "(the hypervisor does not answer); exiting without closing its connection",
                          file=sys.stderr)
        finally:
            if close_feed:
                feed.close()
    finally:
        server.server_close()
        for sig, h in old.items():
            signal.signal(sig, h)
    print("kvmtune: exporter stopped", file=sys.stderr)
    return 0
