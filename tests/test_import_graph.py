"""The package's layers import only downwards, and no two layers import each other.

The imports are read with :mod:`ast` from every module of ``lakeinfer`` (at module level, inside
functions and under ``if TYPE_CHECKING:`` alike: a type-only import still ties two layers), so
the test sees what a reader sees, whether or not the import runs. See docs/architecture.md.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import lakeinfer

PACKAGE = Path(lakeinfer.__file__).parent

#: The layers, lowest first. A module may import modules of its own layer and of the layers
#: below it, never of a layer above. Each entry maps a module prefix to its layer; a module
#: takes the layer of its longest matching prefix, and a module no prefix matches fails the test.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # the vocabulary everything shares: errors, secret redaction, files, result rendering
    (
        "base",
        (
            "lakeinfer.errors",
            "lakeinfer.redaction",
            "lakeinfer.text_files",
            "lakeinfer.output",
        ),
    ),
    # what a provider is (request, outcome, the Provider class) and what an endpoint URL may
    # be: no lakeinfer imports
    ("provider contract", ("lakeinfer.endpoints.base", "lakeinfer.endpoints.urls")),
    # SQL text: parsing, types, translation to DuckDB
    ("sql", ("lakeinfer.sql",)),
    # Delta tables under the home directory
    ("catalog", ("lakeinfer.catalog",)),
    # scheduling, rate limits, retries, the response cache, the event loop
    ("runtime", ("lakeinfer.runtime",)),
    # where the lakehouse is, stored configuration and session settings
    ("config", ("lakeinfer.home", "lakeinfer.config", "lakeinfer.settings")),
    # the providers and the endpoint registry
    ("endpoints", ("lakeinfer.endpoints",)),
    # statements, queries, AI evaluation; sql/plan.py resolves names against the catalog for
    # the engine, so it is counted here
    ("engine", ("lakeinfer.engine", "lakeinfer.sql.plan")),
    # the Python API
    ("session", ("lakeinfer.session", "lakeinfer.functions", "lakeinfer")),
    # what every command shares
    ("cli common", ("lakeinfer.cli.common",)),
    # the features, side by side: they may use each other, never in a circle
    (
        "features",
        (
            "lakeinfer.pipelines",
            "lakeinfer.vector",
            "lakeinfer.evaluation",
            "lakeinfer.forecast",
            "lakeinfer.bench",
            "lakeinfer.serving",
            "lakeinfer.ui",
            "lakeinfer.spark",
            "lakeinfer.demo",
            # registers the features above with the engine; sessions load it by name
            "lakeinfer.features",
        ),
    ),
    # the command and its entry points; test helpers
    (
        "cli",
        (
            "lakeinfer.cli",
            "lakeinfer.shell",
            "lakeinfer.__main__",
            "lakeinfer.testing",
        ),
    ),
]

#: Units between which no circle may exist: the subpackages (and top-level modules) of
#: ``lakeinfer``, with these exceptions (sql/plan.py is the engine's planner, see LAYERS).
UNIT_OVERRIDES = {
    "lakeinfer.cli.common": "lakeinfer.cli.common",
    "lakeinfer.endpoints.base": "lakeinfer.endpoints.base",
    "lakeinfer.endpoints.urls": "lakeinfer.endpoints.urls",
    "lakeinfer.sql.plan": "lakeinfer.engine",
}


@functools.cache
def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["lakeinfer", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The lakeinfer modules ``name`` imports, wherever in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                # `from lakeinfer import session` imports a module, `from x import Name` x
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {target for target in found if target in modules and target != name}


def _unit(module: str) -> str:
    for prefix, unit in UNIT_OVERRIDES.items():
        if module == prefix or module.startswith(prefix + "."):
            return unit
    return ".".join(module.split(".")[:2])


def _layer(module: str) -> int:
    best, layer = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # "lakeinfer" is the package's __init__ only, not a prefix of every module
            inside = prefix != "lakeinfer" and module.startswith(prefix + ".")
            if (module == prefix or inside) and len(prefix) > best:
                best, layer = len(prefix), index
    assert layer >= 0, f"{module} is in no layer: add it to LAYERS"
    return layer


@functools.cache
def _edges() -> tuple[tuple[str, str], ...]:
    modules = _modules()
    return sorted(
        (name, target) for name, path in modules.items() for target in _imports(name, path, modules)
    )


def _unit_graph() -> dict[str, dict[str, list[tuple[str, str]]]]:
    graph: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for source, target in _edges():
        a, b = _unit(source), _unit(target)
        if a != b:
            graph[a][b].append((source, target))
    return graph


def _circles() -> list[list[str]]:
    """The circles between units (strongly connected sets of more than one), each with the
    imports that make it."""
    graph = _unit_graph()
    edges = {a: set(targets) for a, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                circles.append(
                    [
                        f"{a} -> {b}: {graph[a][b][0][0]} imports {graph[a][b][0][1]}"
                        for a in sorted(members)
                        for b in sorted(edges.get(a, ()))
                        if b in members
                    ]
                )

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return circles


def _upward() -> dict[tuple[str, str], list[tuple[str, str]]]:
    found: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for source, target in _edges():
        if _layer(target) > _layer(source):
            found[(_unit(source), _unit(target))].append((source, target))
    return found


def test_every_module_has_a_layer() -> None:
    for name in _modules():
        _layer(name)


def test_no_circles_between_units() -> None:
    circles = _circles()
    assert not circles, "import circles:\n" + "\n\n".join("\n".join(c) for c in circles)


def test_no_upward_imports() -> None:
    upward = _upward()
    assert not upward, "upward imports:\n" + "\n".join(
        f"{a} -> {b}: {how[:3]}" for (a, b), how in sorted(upward.items())
    )


def test_the_command_line_is_in_no_circle() -> None:
    circles = _circles()
    assert not [c for c in circles if "lakeinfer.cli" in "\n".join(c)]
    entry_points = {
        "lakeinfer.cli",
        "lakeinfer.cli.root",
        "lakeinfer.cli.__main__",
        "lakeinfer.__main__",
    }
    for source, target in _edges():
        if target.startswith("lakeinfer.cli") and source not in entry_points:
            assert target == "lakeinfer.cli.common", (
                f"{source} imports {target}: command modules import only lakeinfer.cli.common"
            )
