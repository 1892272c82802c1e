"""Tuning actions: validated against a Snapshot, shown as virsh/sysfs lines, logged, undoable.

No Textual here: the CLI (`actions.cli`) and the TUI both drive actions through `Executor`.
"""

from .auditlog import AuditLog, AuditLogError, default_path
from .base import KINDS, Action, ActionError, display, rebuild
from .executor import Executor, Result
from .guest import (BlkDevIoTune, BlkioTune, BlkioWeight, EmulatorPin, IoThreadPin, MemTune,
                    MoveToNode, NumaTune, Restore, VcpuPin)
from .host import HugepagePool, KsmSet, NumaBalancing, ThpEnabled

__all__ = [
    "Action", "ActionError", "AuditLog", "AuditLogError", "BlkDevIoTune", "BlkioTune", "BlkioWeight",
    "EmulatorPin", "Executor", "HugepagePool", "IoThreadPin", "KINDS", "KsmSet", "MemTune",
    "MoveToNode", "NumaBalancing", "NumaTune", "Restore", "Result", "ThpEnabled", "VcpuPin",
    "default_path", "display", "rebuild",
]
