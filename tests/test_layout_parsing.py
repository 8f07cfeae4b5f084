"""The layout of feedsvc/parsing: small modules, imports in one direction, the fast path free of
feedparser.

- no module over 600 lines;
- no import cycle between the modules of feedsvc/parsing, counting the imports made inside
  functions too (a lazy import that closes a cycle is still a cycle to read around);
- the fast package imports neither feedparser nor the feedparser path (``feedparser_path``,
  ``document``, ``jsonfeed``), not even lazily, and importing it at run time loads none of them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARSING = REPO / "feedsvc" / "parsing"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """Dotted name → file, for every module under feedsvc/parsing."""
    out = {}
    for path in sorted(PARSING.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules ``name`` imports anywhere in its file (module level or inside functions),
    as dotted names; a ``from package import submodule`` counts as the submodule."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found


def test_no_module_in_parsing_exceeds_600_lines():
    too_long = {name: n for name, path in _modules().items()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_no_import_cycle_in_parsing():
    modules = _modules()
    graph = {name: sorted(m for m in _imports(name, path, modules) if m in modules and m != name)
             for name, path in modules.items()}
    state: dict[str, int] = {}     # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name)


def test_fast_package_does_not_import_the_feedparser_path():
    modules = _modules()
    forbidden = {"feedparser", "feedsvc.parsing.document", "feedsvc.parsing.feedparser_path",
                 "feedsvc.parsing.jsonfeed"}
    offenders = {}
    for name, path in modules.items():
        if name == "feedsvc.parsing.fast" or name.startswith("feedsvc.parsing.fast."):
            bad = {m for m in _imports(name, path, modules)
                   if m in forbidden or m.startswith("feedparser.")}
            if bad:
                offenders[name] = sorted(bad)
    assert not offenders, f"the fast path imports the feedparser path: {offenders}"


def _loaded_after(statement: str) -> set[str]:
    code = (f"import sys\n{statement}\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


def test_importing_the_fast_path_does_not_import_feedparser():
    loaded = _loaded_after("import feedsvc.parsing.fast")
    assert "feedsvc.parsing.fast" in loaded
    assert "feedparser" not in loaded
    assert not {"feedsvc.parsing.document", "feedsvc.parsing.feedparser_path",
                "feedsvc.parsing.jsonfeed"} & loaded


def test_importing_the_dispatcher_imports_neither_parser():
    """feedparser and the fast package are imported on first use (a round where nothing changed
    parses nothing)."""
    loaded = _loaded_after("import feedsvc.parsing.document, feedsvc.parsing.incremental")
    assert "feedparser" not in loaded
    assert "feedsvc.parsing.fast" not in loaded


def test_the_handler_tables_hold_what_the_emulator_inherits():
    """handlers.py takes each handler from the namespace mixin that defines it; the emulator
    must resolve the same name to the same function (no mixin overrides another's handler)."""
    from feedsvc.parsing import fast
    from feedsvc.parsing.fast import handlers

    for table in (handlers._START, handlers._END):
        for key, fn in table.items():
            if "." in fn.__qualname__ and "<locals>" not in fn.__qualname__:   # a mixin method
                assert getattr(fast._Emulator, fn.__name__) is fn, key
