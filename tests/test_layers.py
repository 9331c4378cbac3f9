"""The dependency rules of docs/design.md, checked by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wsframework

PACKAGE = Path(wsframework.__file__).parent


def imports_of(path: Path) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                names.add(target)
                names.update(f"{target}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module or "")
    return names


MODULES = {
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts): imports_of(p)
    for p in PACKAGE.rglob("*.py")
}


def importers(prefix: str) -> set[str]:
    return {
        module
        for module, names in MODULES.items()
        if any(n == prefix or n.startswith(prefix + ".") for n in names)
    }


def test_modules_were_found() -> None:
    assert "wsframework.connection" in MODULES
    assert "wsframework.protocol.handshake" in MODULES


@pytest.mark.parametrize(
    ("dependency", "allowed"),
    [
        ("pydantic", {"wsframework.typed"}),
        (
            "wsproto",
            {
                "wsframework.connection",
                "wsframework.client",
                "wsframework.server",
                "wsframework.protocol.close",
                "wsframework.protocol.deflate",
                "wsframework.protocol.masking",
            },
        ),
        ("wsframework.cli", {"wsframework.__main__"}),
        ("wsframework.compat", set()),
    ],
)
def test_only_allowed_modules_import(dependency: str, allowed: set[str]) -> None:
    # A package's own modules may import each other (wsframework.cli is a package).
    inside = {m for m in MODULES if m == dependency or m.startswith(dependency + ".")}
    assert importers(dependency) - inside <= allowed


def test_sans_io_layers_do_not_import_trio() -> None:
    trio_users = importers("trio")
    sans_io = {m for m in MODULES if m.startswith("wsframework.protocol")} | {
        "wsframework.routing",
        "wsframework.converters",
        "wsframework.datastructures",
        "wsframework.exceptions",
    }
    assert not (trio_users & sans_io)
