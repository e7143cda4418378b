"""The floor plan holds: import-linter's contracts (pyproject.toml) and no import cycle.

``make test`` runs ``lint-imports`` too; these tests make plain ``pytest`` fail the same way.
The cycle test reads the graph with grimp (import-linter's own graph builder) and skips only
the imports the "No import cycles" contract ignores, so both checks name the same exceptions.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import grimp
from importlinter import api  # importing it sets import-linter up, as the lint-imports command does
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def test_import_contracts_hold(capsys):
    kept = lint_imports(config_filename=str(PYPROJECT), cache_dir=None, no_logo=True)
    assert kept, capsys.readouterr().out


def _ignored_imports() -> Callable[[str, str], bool]:
    contracts = api.read_configuration(str(PYPROJECT))["contracts_options"]
    (acyclic,) = [c for c in contracts if c["type"] == "acyclic_siblings"]

    def pattern(expression: str) -> re.Pattern[str]:
        parts = [".+" if p == "**" else "[^.]+" if p == "*" else re.escape(p) for p in expression.split(".")]
        return re.compile(r"\.".join(parts) + "$")

    rules = [tuple(pattern(side.strip()) for side in e.split("->")) for e in acyclic.get("ignore_imports", [])]
    return lambda a, b: any(x.match(a) and y.match(b) for x, y in rules)


def _cycles(nodes: Iterable[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for n in sorted(succ):
        if n not in index:
            visit(n)
    return out


def _sibling_edges(modules: set[str], edges: set[tuple[str, str]]) -> dict[str, set[tuple[str, str]]]:
    """For every package, its children's imports of each other (a descendant's import counts as its
    child's): the package-level graph in which a cycle is a cycle between packages."""
    out: dict[str, set[tuple[str, str]]] = {}
    for a, b in edges:
        common = 0
        pa, pb = a.split("."), b.split(".")
        while common < min(len(pa), len(pb)) - 1 and pa[common] == pb[common]:
            common += 1
        if common == 0 or len(pa) <= common or len(pb) <= common or pa[common] == pb[common]:
            continue  # not two different children of one package (an import of an ancestor itself)
        parent = ".".join(pa[:common])
        out.setdefault(parent, set()).add((f"{parent}.{pa[common]}", f"{parent}.{pb[common]}"))
    return out


def test_the_cycle_finder_sees_module_and_package_cycles():
    modules = {"p", "p.a", "p.a.x", "p.b", "p.b.y", "p.c"}
    edges = {("p.a.x", "p.b.y"), ("p.b.y", "p.a"), ("p.c", "p.a.x")}
    assert _cycles(modules, edges) == []  # no module imports itself back ...
    siblings = _sibling_edges(modules, edges)
    assert siblings["p"] == {("p.a", "p.b"), ("p.b", "p.a"), ("p.c", "p.a")}
    assert _cycles({"p.a", "p.b", "p.c"}, siblings["p"]) == [["p.a", "p.b"]]  # ... but packages a and b do
    assert _cycles(modules, edges | {("p.a", "p.a.x")}) == [["p.a", "p.a.x", "p.b.y"]]


def test_no_import_cycle_among_modules_or_packages():
    graph = grimp.build_graph("handhold", cache_dir=None, exclude_type_checking_imports=True)  # as the contracts read it
    ignored = _ignored_imports()
    modules = set(graph.modules)
    edges = {(a, b) for a in modules for b in graph.find_modules_directly_imported_by(a)
             if b in modules and not ignored(a, b)}
    assert _cycles(modules, edges) == [], "modules that import each other"
    package_cycles = {parent: found for parent, pairs in _sibling_edges(modules, edges).items()
                      if (found := _cycles({x for pair in pairs for x in pair}, pairs))}
    assert package_cycles == {}, "packages whose modules import each other"


def test_validating_a_config_loads_no_torch():
    """What the "no torch" contract promises, at run time: the registry's generators and the
    benchmark suite files stay unloaded while a config validates."""
    code = ("import sys; from handhold.config import load_config; "
            f"load_config({str(ROOT / 'configs' / 'demo.yaml')!r}); "
            "print(sorted(m for m in ('torch', 'transformers', 'handhold.data') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
