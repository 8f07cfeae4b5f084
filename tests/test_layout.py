"""The layout shows the flow: subpackages by stage, imports one way only (a module imports from
its own package or from a lower layer, never from a higher one or a sibling at its layer), no
import cycles, no module over ~600 lines, SQL only in storage, feedparser only in one module."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "feedsvc"

# lower number = lower layer; a module may import its own package and lower layers
LAYERS = {
    "feedsvc.errors": 0, "feedsvc.model": 0, "feedsvc.clock": 0, "feedsvc.compact_json": 0,
    "feedsvc.config": 1,
    "feedsvc.items": 2,
    "feedsvc.parsing": 3, "feedsvc.sources": 3,
    "feedsvc.storage": 4,
    "feedsvc.output": 5,
    "feedsvc.app": 6,
}
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _run_time_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:`` (imports for the type checker only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
        yield node


def _imports(path: Path, name: str) -> set[str]:
    """Every feedsvc module ``path`` imports at run time, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _run_time_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    mods = _modules()
    return {m for m in found if m in mods and m != name}


def _package(name: str) -> str | None:
    return next((p for p in sorted(LAYERS, key=len, reverse=True) if name == p or name.startswith(p + ".")), None)


def test_imports_go_one_way():
    wrong = []
    for name, path in _modules().items():
        own = _package(name)
        if own is None:          # feedsvc (the public names) and feedsvc.__main__ sit on top
            continue
        for dep in _imports(path, name):
            theirs = _package(dep)
            if theirs is None or theirs == own:
                continue
            if LAYERS[theirs] >= LAYERS[own]:
                wrong.append(f"{name} imports {dep} ({own} is layer {LAYERS[own]}, {theirs} layer {LAYERS[theirs]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    mods = _modules()
    graph = {n: _imports(p, n) for n, p in mods.items()}
    # a package's __init__ re-exporting its modules is not a cycle through them
    graph = {n: {d for d in deps if not (n.startswith(d + ".") and mods[d].name == "__init__.py")}
             for n, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_is_too_long():
    long = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in _modules().items()}
    assert {n: c for n, c in long.items() if c > MAX_LINES} == {}


def test_sql_and_feedparser_stay_in_their_modules():
    for name, path in _modules().items():
        deps = {a.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Import) for a in node.names}
        deps |= {node.module or "" for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.ImportFrom)}
        if "sqlite3" in deps:
            assert name.startswith("feedsvc.storage."), name
        if "feedparser" in deps:
            assert name == "feedsvc.parsing.feedparser_path", name
