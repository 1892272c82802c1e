"""The core never pulls in Textual (import direction: ui -> actions/record -> collect -> model)."""

from __future__ import annotations

import subprocess
import sys

CORE = ["kvmtune.model", "kvmtune.cpuset", "kvmtune.hostfs", "kvmtune.parse", "kvmtune.rates",
        "kvmtune.collect", "kvmtune.collect.host", "kvmtune.collect.process", "kvmtune.actions",
        "kvmtune.virt", "kvmtune.virt.interface", "kvmtune.cli", "kvmtune.demo", "kvmtune.record",
        "kvmtune.report"]


def test_core_modules_do_not_import_textual():
    # every one of them: a module that went missing is a failure here, not one checked less
    code = ("import sys\n"
            f"for m in {CORE!r}:\n"
            "    __import__(m)\n"
            "bad = sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"textual imported by the core: {out.stdout.strip()}"
