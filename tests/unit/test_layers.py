"""The import graph: every import points down the layers, and there is no circle anywhere.

    cli -> ui -> actions / record / export / report -> collect (feeds, frames, the
    advisor, the demo host) -> virt -> model (and the other base modules)

Every import counts, including the ones inside functions (a lazy import is how a circle
hides). Read from the source with `ast`, as import-linter's contracts would check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "kvmtune"

# top-level module or package of kvmtune -> layer (an import may only go to the same or lower)
LAYERS = {
    **dict.fromkeys(["", "errors", "vocab", "cpuset", "units", "fmt", "parse", "hostfs", "model", "perfmodel",
                     "devmodel", "inputs", "jsonfields", "xmlfacts", "gcfreeze", "history"], 0),
    "virt": 1,
    **dict.fromkeys(["source", "collect", "rates", "analysis", "advise", "frame", "feed", "demo"], 2),
    **dict.fromkeys(["actions", "record", "export", "report", "fixes"], 3),
    "ui": 4,
    "cli": 5,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["kvmtune", *parts])


def _exists(module: str) -> bool:
    p = SRC.parent.joinpath(*module.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """The kvmtune modules a file imports, anywhere in it."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "kvmtune"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "kvmtune":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if _exists(sub):           # `from . import cpuset` imports that module
                    out.add(sub)
                else:                      # `from .model import Snapshot` uses the module itself
                    out.add(target)
    out.discard(me)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # `import kvmtune.a.b` also runs kvmtune.a: count the deepest module that exists
        graph[name] = {t for t in _imports(path) if t in modules}
    return graph


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    assert top in LAYERS, f"{module}: place kvmtune.{top} in a layer (tests/unit/test_layers.py)"
    return LAYERS[top]


def test_every_module_has_a_layer():
    for m in _graph():
        _layer(m)


def test_imports_point_down_the_layers():
    wrong = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
             for m, targets in _graph().items() for t in sorted(targets) if _layer(t) > _layer(m)]
    assert not wrong, "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    top = {m: (m.split(".")[1] if "." in m else "") for m in graph}
    out: dict[str, set[str]] = {}
    for m, targets in graph.items():
        out.setdefault(top[m], set()).update(top[t] for t in targets if top[t] != top[m])
    out.pop("", None)   # kvmtune/__init__ (the version) is imported by the CLI only
    return out


def test_no_circle_between_modules():
    assert _cycles(_graph()) == []


def test_no_circle_between_packages():
    assert _cycles(_packages(_graph())) == []


def test_the_checker_sees_a_circle_and_a_lazy_upward_import():
    """The checks above can fail: a made-up graph with both defects is caught."""
    g = {"kvmtune.model": {"kvmtune.ui.app"}, "kvmtune.ui.app": {"kvmtune.model"}}
    assert _cycles(g) == [["kvmtune.model", "kvmtune.ui.app"]]
    assert _layer("kvmtune.ui.app") > _layer("kvmtune.model")


def test_no_module_over_400_lines():
    """Modules are small and named for what they hold (a little slack for a docstring)."""
    big = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 420}
    assert not big, big
