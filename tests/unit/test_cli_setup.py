"""Expected set-up states get one line with the fix, never "internal error"."""

from __future__ import annotations

import pytest
from clirun import kvmtune

FIX = ("kvmtune: libvirt-python is not installed: run `make setup` (or `pip install libvirt-python`, "
       "which builds against libvirt-dev and pkg-config), or try `kvmtune --demo`\n")


@pytest.fixture
def no_libvirt(tmp_path):
    """A directory that makes `import libvirt` fail as it does where libvirt-python is not
    installed (`make demo` installs the package alone)."""
    d = tmp_path / "no-libvirt"
    d.mkdir()
    (d / "libvirt.py").write_text('raise ModuleNotFoundError("No module named \'libvirt\'", name="libvirt")\n')
    return str(d)


@pytest.mark.parametrize("args", [(), ("snapshot",), ("snapshot", "--json"),
                                  ("apply", "vcpupin", "web-01", "0", "1"), ("undo",)],
                         ids=["tui", "snapshot", "snapshot-json", "apply", "undo"])
def test_libvirt_python_missing_says_the_fix(tmp_path, no_libvirt, args):
    r = kvmtune(*args, state=tmp_path, path=(no_libvirt,))
    assert (r.returncode, r.stdout, r.stderr) == (1, "", FIX)


def test_the_demo_needs_no_libvirt_python(tmp_path, no_libvirt):
    r = kvmtune("snapshot", "--demo", state=tmp_path, path=(no_libvirt,))
    assert r.returncode == 0 and r.stdout.startswith("host hv-demo-01\n"), r.stderr
