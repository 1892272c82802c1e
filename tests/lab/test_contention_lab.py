"""Another libvirt client reading the same guests (an exporter, virsh, a second kvmtune):
libvirt's NOWAIT stats call skips a guest whose job that client holds at the moment, and a
one-shot `kvmtune snapshot` then had no block counters for it (CI saw it: the export lab
test's snapshot, taken while the exporter collected). kvmtune asks again for a skipped guest;
here a second client asks for every guest's block stats without a pause, the worst case."""

from __future__ import annotations

import threading
import time

from labkit import GUESTS, URI


def test_one_shot_reads_keep_their_block_counters_while_another_client_reads_the_guests(monkeypatch):
    import libvirt
    from kvmtune.virt import libvirt_stats
    from kvmtune.virt.libvirt_impl import LibvirtHypervisor
    stop, other = threading.Event(), [0]

    def other_client() -> None:
        conn = libvirt.open(URI)
        groups = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BLOCK | libvirt.VIR_DOMAIN_STATS_BALLOON
        while not stop.is_set():
            conn.getAllDomainStats(groups, 0)   # waits for each guest's job: holds it while it asks
            other[0] += 1
        conn.close()

    first_skips = [0]
    real = libvirt_stats.StatsReader._again_if_skipped

    def counted(self, records, chunk_call):   # a spy: how many the first ask lost to the other client
        first_skips[0] += sum(libvirt_stats.skipped(d.ID(), st) for d, st in records)
        return real(self, records, chunk_call)
    monkeypatch.setattr(libvirt_stats.StatsReader, "_again_if_skipped", counted)
    th = threading.Thread(target=other_client, daemon=True)
    th.start()
    reads = stale = ticks = 0
    try:
        end = time.monotonic() + 8
        while time.monotonic() < end:
            hv = LibvirtHypervisor(URI)   # a fresh connection each time, as `kvmtune snapshot` makes
            try:
                infos = hv.list_guests()
                stats = hv.guest_stats()
            finally:
                hv.close()
            ticks += 1
            for i in infos:
                if i.name in GUESTS and i.id is not None:
                    reads += 1
                    stale += stats[i.name].stale is not None
    finally:
        stop.set()
        th.join(30)
    print(f"{ticks} reads of {len(GUESTS)} guests, the other client {other[0]} calls: "
          f"first ask skipped {first_skips[0]} of {reads} guest reads, stale after asking again {stale}")
    assert ticks >= 20 and other[0] >= 20
    assert first_skips[0] > 0, "the other client never held a guest's job: the test proved nothing"
    # without the retries about 6 % of reads are stale (the first ask's skips); with them 0-0.8 %
    # on a quiet machine (ten runs here) and 1.4 % while another process loaded both CPUs: 2 %
    # tells the two apart without failing on a busy machine's timing
    assert stale <= max(2, reads // 50), f"{stale} of {reads} guest reads stale"
