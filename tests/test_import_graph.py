"""The product's packages import each other only downwards, and no module imports itself back round a cycle.

The layers, top to bottom: the touchscreen (``kiosk_ui``) over the kiosk (``firmware_app``) over the link
(``kiosk_link``); the backend (``fleet``) and provisioning stand beside the kiosk on the same link and import
nothing else of the product. The graph is read from the source with ``ast``, every import statement counted
wherever it is (inside a function too: a late import is still a dependency, it only happens later).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each package may import besides itself.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "kiosk_link": frozenset(),
    "firmware_app": frozenset({"kiosk_link"}),
    "kiosk_ui": frozenset({"firmware_app", "kiosk_link"}),
    "fleet": frozenset({"kiosk_link"}),
    "provisioning": frozenset({"kiosk_link"}),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    return {module_name(path): path for package in MAY_IMPORT for path in sorted((ROOT / package).rglob("*.py"))}


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """The dotted name of everything an import statement anywhere in ``tree`` asks for: ``import a.b`` gives
    ``a.b``, ``from a import b`` gives ``a.b`` (a submodule, or an attribute of ``a``); relative imports are
    resolved against ``module``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the product modules it imports: each name that is a module, or else the nearest module above it
    (``from a import b`` where ``b`` is a function depends on ``a``). A submodule counts as itself, not as its
    parent packages too, whose ``__init__`` Python runs first: a package that gathers its submodules (``wire``)
    would otherwise make a cycle with each of them."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif target not in index:
                index[target] = low[target] = len(index)
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(sorted(graph[target]))))
            elif target in on_stack:
                low[node] = min(low[node], index[target])
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(product_modules())


def against_the_layers(graph: dict[str, set[str]]) -> list[str]:
    """``module -> target`` for each import of a package its package may not import."""
    return [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if (here := module.partition(".")[0]) != (there := target.partition(".")[0]) and there not in MAY_IMPORT[here]
    ]


def test_every_package_imports_only_the_layers_below_it(graph: dict[str, set[str]]) -> None:
    assert against_the_layers(graph) == [], "kiosk_ui > firmware_app > kiosk_link; fleet, provisioning > kiosk_link"


def test_no_module_imports_itself_round_a_cycle(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_the_graph_holds_every_package_and_their_links(graph: dict[str, set[str]]) -> None:
    """The reader is not blind: it finds each package, a late import inside a function, and the link below."""
    assert {module.partition(".")[0] for module in graph} == set(MAY_IMPORT)
    assert "kiosk_ui.main" in graph["kiosk_ui.cli"]  # imported inside the command that opens the screen
    assert "kiosk_link.wire" in graph["fleet.ingest"]
    assert "kiosk_link.wire.core" in graph["kiosk_link.wire.tickets"]


def test_relative_imports_and_imports_inside_functions_are_read() -> None:
    source = "from . import sibling\nfrom ..up import thing\ndef later():\n    import deep.module\n"
    names = set(imported_names(ast.parse(source), "pkg.sub.mod", is_package=False))
    assert {"pkg.sub.sibling", "pkg.up.thing", "deep.module"} <= names


def test_imports_up_or_across_the_layers_are_found() -> None:
    graph = {
        "firmware_app.cli": {"kiosk_ui.main", "kiosk_link.wire"},
        "fleet.pki": {"firmware_app.sync.wire"},
        "provisioning.cli": {"fleet.pki"},
        "kiosk_link.tls": {"firmware_app.secret_store"},
        "kiosk_ui.cli": {"firmware_app.cli", "kiosk_link.wire"},
    }
    assert against_the_layers(graph) == [
        "firmware_app.cli -> kiosk_ui.main",
        "fleet.pki -> firmware_app.sync.wire",
        "kiosk_link.tls -> firmware_app.secret_store",
        "provisioning.cli -> fleet.pki",
    ]


def test_cycles_are_found_however_long() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
