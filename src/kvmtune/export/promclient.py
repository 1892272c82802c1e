"""The exporter's page through prometheus-client: a Collector that yields the frame's
families (families.py, the mapping `dump` uses too) plus the exporter's own figures, and
prometheus-client's content negotiation and encoders (OpenMetrics when the scraper asks
for it, else the Prometheus text format 0.0.4).

A page is rendered once per frame and format and kept: the 1000-guest demo host is ~50 000
samples, which take longer to encode than a scrape may (bench/export_cost.py), so the
collection thread renders the formats scrapers asked for as soon as a frame is made, and
a scrape only sends bytes.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample as PromSample

from ..frame import Frame
from .families import Family, Sample, families


@dataclass(frozen=True)
class Stats:
    """The exporter's own figures, as of the frame they come with."""
    collections: int = 0           # collections done
    errors: int = 0                # collections that failed (the last frame stays served)
    duration_s: float | None = None  # how long the last collection took
    last_time: float | None = None   # when the last frame was collected (unix seconds)


EXPORTER: tuple[tuple[Family, Callable[[Stats], float | None]], ...] = (
    (Family("kvmtune_exporter_collections", "counter", "collections the exporter made"),
     lambda s: s.collections),
    (Family("kvmtune_exporter_collection_errors", "counter",
            "collections that failed (the page keeps the last good frame)"), lambda s: s.errors),
    (Family("kvmtune_exporter_collection_duration_seconds", "gauge", "how long the last collection took",
            "seconds"), lambda s: s.duration_s),
    (Family("kvmtune_exporter_last_collection_timestamp_seconds", "gauge",
            "when the frame on this page was collected (unix time)", "seconds"), lambda s: s.last_time),
)


def _metric(fam: Family, samples: list[Sample]) -> Metric:
    m = Metric(fam.name, fam.help, fam.type, fam.unit)
    name = fam.sample_name
    m.samples = [PromSample(name, dict(labels), value) for labels, value in samples]
    return m


class FrameCollector(Collector):
    """What one page shows: a frame (None before the first collection) and the exporter's figures."""

    def __init__(self, frame: Frame | None, stats: Stats):
        self.frame = frame
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        if self.frame is not None:
            for fam, samples in families(self.frame):
                yield _metric(fam, samples)
        for fam, get in EXPORTER:
            v = get(self.stats)
            yield _metric(fam, [] if v is None else [((), v)])


Encoder = Callable[[Collector], bytes]
Key = tuple[str, bool]


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)   # level 1: ~10x smaller already, at little CPU


def negotiate(accept: str | None) -> tuple[Encoder, str]:
    """prometheus-client's choice for an Accept header: (encoder, Content-Type)."""
    return choose_encoder(accept or "")


class Pages:
    """The rendered page of the current frame, per Content-Type (and gzip'd or not); thread-safe.

    `update` (the collection thread) swaps in a new frame and renders the formats asked for
    in the last FORGET_S; `page` (a scrape) returns the kept bytes, rendering only a format
    not asked for lately (a scraper that went away costs nothing after a while).
    """

    FORGET_S = 600.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source = FrameCollector(None, Stats())
        self._pages: dict[Key, bytes] = {}
        self._wanted: dict[Key, tuple[Encoder, float]] = {}   # (Content-Type, gzip) -> (encoder, last asked)
        self._json: tuple[Frame, bytes] | None = None

    @property
    def frame(self) -> Frame | None:
        return self._source.frame

    def update(self, frame: Frame | None, stats: Stats) -> None:
        source = FrameCollector(frame, stats)
        now = time.monotonic()
        with self._lock:
            self._wanted = {k: w for k, w in self._wanted.items() if now - w[1] < self.FORGET_S}
            wanted = dict(self._wanted)
        plain: dict[str, bytes] = {}
        pages = {}
        for (ctype, gz), (enc, _t) in wanted.items():   # outside the lock: scrapes go on meanwhile
            if ctype not in plain:
                plain[ctype] = enc(source)
            pages[ctype, gz] = _gzip(plain[ctype]) if gz else plain[ctype]
        with self._lock:
            self._source, self._pages = source, pages

    def page(self, accept: str | None, gz: bool = False) -> tuple[bytes, str]:
        """(body, Content-Type) for a scrape's Accept header, gzip'd when `gz`."""
        enc, ctype = negotiate(accept)
        with self._lock:
            body = self._pages.get((ctype, gz))
            plain = self._pages.get((ctype, False))
            source = self._source
            self._wanted[ctype, gz] = (enc, time.monotonic())
        if body is None:
            body = plain if plain is not None else enc(source)
            if gz:
                body = _gzip(body)
            with self._lock:
                if self._source is source:
                    self._pages[ctype, gz] = body
        return body, ctype

    def snapshot_json(self) -> bytes | None:
        """The frame's snapshot as `kvmtune snapshot --json` prints it (made once per frame)."""
        with self._lock:
            frame, kept = self._source.frame, self._json
        if frame is None:
            return None
        if kept is not None and kept[0] is frame:
            return kept[1]
        body = (frame.raw.dumps(indent=2) + "\n").encode()
        with self._lock:
            self._json = (frame, body)
        return body
