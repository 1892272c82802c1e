"""The advisor's domain facts through the real libvirt-python path: a domain defined on the
test driver with every element the checks read, collected, compared with what was defined;
the facts object is kept between settings refreshes and replaced by the next refresh.

A fresh test:///<tmp>/host.xml per test (test:///default keeps its state for the whole
process), and defineXML on it like on the shared default driver."""

from __future__ import annotations

import time
from dataclasses import replace

from kvmtune.collect import Collector
from kvmtune.xmlfacts import Controller, DomainFacts, GuestCell, Nic

RICH = """<domain type='test'>
  <name>rich</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e2000</uuid>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='MiB'>384</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <iothreads>1</iothreads>
  <numatune>
    <memory mode='strict' nodeset='0'/>
    <memnode cellid='0' mode='strict' nodeset='0'/>
  </numatune>
  <os><type arch='x86_64'>hvm</type></os>
  <features><acpi/><pmu state='on'/></features>
  <cpu mode='custom' match='exact'>
    <model fallback='allow'>Haswell</model>
    <topology sockets='1' cores='2' threads='2'/>
    <numa>
      <cell id='0' cpus='0-1' memory='256' unit='MiB'/>
      <cell id='1' cpus='2-3' memory='262144' unit='KiB'/>
    </numa>
  </cpu>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe' io='threads' iothread='1'/>
      <source file='/guest/rich.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source file='/guest/rich-data.img'/><target dev='sda' bus='scsi'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <interface type='network'>
      <mac address='52:54:00:12:34:01'/><source network='default'/>
      <model type='virtio'/><driver name='qemu' queues='2'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:02'/><source bridge='br0'/><model type='e1000'/>
    </interface>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1'/>
    <sound model='ich9'/>
    <redirdev bus='usb' type='spicevmc'/>
    <memballoon model='none'/>
  </devices>
</domain>"""

EXPECTED = DomainFacts(
    virt_type="test", max_vcpus=4,   # <domain type>; <vcpu>'s count, not current=
    cpu_mode="custom", cpu_model="Haswell", sockets=1, cores=2, threads=2, pmu=True,
    cells=(GuestCell(0, "0-1", 262144, nodeset="0"), GuestCell(1, "2-3", 262144)),
    # the test driver names each running interface's host device testnetN (no alias)
    nics=(Nic("52:54:00:12:34:01", "network", "default", "virtio", "qemu", 2, "testnet0"),
          Nic("52:54:00:12:34:02", "bridge", "br0", "e1000", None, None, "testnet1")),
    controllers=(Controller("scsi", "virtio-scsi", 0, None), Controller("usb", "qemu-xhci", 0, None)),
    disk_iothreads={"vda": 1}, sounds=("ich9",), inputs=("tablet/usb",), redirdevs=1,
    graphics=("vnc",), memballoon="none", vcpu_placement="static", numa_placement=None,
    iothreads=1, max_memory_kib=512 * 1024,
)



def _define(two_guests, xml):
    two_guests.hv.ensure_connected()
    return two_guests.hv._conn.defineXML(xml)   # the test driver keeps it for this connection


def _settle(hv, quiet: float = 0.3) -> None:
    """Let the events of what the test just did arrive (libvirt's event thread delivers them
    a little later, later still on a loaded machine) and drop them, so that a tick's settings
    read is the refresh's own, not a late event's."""
    deadline = time.monotonic() + 10
    last = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - last < quiet:
        if hv.changed_guests():
            last = time.monotonic()
        time.sleep(0.02)


def _wait_changed(hv, name: str) -> bool:
    """Wait for libvirt's event about `name` and put it back for the collector to take."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = hv.changed_guests() or set()
        if name in got:
            hv._changed |= got
            return True
        time.sleep(0.02)
    return False


def test_defined_domain_facts_match_its_xml(two_guests):
    _define(two_guests, RICH).create()
    g = Collector(two_guests).collect().guest("rich")
    assert g is not None and g.state == "running"
    f = g.domain
    assert f is not None
    # libvirt may add default controllers and inputs: the defined ones must all be there,
    # and every other fact equal
    assert set(EXPECTED.controllers) <= set(f.controllers) and set(EXPECTED.inputs) <= set(f.inputs)
    assert replace(f, controllers=EXPECTED.controllers, inputs=EXPECTED.inputs) == EXPECTED
    # the disks' cache/io/bus stay on Guest.disks
    assert [(d.target, d.bus, d.cache, d.io) for d in g.disks] == [
        ("vda", "virtio", "unsafe", "threads"), ("sda", "scsi", "none", "native")]


def test_a_domain_without_cpu_or_devices(two_guests):
    """beta (two-guests.xml) declares no <cpu>: QEMU's default model, stated as cpu_mode None."""
    f = Collector(two_guests).collect().guest("beta").domain
    assert f is not None
    assert (f.cpu_mode, f.cpu_model, f.sockets, f.cells, f.nics, f.sounds, f.redirdevs) == (
        None, None, None, (), (), (), 0)
    assert f.max_memory_kib == 262144


def test_facts_are_one_object_between_refreshes(two_guests):
    """Between settings refreshes every tick's Guest carries the same facts object (the
    recorder skips what `is` unchanged); a new definition (libvirt's event) is read afresh."""
    _define(two_guests, RICH)
    _settle(two_guests.hv)
    c = Collector(two_guests, settings_every=3600)
    first = c.collect().guest("rich").domain
    assert first is not None
    assert c.collect().guest("rich").domain is first
    assert c.collect().guest("rich").domain is first
    # the e1000 NIC made virtio: the define event has the next tick read the XML again
    _define(two_guests, RICH.replace("<model type='e1000'/>", "<model type='virtio'/>"))
    # libvirt's event thread delivers the define event a little later (later still on a loaded
    # machine): the tick after it arrives reads the XML again, without a settings refresh
    deadline = time.monotonic() + 10
    while (after := c.collect().guest("rich").domain) is first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert after is not first and [n.model for n in after.nics] == ["virtio", "virtio"]
    assert c.collect().guest("rich").domain is after


def test_a_running_guests_cpu_mode_is_its_saved_definitions(two_guests):
    """Starting a host-model guest rewrites its live <cpu> to mode='custom' with the expanded
    model; the CPU mode and model are read from the inactive XML, the rest from the live one.
    On the test driver: started as custom Haswell 1x2x2, then redefined (the saved definition
    only, while it runs) as host-model with another topology and no NICs."""
    _define(two_guests, RICH).create()
    redefined = RICH.replace("""<cpu mode='custom' match='exact'>
    <model fallback='allow'>Haswell</model>
    <topology sockets='1' cores='2' threads='2'/>""", """<cpu mode='host-model'>
    <topology sockets='2' cores='1' threads='2'/>""")
    assert redefined != RICH
    saved_def = redefined.replace("<interface", "<!-- <interface").replace("</interface>", "</interface> -->")
    _define(two_guests, saved_def)
    hv = two_guests.hv
    reads: list[bool] = []   # rich's XML reads: inactive or not
    real = hv.domain_xml

    def counted(name, inactive=False):
        if name == "rich":
            reads.append(inactive)
        return real(name, inactive)
    hv.domain_xml = counted
    _settle(hv)
    c = Collector(two_guests, settings_every=3600)
    f = c.collect().guest("rich").domain
    assert (f.cpu_mode, f.cpu_model) == ("host-model", None)           # the saved definition's
    assert (f.sockets, f.cores, f.threads, len(f.nics)) == (1, 2, 2, 2)  # the rest as it runs now
    # one inactive read per settings refresh of a running guest, none per tick
    c.collect()
    c.collect()
    assert reads.count(True) == 1
    # a periodic refresh of the same run keeps the saved CPU: the saved definition changes
    # only with a lifecycle event ("defined"), which brings the inactive read back
    c.guests.settings_every = 0
    f = c.collect().guest("rich").domain
    assert (f.cpu_mode, f.sockets) == ("host-model", 1) and reads.count(True) == 1 and reads[-1] is False
    _define(two_guests, saved_def.replace("<cpu mode='host-model'>", "<cpu mode='host-passthrough'>"))
    assert _wait_changed(hv, "rich")
    f = c.collect().guest("rich").domain
    assert f.cpu_mode == "host-passthrough" and reads.count(True) == 2
    _define(two_guests, saved_def)
    _settle(hv)
    c.guests.settings_every = 3600
    # a shut-off guest's XML is its definition: one read
    two_guests.hv._conn.lookupByName("rich").destroy()
    _settle(hv)
    reads.clear()
    f = c.collect().guest("rich").domain
    assert (f.cpu_mode, f.sockets, len(f.nics)) == ("host-model", 2, 0) and reads == [False]
