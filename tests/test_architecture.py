"""The shape of the code: no import cycles, and the emulator and the product kept apart.

Every ``import`` statement of every module of ``gee_flood`` and ``ee_emulator`` counts, wherever it is written: at
module level, inside a function, under ``if TYPE_CHECKING:``. An edge goes to the module named; ``from P import N``
goes to ``P.N`` when that is a module of the package, else to ``P`` (the implicit import of a parent package by its
submodules is not an edge, as in import-linter).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
#: Product modules allowed to import the emulator: the demo starts one (it is the bench's show).
EMULATOR_USERS = ("gee_flood.demo",)


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Return ``{dotted module name: file}`` for every ``.py`` file of the package in ``root / package``."""
    modules: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def imported_modules(module: str, path: Path, known: Iterable[str] = ()) -> set[str]:
    """Return every module ``module`` (in ``path``) imports, anywhere in its body.

    Args:
        module: Dotted name of the module.
        path: Its source file.
        known: Modules that exist, so ``from package import submodule`` resolves to the submodule.
    """
    known = set(known)
    tree = ast.parse(path.read_text(), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                source = _resolve_relative(module, path.name == "__init__.py", node.level, node.module)
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                targets.add(candidate if candidate in known else source)
    targets.discard(module)
    return targets


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Return the import graph among the modules of ``package``: module -> modules of the package it imports."""
    files = module_files(root, package)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        graph[module] = {target for target in imported_modules(module, path, files) if target in files}
    return graph


def all_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Return module -> every module it imports (inside or outside the package)."""
    files = module_files(root, package)
    return {module: imported_modules(module, path, files) for module, path in files.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        # Iterative depth-first search: (node, iterator over its successors).
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = lowlink[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


@pytest.mark.parametrize("package", ["gee_flood", "ee_emulator"])
def test_no_import_cycle(package):
    graph = import_graph(REPOSITORY, package)
    assert len(graph) > 5, f"found only {sorted(graph)} in {package}"
    cycles = import_cycles(graph)
    assert not cycles, f"import cycles in {package}: " + "; ".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_emulator_does_not_import_the_product():
    offenders = {
        module: sorted(target for target in targets if target.split(".")[0] == "gee_flood")
        for module, targets in all_imports(REPOSITORY, "ee_emulator").items()
    }
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def test_only_the_demo_imports_the_emulator():
    offenders = {
        module: sorted(target for target in targets if target.split(".")[0] == "ee_emulator")
        for module, targets in all_imports(REPOSITORY, "gee_flood").items()
        if not any(module == user or module.startswith(user + ".") for user in EMULATOR_USERS)
    }
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_finds_cycles_at_module_and_function_level(tmp_path):
    _write(tmp_path, {
        "toy/__init__.py": "",
        "toy/a.py": "from toy import b\n",
        "toy/b.py": "def late():\n    from toy.c import thing\n    return thing\n",
        "toy/c.py": "from .a import b\nthing = 1\n",  # relative import closes a -> b -> c -> a
        "toy/leaf.py": "import toy.a\n",
        "toy/sub/__init__.py": "from toy.sub import x\n",
        "toy/sub/x.py": "from . import y\n",
        "toy/sub/y.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.sub import x\n",
    })  # fmt: skip
    graph = import_graph(tmp_path, "toy")
    assert graph["toy.leaf"] == {"toy.a"}
    assert graph["toy.c"] == {"toy.a"}
    assert import_cycles(graph) == [["toy.a", "toy.b", "toy.c"], ["toy.sub.x", "toy.sub.y"]]


def test_the_checker_passes_an_acyclic_package(tmp_path):
    _write(tmp_path, {
        "toy/__init__.py": "from toy.a import value\n",
        "toy/a.py": "from toy import b\nvalue = b.VALUE\n",
        "toy/b.py": "import json\nVALUE = 1\n",
    })  # fmt: skip
    graph = import_graph(tmp_path, "toy")
    assert graph == {"toy": {"toy.a"}, "toy.a": {"toy.b"}, "toy.b": set()}
    assert import_cycles(graph) == []


def test_the_engine_and_the_mapping_layer_do_not_reach_up_into_the_api():
    """The notebook API is the face: the engine (inference, models, earthengine, data) and the mapping layer (which
    ``gee-flood map --view``'s page builds on) import nothing of ``gee_flood.api``."""
    imports = all_imports(REPOSITORY, "gee_flood")
    below = (
        "gee_flood.inference",
        "gee_flood.models",
        "gee_flood.earthengine",
        "gee_flood.data",
        "gee_flood.mapping",
        "gee_flood.watch",
    )
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in imports.items()
        if module.startswith(below)
        for target in targets
        if target == "gee_flood.api" or target.startswith("gee_flood.api.")
    )
    assert offenders == []
