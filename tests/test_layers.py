"""The import graph of wsframework is a layered DAG: the rules of docs/design.md, checked.

Every module's source is parsed (pure ``ast``, nothing is imported) and **every** import counts:
module level, inside functions, and under ``if TYPE_CHECKING:``. An annotation-only import still
couples two modules, and a function-level import is a cycle that merely waits for its call.

The graph:

* ``a -> b`` when module ``a`` imports module ``b`` or a name from it (relative imports
  resolved; ``from .x import Y`` is an edge to ``x.Y`` when ``Y`` is a submodule, else to ``x``).
* Importing ``wsframework.protocol.close`` also runs ``wsframework/protocol/__init__.py``: each
  module has an *implicit* edge to the sub-package holding it, which the reachability rules
  follow. The top-level package is the exception: ``wsframework/__init__.py`` re-exports
  everything, so no module may import it, and no module is charged with what it imports.

The rules:

* **No cycle**, ignoring the edges of a package's ``__init__`` to its own submodules (and so
  all of ``wsframework/__init__.py``'s) and the implicit edges.
* **Direct imports**: only the listed modules import wsproto or pydantic; nothing imports the
  top-level package, ``wsframework.cli`` (but ``__main__``), ``wsframework.compat`` or
  ``wsframework.testing``.
* **Reachability** (following edges transitively): the ASGI transport never reaches wsproto, h11
  or the native transport; nothing below the framework layer reaches pydantic; the sans-I/O
  modules never reach trio.

Violations that exist today and are being removed are listed, exactly, in
``KNOWN_VIOLATIONS``: the test fails on any other violation, and on a listed one that no longer
exists, so the list only ever shrinks.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import wsframework

# Each entry is the exact text the checker reports, with the import(s) behind it. Delete an
# entry as soon as its fix lands (the test says when); never add one.
KNOWN_VIOLATIONS = frozenset({})

PACKAGE = Path(wsframework.__file__).parent
TOP = "wsframework"

# Where each module sits. Every module must be in exactly one layer (a new module is placed
# here when it is added), so that no module escapes the rules below.
LAYERS: dict[str, tuple[str, ...]] = {
    # Sans-I/O: bytes and facts, no event loop.
    "protocol": ("wsframework.protocol",),
    # The core below the framework: transports, connections, requests, routing, values.
    "core": (
        "wsframework._groups",
        "wsframework._listen",
        "wsframework.accepts",
        "wsframework._parking",
        "wsframework.stream_http",
        "wsframework._stats",
        "wsframework._sockio",
        "wsframework._speedups",
        "wsframework._version",
        "wsframework.exceptions",
        "wsframework.interface",
        "wsframework.message_queue",
        "wsframework.options",
        "wsframework.admission",
        "wsframework.keepalive",
        "wsframework.connection",
        "wsframework.request",
        "wsframework.server",
        "wsframework.client",
        "wsframework.reconnect",
        "wsframework.asgi",
        "wsframework.routing",
        "wsframework.converters",
        "wsframework.datastructures",
        "wsframework.http",
        "wsframework.handling",
        "wsframework.tls",
    ),
    # The framework: App, middleware, typed messages (the only pydantic user).
    "framework": (
        "wsframework.app",
        "wsframework.asyncapi",
        "wsframework.metrics",
        "wsframework.middleware",
        "wsframework.typed",
        "wsframework.rooms",
    ),
    # Applications of the library, which the library never imports.
    "entry points": (
        "wsframework.__main__",
        "wsframework.cli",
        "wsframework.compat",
        "wsframework.testing",
    ),
}

# Only these import wsproto / pydantic themselves.
DIRECT_USERS = {
    "wsproto": {
        "wsframework.server",
        "wsframework.protocol.client_handshake",
        "wsframework.protocol.engine",
        "wsframework.protocol.deflate",
        "wsframework.protocol.masking",
    },
    "pydantic": {"wsframework.typed"},
}
# Packages only their own modules (and the listed ones) may import.
PRIVATE_TO = {
    "wsframework.cli": {"wsframework.__main__"},
    "wsframework.compat": set(),
    "wsframework.testing": set(),
}
# What each module (or every module under a prefix) must never reach, transitively.
SANS_IO = (
    "wsframework.protocol",
    "wsframework.exceptions",
    "wsframework.accepts",
    "wsframework.routing",
    "wsframework.converters",
    "wsframework.datastructures",
)
NEVER_REACHES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (
        ("wsframework.asgi",),
        ("wsproto", "h11", "wsframework.server", "wsframework.client", "wsframework.connection"),
    ),
    (LAYERS["protocol"] + LAYERS["core"], ("pydantic",)),
    (SANS_IO, ("trio",)),
]


# --- the graph --------------------------------------------------------------------------------


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def under_any(name: str, prefixes: Iterable[str]) -> bool:
    return any(under(name, prefix) for prefix in prefixes)


def discover(root: Path) -> tuple[dict[str, Path], set[str]]:
    """Every module under ``root`` (stub-only extension modules included) and the packages."""
    sources: dict[str, Path] = {}
    packages: set[str] = set()
    for path in sorted(root.rglob("*.py*")):
        if path.suffix not in (".py", ".pyi"):
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        if path.stem == "__init__":
            parts = parts[:-1]
            packages.add(".".join(parts))
        name = ".".join(parts)
        if path.suffix == ".py" or name not in sources:
            sources[name] = path
    return sources, packages


def imports_of(module: str, path: Path, sources: Iterable[str], packages: set[str]) -> set[str]:
    """Modules ``module`` imports anywhere in its source, by absolute name."""
    if path.suffix == ".pyi":
        return set()  # a stub describes a compiled module, whose imports are not ours to read
    known = set(sources)
    package = module if module in packages else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    found.discard(module)
    return found


@dataclass
class Graph:
    """Modules (ours), the packages among them, and what each imports (ours or not)."""

    packages: set[str]
    edges: dict[str, set[str]]

    @classmethod
    def read(cls, root: Path) -> Graph:
        sources, packages = discover(root)
        return cls(
            packages,
            {name: imports_of(name, path, sources, packages) for name, path in sources.items()},
        )

    def reach_edges(self, module: str) -> list[str]:
        """What importing ``module`` runs: its imports and the ``__init__`` of its sub-package."""
        targets = set(self.edges.get(module, ()))
        parent = module.rpartition(".")[0]
        if parent in self.packages and parent != TOP:
            targets.add(parent)
        return sorted(targets)

    def cycle_edges(self, module: str) -> list[str]:
        """Edges that can close a cycle: to our modules, but not a package to its own."""
        return sorted(
            target
            for target in self.edges[module]
            if target in self.edges and not (module in self.packages and under(target, module))
        )

    def path_to(self, source: str, forbidden: str) -> list[str] | None:
        """The shortest chain of imports from ``source`` to ``forbidden`` or a module in it."""
        previous: dict[str, str | None] = {source: None}
        queue = deque([source])
        while queue:
            current = queue.popleft()
            if current != source and under(current, forbidden):
                chain = [current]
                while (step := previous[chain[-1]]) is not None:
                    chain.append(step)
                return chain[::-1]
            for target in self.reach_edges(current):
                if target not in previous:
                    previous[target] = current
                    queue.append(target)
        return None

    def cycles(self) -> list[list[str]]:
        """Every elementary cycle, closed and starting at its smallest module."""
        found: list[list[str]] = []
        for start in sorted(self.edges):
            # Only through modules after ``start``: each cycle is found once, from its smallest.
            stack: list[list[str]] = [[start]]
            while stack:
                chain = stack.pop()
                for target in self.cycle_edges(chain[-1]):
                    if target == start:
                        found.append([*chain, start])
                    elif target > start and target not in chain:
                        stack.append([*chain, target])
        return sorted(found)

    # Each rule family gives {violation: why}, the violation being the text KNOWN_VIOLATIONS holds.

    def cycle_violations(self) -> dict[str, str]:
        return {"cycle " + " -> ".join(cycle): "" for cycle in self.cycles()}

    def direct_violations(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for module, targets in sorted(self.edges.items()):
            for target in sorted(targets):
                if target == TOP:
                    found[f"{module} imports {TOP}"] = "import from the defining module instead"
                for dependency, users in DIRECT_USERS.items():
                    if under(target, dependency) and module not in users:
                        found[f"{module} imports {dependency}"] = f"only {sorted(users)} may"
                for private, allowed in PRIVATE_TO.items():
                    if under(target, private) and not under_any(module, {private, *allowed}):
                        found[f"{module} imports {private}"] = "the library never does"
        return found

    def reach_violations(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for sources, forbidden in NEVER_REACHES:
            for module in sorted(m for m in self.edges if under_any(m, sources)):
                for target in forbidden:
                    chain = self.path_to(module, target)
                    if chain is not None:
                        found[f"{module} reaches {target}"] = "via " + " -> ".join(chain)
        return found

    def violations(self) -> dict[str, str]:
        return self.cycle_violations() | self.direct_violations() | self.reach_violations()


GRAPH = Graph.read(PACKAGE)


def unexpected(found: dict[str, str], known: Iterable[str] = KNOWN_VIOLATIONS) -> str | None:
    """None when every violation found is a known one, else the message listing the others."""
    new = sorted(set(found) - set(known))
    if not new:
        return None
    lines = [f"{v}  ({found[v]})" if found[v] else v for v in new]
    return "import rules broken:\n  " + "\n  ".join(lines)


# --- the tests ----------------------------------------------------------------------------------


def test_the_graph_is_read_from_every_module() -> None:
    edges = GRAPH.edges
    assert len(edges) >= 29
    assert {"wsframework", "wsframework.protocol", "wsframework.cli"} <= GRAPH.packages
    # A function-level import and a TYPE_CHECKING import are edges like any other.
    assert "wsframework.typed" in edges["wsframework.cli.loading"]
    assert "wsframework.protocol.close" in edges["wsframework.exceptions"]
    assert "wsframework._speedups" in edges["wsframework.protocol.masking"]
    assert edges["wsframework._speedups"] == set()  # compiled: only its stub is read
    # Importing a module of a sub-package runs the sub-package's __init__, never the top one's.
    assert "wsframework.protocol" in GRAPH.reach_edges("wsframework.protocol.close")
    assert TOP not in GRAPH.reach_edges("wsframework.app")


def test_every_form_of_import_is_an_edge(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from . import sub\nfrom .a import thing\n",
        "a.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .sub import deep\n"
            "def f():\n    from .b import g\n"
        ),
        "b.py": "import os.path\n",
        "sub/__init__.py": "from .. import a\nfrom ..b import *\n",
        "sub/deep.py": "",
        "ext.pyi": "import os\n",
    }
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    graph = Graph.read(tmp_path / "pkg")
    assert graph.packages == {"pkg", "pkg.sub"}
    assert graph.edges == {
        "pkg": {"pkg.sub", "pkg.a"},
        "pkg.a": {"typing", "pkg.sub.deep", "pkg.b"},
        "pkg.b": {"os.path"},
        "pkg.sub": {"pkg.a", "pkg.b"},
        "pkg.sub.deep": set(),
        "pkg.ext": set(),
    }
    # The package importing its own submodules is not a cycle.
    assert graph.cycles() == []
    assert graph.reach_edges("pkg.sub.deep") == ["pkg.sub"]


def test_every_module_is_in_exactly_one_layer() -> None:
    placed = {
        module: [layer for layer, prefixes in LAYERS.items() if under_any(module, prefixes)]
        for module in GRAPH.edges
        if module != TOP
    }
    unplaced = sorted(module for module, layers in placed.items() if len(layers) != 1)
    assert not unplaced, f"put each of these in exactly one of LAYERS: {unplaced}"


def test_no_cycles() -> None:
    message = unexpected(GRAPH.cycle_violations())
    assert message is None, message


def test_direct_import_rules() -> None:
    message = unexpected(GRAPH.direct_violations())
    assert message is None, message


def test_reachability_rules() -> None:
    message = unexpected(GRAPH.reach_violations())
    assert message is None, message


def test_known_violations_still_exist() -> None:
    fixed = sorted(KNOWN_VIOLATIONS - set(GRAPH.violations()))
    assert not fixed, f"fixed, so delete from KNOWN_VIOLATIONS in tests/test_layers.py: {fixed}"


# --- the checker itself, on small made-up graphs ------------------------------------------------


def made_up(**edges: set[str]) -> Graph:
    """Modules ``wsframework.<keyword>`` (``top``: the package) importing those named.

    A name that is not a keyword is another distribution's module, e.g. ``wsproto.events``.
    """

    def full(name: str) -> str:
        if name not in edges:
            return name
        return TOP if name == "top" else f"{TOP}.{name}"

    return Graph({TOP}, {full(name): {full(t) for t in ts} for name, ts in edges.items()})


def test_a_cycle_is_named_from_its_smallest_module() -> None:
    graph = made_up(top={"a", "b"}, a={"b", "top"}, b={"c"}, c={"a"})
    assert graph.cycle_violations() == {
        "cycle wsframework.a -> wsframework.b -> wsframework.c -> wsframework.a": ""
    }
    message = unexpected(graph.cycle_violations(), known=())
    assert message == (
        "import rules broken:\n  cycle wsframework.a -> wsframework.b -> wsframework.c -> "
        "wsframework.a"
    )
    assert unexpected(graph.cycle_violations(), known=graph.cycle_violations()) is None
    assert set(graph.direct_violations()) == {"wsframework.a imports wsframework"}


def test_two_cycles_through_one_module_are_both_named() -> None:
    graph = made_up(a={"b", "c"}, b={"a"}, c={"a"})
    assert sorted(graph.cycle_violations()) == [
        "cycle wsframework.a -> wsframework.b -> wsframework.a",
        "cycle wsframework.a -> wsframework.c -> wsframework.a",
    ]


def test_reachability_names_the_shortest_chain() -> None:
    graph = made_up(asgi={"a", "b"}, a={"c"}, b={"wsproto.events"}, c={"wsproto"})
    assert graph.path_to(f"{TOP}.asgi", "wsproto") == [
        "wsframework.asgi",
        "wsframework.b",
        "wsproto.events",
    ]
    assert graph.path_to(f"{TOP}.c", "h11") is None
    assert graph.reach_violations()["wsframework.asgi reaches wsproto"] == (
        "via wsframework.asgi -> wsframework.b -> wsproto.events"
    )
