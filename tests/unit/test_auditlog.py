"""The audit log keeps every entry: a torn last line (a crash or a full disk mid-write)
costs only that line, the next entry starts on its own line, and no id is handed out twice."""

from __future__ import annotations

import json

from kvmtune.actions import AuditLog


def _tear(path, text: str) -> None:
    """What a writer killed mid-write leaves: part of a line, no newline."""
    with open(path, "ab") as f:
        f.write(text.encode())


def test_entries_skip_a_torn_line(tmp_path):
    path = tmp_path / "log"
    path.write_text('{"id": 4, "action": "ksm"}\n{"id": 5, "act')
    assert [e["id"] for e in AuditLog(path).entries()] == [4]


def test_append_after_a_torn_last_line_keeps_every_entry_and_never_reuses_an_id(tmp_path):
    path = tmp_path / "actions.log"
    log = AuditLog(path)
    assert log.append({"action": "ksm", "result": "applied"}) == 1
    assert log.append({"action": "thp", "result": "applied"}) == 2
    # entry 3 was being written when the process died: its id survived, the rest did not
    _tear(path, '{"id":3,"time":1735700000.5,"user":"root","action":"vcpu')
    new = log.append({"action": "numatune", "result": "applied"})
    assert new == 4, "id 3 was handed out to the torn entry: it must not be reused"
    got = [(e["id"], e["action"]) for e in log.entries()]
    assert got == [(1, "ksm"), (2, "thp"), (4, "numatune")]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and json.loads(lines[-2])["id"] == 4   # the new entry has a line of its own
    assert lines[2].startswith(b'{"id":3,') and lines[2].endswith(b'"vcpu')     # the torn one is kept as it was
    assert log.append({"action": "memtune"}) == 5


def test_a_torn_line_whose_id_was_cut_still_uses_up_an_id(tmp_path):
    """Torn inside its id (`{"id":1` of what was 12): the id it held is unknown, but ids go
    up by one in file order, so it held one more than every id before it."""
    path = tmp_path / "actions.log"
    log = AuditLog(path)
    for _ in range(11):
        log.append({"action": "ksm"})
    _tear(path, '{"id":1')
    assert log.append({"action": "thp"}) == 13
    assert [e["id"] for e in log.entries()] == [*range(1, 12), 13]


def test_a_torn_line_cut_inside_a_multibyte_character_is_not_an_error(tmp_path):
    path = tmp_path / "actions.log"
    log = AuditLog(path)
    log.append({"action": "ksm"})
    _tear(path, '{"id":2,"target":"')
    with open(path, "ab") as f:
        f.write("é".encode()[:1])      # half of a UTF-8 character (a foreign writer's)
    assert log.append({"action": "thp"}) == 3
    assert [e["id"] for e in log.entries()] == [1, 3]


_SHORT_WRITE = """
import resource, signal, sys
from kvmtune.actions import AuditLog, AuditLogError
log = AuditLog(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # past the limit: a short write, then EFBIG
size = log.path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, resource.RLIM_INFINITY))
try:
    eid = log.append({"action": "vcpupin", "target": "web-01", "parameters": {"cpus": [8, 9, 10, 11]}})
except AuditLogError as e:
    print("error:", e)
else:
    print("logged as", eid)
"""


def test_a_short_write_is_an_error_not_a_logged_entry(tmp_path):
    """A full disk (here: a file size limit, the same short write) must not report a half
    line as logged; the next append starts on a fresh line and skips the torn id."""
    import subprocess
    import sys
    path = tmp_path / "actions.log"
    log = AuditLog(path)
    log.append({"action": "ksm"})
    out = subprocess.run([sys.executable, "-c", _SHORT_WRITE, str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.startswith("error: cannot write the audit log"), (out.stdout, out.stderr)
    assert not path.read_bytes().endswith(b"\n")        # the torn line the short write left
    assert log.append({"action": "thp"}) == 3
    assert [e["id"] for e in log.entries()] == [1, 3]
