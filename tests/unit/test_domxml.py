"""The advisor's facts (DomainFacts) parsed from domain XML strings: every element, the
defaults when an element is absent, and values libvirt would refuse (they fall back, the
parse never raises but VirtError)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmtune.errors import VirtError
from kvmtune.model import Snapshot
from kvmtune.virt.domxml import parse_domain_xml
from kvmtune.xmlfacts import Controller, DomainFacts, GuestCell, Nic, domain_in, domain_out

FULL = """<domain type='kvm'>
  <name>rich</name>
  <memory unit='GiB'>4</memory>
  <currentMemory unit='KiB'>3145728</currentMemory>
  <vcpu placement='auto' current='2'>4</vcpu>
  <iothreads>2</iothreads>
  <numatune>
    <memory mode='strict' placement='static' nodeset='0-1'/>
    <memnode cellid='1' mode='strict' nodeset='1'/>
  </numatune>
  <features><acpi/><pmu state='off'/></features>
  <cpu mode='custom' match='exact'>
    <model fallback='allow'>Skylake-Server</model>
    <topology sockets='2' dies='1' cores='1' threads='2'/>
    <numa>
      <cell id='0' cpus='0-1' memory='2' unit='GiB'/>
      <cell id='1' cpus='2-3' memory='2048' unit='MiB'/>
    </numa>
  </cpu>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='writeback' io='threads' iothread='1'/>
      <source file='/g/a.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source file='/g/b.img'/><target dev='sda' bus='scsi'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'><driver queues='4'/></controller>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <controller type='pci' index='0' model='pcie-root'/>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/><source network='default'/>
      <target dev='vnet3'/><model type='virtio'/><driver name='vhost' queues='4'/><alias name='net0'/>
    </interface>
    <interface type='bridge'><mac address='52:54:00:aa:bb:cd'/><source bridge='br0'/><model type='e1000'/></interface>
    <interface type='direct'><source dev='eth0' mode='bridge'/><model type='virtio'/><driver name='qemu'/></interface>
    <interface type='user'/>
    <input type='tablet' bus='usb'/>
    <input type='mouse' bus='ps2'/>
    <input type='keyboard'/>
    <graphics type='vnc' port='-1'/>
    <graphics type='spice' autoport='yes'/>
    <sound model='ich6'/>
    <redirdev bus='usb' type='spicevmc'/>
    <redirdev bus='usb' type='spicevmc'/>
    <memballoon model='virtio'/>
  </devices>
</domain>"""

FULL_FACTS = DomainFacts(
    virt_type="kvm", max_vcpus=4,   # <vcpu>'s count, not current=
    cpu_mode="custom", cpu_model="Skylake-Server", sockets=2, cores=1, threads=2, pmu=False,
    cells=(GuestCell(0, "0-1", 2 * 1024 * 1024), GuestCell(1, "2-3", 2 * 1024 * 1024, nodeset="1")),
    nics=(Nic("52:54:00:aa:bb:cc", "network", "default", "virtio", "vhost", 4, "vnet3", "net0"),
          Nic("52:54:00:aa:bb:cd", "bridge", "br0", "e1000", None, None),
          Nic(None, "direct", "eth0", "virtio", "qemu", None),
          Nic(None, "user", None, None, None, None)),
    controllers=(Controller("scsi", "virtio-scsi", 0, 4), Controller("usb", "qemu-xhci", 0, None),
                 Controller("pci", "pcie-root", 0, None)),
    disk_iothreads={"vda": 1},
    sounds=("ich6",), inputs=("tablet/usb", "mouse/ps2", "keyboard"), redirdevs=2,
    graphics=("vnc", "spice"), memballoon="virtio", vcpu_placement="auto", numa_placement="static",
    iothreads=2, max_memory_kib=4 * 1024 * 1024,
)


def test_every_element():
    cfg = parse_domain_xml(FULL)
    assert cfg.facts == FULL_FACTS
    # the disks' own facts stay in DiskConfig (Guest.disks: cache, io, bus)
    assert [(d.target, d.bus, d.cache, d.io) for d in cfg.disks] == [
        ("vda", "virtio", "writeback", "threads"), ("sda", "scsi", "none", "native")]


def test_current_vcpus():
    """<vcpu current=N>: the vCPUs a guest has (or starts with); without it, all of <vcpu>'s
    count (the collector's vCPU count where neither libvirt nor /proc gives one)."""
    assert parse_domain_xml(FULL).current_vcpus == 2
    assert parse_domain_xml("<domain><vcpu placement='static'>3</vcpu></domain>").current_vcpus == 3
    assert parse_domain_xml("<domain><name>x</name></domain>").current_vcpus is None


def test_nothing_declared():
    """A bare domain: no type, no <cpu> (QEMU's default model), no devices, nothing stated but <vcpu>."""
    f = parse_domain_xml("<domain><name>bare</name><vcpu>1</vcpu></domain>").facts
    assert f == DomainFacts(max_vcpus=1)


@pytest.mark.parametrize("cpu,mode,model", [
    ("<cpu mode='host-passthrough' check='none' migratable='on'/>", "host-passthrough", None),
    ("<cpu mode='host-model'/>", "host-model", None),
    # a <cpu> without mode is libvirt's default, custom; without <model> it is QEMU's default model
    ("<cpu><topology sockets='1' cores='2' threads='1'/></cpu>", "custom", None),
    ("<cpu><model>Haswell</model></cpu>", "custom", "Haswell"),
])
def test_cpu_mode(cpu, mode, model):
    f = parse_domain_xml(f"<domain><name>c</name>{cpu}</domain>").facts
    assert (f.cpu_mode, f.cpu_model) == (mode, model)


def test_pmu_on_and_cells_without_ids():
    """Cells without ids (libvirt before 1.2.7) count in order; memory without unit is KiB."""
    f = parse_domain_xml("""<domain><name>p</name><features><pmu state='on'/></features>
      <cpu mode='host-passthrough'><numa><cell cpus='0' memory='1024'/><cell cpus='1' memory='1'
      unit='G'/></numa></cpu></domain>""").facts
    assert f.pmu is True
    assert f.cells == (GuestCell(0, "0", 1024), GuestCell(1, "1", 1024 * 1024))


def test_values_libvirt_would_refuse_fall_back():
    f = parse_domain_xml("""<domain><name>bad</name><memory>lots</memory><iothreads>x</iothreads>
      <features><pmu state='maybe'/></features>
      <cpu mode='host-model'><topology sockets='two' cores='' threads='-'/>
        <numa><cell id='z' cpus='0' memory='many'/></numa></cpu>
      <devices><interface type='network'><driver queues='eight'/></interface>
        <controller index='0'/><controller type='scsi' index='first'><driver queues='?'/></controller>
        <disk device='disk'><driver iothread='one'/><target dev='vda'/></disk><sound/><graphics/></devices>
      </domain>""").facts
    assert (f.pmu, f.sockets, f.cores, f.threads, f.max_memory_kib, f.iothreads) == (None,) * 5 + (0,)
    assert f.cells == (GuestCell(0, "0", 0),)
    assert f.nics == (Nic(type="network"),)
    assert f.controllers == (Controller("scsi", None, None, None),)   # a controller without type is skipped
    assert f.disk_iothreads == {}
    assert (f.sounds, f.graphics) == (("?",), ("?",))


@pytest.mark.parametrize("xml", ["", "<domain>", "not xml", "<domain><name>a</name></domain>trailing"])
def test_unreadable_xml_is_a_virt_error(xml):
    with pytest.raises(VirtError, match="unreadable domain XML"):
        parse_domain_xml(xml)


@given(st.text(max_size=12))
def test_any_attribute_value_parses(value):
    """Whatever an attribute holds, the parse gives facts (or VirtError), never another exception."""
    attr = value.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")
    xml = (f"<domain><memory unit='{attr}'>{attr}</memory><vcpu placement='{attr}'>1</vcpu>"
           f"<cpu mode='{attr}'><topology sockets='{attr}'/><numa><cell id='{attr}' memory='{attr}' "
           f"unit='{attr}'/></numa></cpu><features><pmu state='{attr}'/></features><devices>"
           f"<interface type='{attr}'><driver queues='{attr}'/></interface>"
           f"<controller type='{attr}' index='{attr}'/><input type='{attr}' bus='{attr}'/></devices></domain>")
    try:
        f = parse_domain_xml(xml).facts
    except VirtError:
        return   # characters XML cannot hold at all
    assert f is not None and domain_in(domain_out(f)) == f


def test_json_round_trip_through_the_snapshot():
    """The facts survive Snapshot JSON as they are (the v1 "domain" key)."""
    from kvmtune.model import Guest, Host
    snap = Snapshot(time=1.0, host=Host("h"), guests=(Guest("g", "u", 1, "running", 2, 1024,
                                                            domain=FULL_FACTS),))
    back = Snapshot.loads(snap.dumps())
    assert back.guests[0].domain == FULL_FACTS
    d = snap.to_json()["guests"][0]["domain"]
    assert d["nics"][0] == {"mac": "52:54:00:aa:bb:cc", "type": "network", "source": "default",
                            "model": "virtio", "driver": "vhost", "queues": 4, "target": "vnet3", "alias": "net0"}
    assert d["cells"][1] == {"id": 1, "cpus": "2-3", "memory_kib": 2097152, "nodeset": "1"}
    assert (d["virt_type"], d["max_vcpus"]) == ("kvm", 4)
    assert d["disk_iothreads"] == {"vda": 1} and d["inputs"] == ["tablet/usb", "mouse/ps2", "keyboard"]
