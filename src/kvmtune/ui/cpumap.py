"""The host CPU map: every CPU as its id and a mark, grouped by node and socket with SMT
siblings together. Pane 2 and the host view draw it with each CPU's load; the pin picker
(forms.py) with its choices and cursor."""

from __future__ import annotations

from collections.abc import Mapping

from .. import fmt
from ..model import Snapshot


def cpu_rows(snap: Snapshot, width: int = 80) -> list[tuple[str, list[list[int]]]]:
    """Host CPUs as picker/map lines: (label, cores) per line, grouped by node and socket,
    SMT siblings (same core) together; a socket too wide for `width` continues on more lines."""
    cpus = {c.id: c for c in snap.host.cpus}
    idw = len(str(max(snap.host.cpu_ids, default=0)))
    lines = []
    for n in snap.host.nodes:
        sockets: dict[object, dict[object, list[int]]] = {}
        for cid in n.cpus:
            c = cpus.get(cid)
            core = c.core if c is not None and c.core is not None else ("cpu", cid)
            sockets.setdefault(c.socket if c else None, {}).setdefault(core, []).append(cid)
        for sock, cores in sorted(sockets.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            groups = [sorted(ids) for ids in sorted(cores.values(), key=min)]
            per_core = max(len(g) for g in groups) * (idw + 1) + 1
            per_line = max(1, (width - 8) // per_core)
            label = f"N{n.id}" + (f" s{sock}" if sock is not None else "")
            for i in range(0, len(groups), per_line):
                lines.append((label if i == 0 else "", groups[i:i + per_line]))
    return lines


def cpu_map(snap: Snapshot, cpu_pct: Mapping[int, float | None],
            running_on: Mapping[int, list[int]] | None = None,
            marked: set[int] | None = None, cursor: int | None = None, width: int = 80,
            taken: set[int] | None = None) -> list[str]:
    """One line per `cpu_rows` line. Each CPU is its id and a mark: its load (a block
    glyph; the id reversed where one of the guest's vCPUs runs), "*" when `marked` (a
    picker's choice), "p" where another guest has pinned vCPUs (`taken`; "!" when also
    marked); `cursor` is underlined."""
    idw = len(str(max(snap.host.cpu_ids, default=0)))
    out = []
    for label, groups in cpu_rows(snap, width):
        cells = " ".join("".join(_cpu_cell(c, idw, cpu_pct.get(c), (running_on or {}).get(c), marked, cursor,
                                           taken) for c in g) for g in groups)
        out.append(f"[b]{label:<6}[/]{cells}")
    return out


def _cpu_cell(cid: int, idw: int, pct: float | None, vcpus: list[int] | None,
              marked: set[int] | None, cursor: int | None, taken: set[int] | None = None) -> str:
    text = f"{cid:>{idw}}"
    if marked is None:
        # the map: the id (reversed where one of the guest's vCPUs runs) and its load glyph,
        # which stays visible under a vCPU too
        glyph = _load_glyph(pct)
        if pct is not None and pct >= 80:
            glyph = f"[$error]{glyph}[/]"
        style = (["reverse $accent"] if vcpus else []) + (["underline b"] if cursor == cid else [])
        return (f"[{' '.join(style)}]{text}[/]" if style else text) + glyph
    style = []
    other = taken is not None and cid in taken
    text += ("!" if other else "*") if cid in marked else ("p" if other else "·")
    if cid in marked:
        style.append("reverse $error" if other else "reverse $success")
    elif other:
        style.append("$warning")
    if cursor == cid:
        style.append("underline b")
    return f"[{' '.join(style)}]{text}[/]" if style else text


def _load_glyph(pct: float | None) -> str:
    if pct is None:
        return " "
    return fmt.SPARKS[min(8, max(1, round(pct / 12.5)))]


__all__ = ["cpu_map", "cpu_rows"]
