"""The exporter's collection thread: a frame from the feed every interval, on a monotonic
schedule (start + k x interval, as `kvmtune record` keeps it), handed to the pages
(promclient.Pages), which render it for the next scrapes. A collection that fails is
counted (kvmtune_exporter_collection_errors_total) and said once on stderr per new
message; the last good frame stays served. A hypervisor that stops answering (a
disconnected snapshot: libvirtd down or restarting) is said once, and once again when it
answers: the journal shows the outage.
"""

from __future__ import annotations

import sys
import threading
import time

from .. import gcfreeze
from ..feed import Feed
from ..frame import Frame, Framer
from .promclient import Pages, Stats


class Collection:
    def __init__(self, feed: Feed, interval: float, pages: Pages):
        self.feed = feed
        self.interval = interval
        self.pages = pages
        self.framer = Framer()
        self.stats = Stats()
        self.frame: Frame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kvmtune-export-collect", daemon=True)
        self._said: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the thread to stop and wait for the collection in flight; False if it is still running."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def collect_once(self) -> None:
        t0 = time.monotonic()
        s = self.stats
        try:
            frame = self.framer.push(self.feed.next())
        except Exception as e:   # the thread must live on; the page says it failed
            self.stats = Stats(s.collections + 1, s.errors + 1, time.monotonic() - t0, s.last_time)
            self._say(f"kvmtune: export: a collection failed: {type(e).__name__}: {e}")
        else:
            self.frame = frame
            gcfreeze.after_startup()   # full collections off what exists once the first page can be served
            if frame.stale:
                why = next((e.message for e in frame.raw.errors if e.source == "libvirt"), "disconnected")
                self._say(f"kvmtune: export: the hypervisor does not answer ({why}); "
                          "serving the last known guests")
            elif self._said is not None:
                self._say("kvmtune: export: the hypervisor answers again")
                self._said = None   # the next failure is said again, even the same one
            # this machine's clock, not the snapshot's: the demo's runs on its own simulated time,
            # and the stale-collection alert compares this with Prometheus's time()
            self.stats = Stats(s.collections + 1, s.errors, time.monotonic() - t0, time.time())
        self.pages.update(self.frame, self.stats)

    def _say(self, message: str) -> None:
        """One stderr line (the journal under systemd), unless it is what was said last."""
        if message != self._said:
            self._said = message
            print(message, file=sys.stderr, flush=True)

    def _run(self) -> None:
        start = time.monotonic()
        k = 0
        while not self._stop.is_set():
            self.collect_once()
            k += 1
            due = start + k * self.interval
            now = time.monotonic()
            if now > due:
                start, k, due = now, 0, now   # behind: go on from here, no burst to catch up
            if self._stop.wait(max(0.0, due - now)):
                break
