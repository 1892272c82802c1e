"""The domain XML, parsed in one place and declaratively (as virtinst's XMLProperty does).

Each class names the XML node it mirrors and declares its fields as `Prop(path, attr,
conv)` descriptors; `parse_domain_xml` reads a domain once into a frozen `DomainConfig`.
A settings refresh fetches the XML once per guest and everything that needs it reads this.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar, overload

from ..errors import VirtError
from ..model import MemoryBacking
from ..units import to_kib
from ..xmlfacts import Controller, DomainFacts, GuestCell, Nic

T = TypeVar("T")
V = TypeVar("V")


class Prop(Generic[T]):
    """One value of an XML node: the text (attr None) or an attribute of the element at
    `path` (ElementTree syntax, "." for the node itself), converted by `conv`; `default`
    when the element or attribute is absent or `conv` refuses it."""

    conv: Callable[[str], T]
    default: T

    # The overloads give the value's type: str (or `conv`'s result), with None when there is no default.
    @overload
    def __init__(self: Prop[str | None], path: str, attr: str | None = None) -> None: ...
    @overload
    def __init__(self: Prop[str], path: str, attr: str | None = None, *, default: str) -> None: ...
    @overload
    def __init__(self: Prop[V | None], path: str, attr: str | None, conv: Callable[[str], V]) -> None: ...
    @overload
    def __init__(self: Prop[V], path: str, attr: str | None, conv: Callable[[str], V], default: V) -> None: ...

    def __init__(self, path: str, attr: str | None = None,
                 conv: Callable[[str], Any] = str, default: Any = None) -> None:
        self.path, self.attr, self.conv, self.default = path, attr, conv, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, node: None, owner: type) -> Prop[T]: ...
    @overload
    def __get__(self, node: XMLNode, owner: type) -> T: ...

    def __get__(self, node: XMLNode | None, owner: type) -> Prop[T] | T:
        if node is None:
            return self
        el = node.el.find(self.path) if self.path != "." else node.el
        raw = None if el is None else (el.text if self.attr is None else el.get(self.attr))
        if raw is None:
            return self.default
        try:
            return self.conv(raw.strip())
        except ValueError:
            return self.default


class Present:
    """True when the element at `path` exists (e.g. <memoryBacking><locked/>)."""

    def __init__(self, path: str):
        self.path = path

    @overload
    def __get__(self, node: None, owner: type) -> Present: ...
    @overload
    def __get__(self, node: XMLNode, owner: type) -> bool: ...

    def __get__(self, node: XMLNode | None, owner: type) -> Present | bool:
        if node is None:
            return self
        return node.el.find(self.path) is not None


class XMLNode:
    def __init__(self, el: ET.Element):
        self.el = el


class DiskXML(XMLNode):
    target = Prop("target", "dev")
    bus = Prop("target", "bus")
    cache = Prop("driver", "cache")
    io = Prop("driver", "io")
    iothread = Prop("driver", "iothread", int)
    _file = Prop("source", "file")
    _dev = Prop("source", "dev")
    _name = Prop("source", "name")
    _volume = Prop("source", "volume")

    @property
    def source(self) -> str | None:
        return self._file or self._dev or self._name or self._volume

    def iotune(self) -> tuple[tuple[str, int], ...]:
        """The throttles set (<iotune>'s children, non-zero), as blockIoTune names them."""
        it = self.el.find("iotune")
        out = []
        for e in () if it is None else it:
            try:
                if (v := int((e.text or "").strip())) > 0:
                    out.append((e.tag, v))
            except ValueError:
                pass   # group_name, or a value libvirt would not have written
        return tuple(out)


class MemoryBackingXML(XMLNode):
    hugepages = Present("hugepages")
    _page_size = Prop("hugepages/page", "size", int)
    _page_unit = Prop("hugepages/page", "unit", default="KiB")
    locked = Present("locked")
    nosharepages = Present("nosharepages")

    @property
    def page_size_kib(self) -> int | None:
        size = self._page_size
        return None if size is None else to_kib(size, self._page_unit)

    def model(self) -> MemoryBacking:
        return MemoryBacking(hugepages=self.hugepages, page_size_kib=self.page_size_kib,
                             locked=self.locked, nosharepages=self.nosharepages)


class NumaTuneXML(XMLNode):
    mode = Prop("memory", "mode", default="strict")
    nodeset = Prop("memory", "nodeset")
    placement = Prop("memory", "placement")


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise ValueError(f"not on/off: {text!r}")
    return text == "on"


class InterfaceXML(XMLNode):
    type = Prop(".", "type")
    mac = Prop("mac", "address")
    model = Prop("model", "type")
    driver = Prop("driver", "name")
    queues = Prop("driver", "queues", int)
    target = Prop("target", "dev")
    alias = Prop("alias", "name")
    _network = Prop("source", "network")
    _bridge = Prop("source", "bridge")
    _dev = Prop("source", "dev")

    def facts(self) -> Nic:
        return Nic(mac=self.mac, type=self.type, source=self._network or self._bridge or self._dev,
                   model=self.model, driver=self.driver, queues=self.queues, target=self.target,
                   alias=self.alias)


class ControllerXML(XMLNode):
    type = Prop(".", "type")
    model = Prop(".", "model")
    index = Prop(".", "index", int)
    queues = Prop("driver", "queues", int)


class CellXML(XMLNode):
    id = Prop(".", "id", int)
    cpus = Prop(".", "cpus")
    _memory = Prop(".", "memory", int, 0)
    _unit = Prop(".", "unit", default="KiB")

    @property
    def memory_kib(self) -> int:
        return to_kib(self._memory, self._unit)


class DomainXML(XMLNode):
    name = Prop("name")
    virt_type = Prop(".", "type")
    max_vcpus = Prop("vcpu", None, int)
    _current_vcpus = Prop("vcpu", "current", int)
    vcpu_cpuset = Prop("vcpu", "cpuset")
    vcpu_placement = Prop("vcpu", "placement")
    _memory = Prop("memory", None, int)
    _memory_unit = Prop("memory", "unit", default="KiB")
    # <cpu> without mode is libvirt's default, custom; no <cpu> at all is QEMU's default model
    has_cpu = Present("cpu")
    _cpu_mode = Prop("cpu", "mode")
    cpu_model = Prop("cpu/model")
    sockets = Prop("cpu/topology", "sockets", int)
    cores = Prop("cpu/topology", "cores", int)
    threads = Prop("cpu/topology", "threads", int)
    pmu = Prop("features/pmu", "state", _on_off)
    memballoon = Prop("devices/memballoon", "model")
    iothreads = Prop("iothreads", None, int, 0)

    @property
    def current_vcpus(self) -> int | None:
        return self._current_vcpus if self._current_vcpus is not None else self.max_vcpus

    @property
    def cpu_mode(self) -> str | None:
        return self._cpu_mode or ("custom" if self.has_cpu else None)

    @property
    def max_memory_kib(self) -> int | None:
        size = self._memory
        return None if size is None else to_kib(size, self._memory_unit)

    def devices(self, tag: str) -> list[ET.Element]:
        return self.el.findall(f"./devices/{tag}")

    def disks(self) -> list[DiskXML]:
        return [d for d in map(DiskXML, self.el.findall("./devices/disk")) if d.target]

    def memory_backing(self) -> MemoryBackingXML | None:
        el = self.el.find("memoryBacking")
        return None if el is None else MemoryBackingXML(el)

    def numatune(self) -> NumaTuneXML | None:
        el = self.el.find("numatune")
        return None if el is None else NumaTuneXML(el)


@dataclass(frozen=True)
class DiskConfig:
    target: str
    source: str | None
    bus: str | None = None
    cache: str | None = None
    io: str | None = None
    # A running guest's live XML holds the throttles libvirt set (it updates them with each
    # blkdeviotune): blockIoTune asks QEMU again, a monitor query per disk (see collect/settings.py)
    iotune: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class DomainConfig:
    """The slow-changing part of a domain, parsed from its XML."""
    disks: tuple[DiskConfig, ...] = ()
    memory_backing: MemoryBacking = field(default_factory=MemoryBacking)
    vcpu_cpuset: str | None = None   # <vcpu cpuset=...>: the CPUs the guest may use by default
    current_vcpus: int | None = None   # <vcpu current=...> (else its count): the vCPUs it has (or starts with)
    # Whether the domain declares <numatune>: libvirt's getter reports a default mode and
    # nodeset for a domain without one, so only a declared one counts.
    has_numatune: bool = False
    # What the advisor reads (Guest.domain); None when the XML was not read. One object per
    # settings refresh, handed to every tick's Guest as it is (the recorder compares by identity).
    facts: DomainFacts | None = None


def _disk_config(d: DiskXML) -> DiskConfig:
    target = d.target
    assert target is not None  # DomainXML.disks() keeps only the disks that have a target
    return DiskConfig(target=target, source=d.source, bus=d.bus, cache=d.cache, io=d.io, iotune=d.iotune())


def _cells(dom: DomainXML) -> tuple[GuestCell, ...]:
    # <numatune><memnode cellid nodeset>: the host nodes a guest cell's memory is bound to
    bound = {m.get("cellid"): m.get("nodeset") for m in dom.el.findall("./numatune/memnode")}
    out = []
    for i, c in enumerate(map(CellXML, dom.el.findall("./cpu/numa/cell"))):
        cell_id = c.id if c.id is not None else i   # ids were optional before libvirt 1.2.7: in order
        out.append(GuestCell(id=cell_id, cpus=c.cpus, memory_kib=c.memory_kib, nodeset=bound.get(str(cell_id))))
    return tuple(out)


def _domain_facts(dom: DomainXML, disks: list[DiskXML]) -> DomainFacts:
    nt = dom.numatune()
    inputs = [(e.get("type") or "?", e.get("bus")) for e in dom.devices("input")]
    return DomainFacts(
        virt_type=dom.virt_type, cpu_mode=dom.cpu_mode, cpu_model=dom.cpu_model, max_vcpus=dom.max_vcpus,
        sockets=dom.sockets, cores=dom.cores, threads=dom.threads, pmu=dom.pmu,
        cells=_cells(dom),
        nics=tuple(InterfaceXML(e).facts() for e in dom.devices("interface")),
        controllers=tuple(Controller(type=c.type, model=c.model, index=c.index, queues=c.queues)
                          for c in map(ControllerXML, dom.devices("controller")) if c.type),
        disk_iothreads={d.target: d.iothread for d in disks if d.target and d.iothread is not None},
        sounds=tuple(e.get("model") or "?" for e in dom.devices("sound")),
        inputs=tuple(f"{t}/{b}" if b else t for t, b in inputs),
        redirdevs=len(dom.devices("redirdev")),
        graphics=tuple(e.get("type") or "?" for e in dom.devices("graphics")),
        memballoon=dom.memballoon,
        vcpu_placement=dom.vcpu_placement,
        numa_placement=None if nt is None else nt.placement,
        iothreads=dom.iothreads,
        max_memory_kib=dom.max_memory_kib,
    )


def parse_domain_xml(xml: str) -> DomainConfig:
    try:
        dom = DomainXML(ET.fromstring(xml))
    except ET.ParseError as e:
        raise VirtError(f"unreadable domain XML: {e}") from None
    mb = dom.memory_backing()
    disks = dom.disks()
    return DomainConfig(
        disks=tuple(_disk_config(d) for d in disks),
        memory_backing=mb.model() if mb is not None else MemoryBacking(),
        vcpu_cpuset=dom.vcpu_cpuset,
        current_vcpus=dom.current_vcpus,
        has_numatune=dom.numatune() is not None,
        facts=_domain_facts(dom, disks),
    )


def with_saved_cpu(live: DomainConfig, saved: DomainConfig) -> DomainConfig:
    """The live config with the saved definition's CPU mode and model: starting a host-model
    guest rewrites its live <cpu> to mode='custom' and the expanded model, which would read as
    a guest without host-model. Everything else stays as the guest runs now."""
    if live.facts is None or saved.facts is None:
        return live
    facts = replace(live.facts, cpu_mode=saved.facts.cpu_mode, cpu_model=saved.facts.cpu_model)
    return replace(live, facts=facts)
