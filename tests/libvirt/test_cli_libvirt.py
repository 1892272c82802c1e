"""`kvmtune apply` as a subprocess on the libvirt test driver: what a refusal by libvirt prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_libvirt_refusal_names_what_was_tried_on_stderr_only(source, tmp_path):
    # The test driver refuses a total_bytes_sec above the disk's total_bytes_sec_max (8 MiB).
    env = {**os.environ, "PYTHONPATH": str(SRC), "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("KVMTUNE_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "kvmtune.cli", "apply", "blkdeviotune", "alpha", "vda",
                        "--total-bytes-sec", "16M", "--connect", source.hv.uri, "--root", str(source.fs.root)],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60)
    assert (r.returncode, r.stdout) == (1, ""), r.stderr
    err = r.stderr.splitlines()
    assert err[0].startswith("kvmtune: blkdeviotune alpha: ") and "total_bytes_sec_max" in err[0]
    assert err[1:] == ["kvmtune: tried: virsh blkdeviotune alpha vda --total-bytes-sec 16777216 --live"]
