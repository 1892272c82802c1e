"""`kvmtune export` run as a user runs it (a subprocess on a free port), for the tests."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from clirun import ARGV, environment

URL = re.compile(r"on (https?://\S+)/metrics")


class Exporter:
    """`kvmtune export ARGS --listen 127.0.0.1:0`; .url once it listens; stop() -> (rc, stderr)."""

    def __init__(self, *args: str, state: Path, listen: str = "127.0.0.1:0"):
        self.err = state / "export.err"
        self.started = time.time()
        self.proc = subprocess.Popen([*ARGV, "export", "--listen", listen, *args], env=environment(state),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err.open("w"))
        self.url = self._wait_url()

    def _wait_url(self, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = URL.search(self.err.read_text())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"kvmtune export exited {self.proc.returncode}: {self.err.read_text()}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"kvmtune export did not listen within {timeout}s: {self.err.read_text()}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"kvmtune export did not stop: {self.err.read_text()}") from None
        return rc, self.err.read_text()

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def get(self, path: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None,
            timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def wait_json(self, timeout: float = 30) -> bytes:
        """/snapshot.json once the first collection is in (503 before)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            code, _h, body = self.get("/snapshot.json")
            if code == 200:
                return body
            assert code == 503, code
            time.sleep(0.1)
        raise AssertionError("no snapshot within the timeout")

    def connect(self, source: str = "127.0.0.1") -> socket.socket:
        """A connection from `source` (any 127/8 address: Linux routes them all to lo)."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=10, source_address=(source, 0))
