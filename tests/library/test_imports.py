"""No import circle in the package: the import graph of ``rnntrace``, read from the source with ``ast``.

Every ``import`` counts, at module level or inside a function (a function-level import hides a
circle from the interpreter until that function runs; it does not remove it). ``from p import
name`` is an edge to ``p.name`` when that is a module of the package, else to ``p``. Importing
``p.q`` also runs ``p/__init__.py`` first; that implicit edge is not counted (a package's
``__init__`` importing its own submodules is how a package is built, not a circle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "rnntrace"


def modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package (a package's __init__ under its own name)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` (at ``path``) imports, wherever the import statement sits."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level - 1 more
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}"
                out.add(child if child in known else source)
    return {m for m in out if m in known and m != name}


def graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    found = modules(root, package)
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None: a depth-first search in sorted order (stable messages)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    edges = graph()
    assert len(edges) > 20 and "rnntrace.cells.rnn" in edges  # the whole package was read
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


GROUND_FLOOR = {
    "__future__",
    "collections",
    "contextlib",
    "ctypes",
    "dataclasses",
    "functools",
    "itertools",
    "math",
    "numpy",
    "re",
    "threading",
}


def test_the_cell_modules_sit_on_the_ground_floor():
    """The cells import NumPy and the spec (and their shared helpers): nothing that checks inputs or talks to torch."""
    edges = graph()
    for name, path in modules().items():
        if not name.startswith("rnntrace.cells"):
            continue
        assert all(m.startswith("rnntrace.cells") for m in edges[name]), f"{name} imports {sorted(edges[name])}"
        tree = ast.parse(path.read_text())
        outside = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        outside |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module}
        assert outside <= GROUND_FLOOR, f"{name} imports {sorted(outside - GROUND_FLOOR)}"


CELL_NAMES = {"rnn", "gru", "lstm", "rnn_tanh", "rnn_relu"}


def cell_name_tests(path: Path, root: Path = ROOT) -> list[str]:
    """Every comparison of a value with a cell kind's name (``cell == "LSTM"``, ``x in ("GRU", ...)``): line and source."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        constants = [c for side in sides for c in ast.walk(side) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
        if any(c.value.lower() in CELL_NAMES for c in constants):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_branch_on_a_cell_name_outside_the_cells():
    """A cell kind is one file: outside ``rnntrace/cells/`` nothing asks ``if cell == "LSTM"``; it asks the spec."""
    found = [hit for name, path in modules().items() if not name.startswith("rnntrace.cells") for hit in cell_name_tests(path)]
    assert found == [], "branches on a cell's name outside rnntrace/cells (ask the spec or the registry instead):\n" + "\n".join(found)


def test_a_branch_on_a_cell_name_is_found(tmp_path):
    (tmp_path / "m.py").write_text('def f(c):\n    return 1 if c.cell == "LSTM" else 2 if c.mode in ("GRU",) else 3\n')
    assert cell_name_tests(tmp_path / "m.py", tmp_path) == ["m.py:2: c.cell == 'LSTM'", "m.py:2: c.mode in ('GRU',)"]


@pytest.mark.parametrize("where", ["top", "function"])
def test_a_cycle_is_found_and_named(tmp_path, where):
    """The check is not vacuous: a circle through a function-level import is found too."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import B\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    body = "from .. import a\n" if where == "top" else "def f():\n    from ..a import sub\n"
    (pkg / "sub" / "b.py").write_text("B = 1\n" + body)
    edges = graph(tmp_path, "pkg")
    assert edges["pkg.a"] == {"pkg.sub.b"} and edges["pkg.sub"] == {"pkg.sub.b"}
    assert find_cycle(edges) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None
