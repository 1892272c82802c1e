"""Tuning actions: validated against a Snapshot, shown as virsh/sysfs lines, logged, undoable.

No Textual here: the CLI (`kvmtune.cli`) and the TUI both drive actions through `Executor`.
"""

from ..errors import ActionError, AuditLogError
from .auditlog import AuditLog, default_path
from .base import KINDS, Action, Restore, display, rebuild
from .blkio import BlkDevIoTune, BlkioTune, BlkioWeight, parse_device_weights
from .executor import Executor, Result
from .host import HugepagePool, KsmSet, NumaBalancing, ThpEnabled
from .memory import MemTune, NumaTune
from .move import MoveToNode
from .pin import EmulatorPin, IoThreadPin, VcpuPin, one_to_one

__all__ = [
    "KINDS",
    "Action",
    "ActionError",
    "AuditLog",
    "AuditLogError",
    "BlkDevIoTune",
    "BlkioTune",
    "BlkioWeight",
    "EmulatorPin",
    "Executor",
    "HugepagePool",
    "IoThreadPin",
    "KsmSet",
    "MemTune",
    "MoveToNode",
    "NumaBalancing",
    "NumaTune",
    "Restore",
    "Result",
    "ThpEnabled",
    "VcpuPin",
    "default_path",
    "display",
    "one_to_one",
    "parse_device_weights",
    "rebuild",
]
