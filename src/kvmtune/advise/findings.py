"""What the advisor says: a Finding (code, severity, whom it concerns, the evidence in
numbers, the guide's section) and its Fix (a prefilled action, or the definition change
for what only `virsh edit` can change). Plain data, JSON-ready; no checks here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)   # worst first


def rank(severity: Severity) -> int:
    """0 for the worst (critical): sort findings by this."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Fix:
    """How to fix a finding. A live fix is an action, named by its kind (actions.KINDS) with
    the params its `from_params(target, params)` takes, so a front end rebuilds it and it is
    validated like any other; an XML-only fix is the snippet for `virsh edit` and the same
    change as one virt-xml command (it edits the saved definition, virt-xml's `--define`: virt-xml
    has no --config; it takes effect at the next boot)."""
    action: str | None = None                  # actions.KINDS key: "numatune", "memtune", ...
    target: str = "host"                       # the guest's name, or "host"
    params: Mapping[str, Any] = field(default_factory=dict)
    xml: str | None = None                     # the element(s) to put in `virsh edit GUEST`
    virt_xml: tuple[str, ...] | None = None    # argv: ("virt-xml", GUEST, "--edit", ..., "--define")
    note: str | None = None                    # what to know before applying it

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "target": self.target, "params": dict(self.params),
                "xml": self.xml, "virt_xml": None if self.virt_xml is None else list(self.virt_xml),
                "note": self.note}


@dataclass(frozen=True)
class Finding:
    code: str            # stable id: "numa.split", "memtune.hard_limit_close", ...
    severity: Severity
    guest: str | None    # the guest it concerns; None: the host
    title: str           # what is wrong, short: "memory split over nodes"
    evidence: str        # the numbers: "61 % of 16 GiB on node 3, vCPUs on node 2"
    section: str         # the guide's section number: "8.4.1"
    fix: Fix | None = None
    subject: str | None = None   # which device/pool of the guest or host when a code can fire several times
                                 # ("vda", a NIC's MAC, "2048" KiB pages): mutes and cursors key on it

    @property
    def text(self) -> str:
        return f"{self.title}: {self.evidence}" if self.evidence else self.title

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "guest": self.guest, "title": self.title,
                "evidence": self.evidence, "section": self.section, "subject": self.subject,
                "fix": None if self.fix is None else self.fix.to_json()}


def worst_first(found: Any) -> list[Finding]:
    """Findings sorted worst severity first, then by guest and code (a stable order)."""
    return sorted(found, key=lambda f: (rank(f.severity), f.guest or "", f.code))
