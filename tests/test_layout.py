"""Tests mirror modules: where a module's tests are is known from its name.

``wsframework/x.py`` is tested in ``tests/test_x.py`` and ``wsframework/pkg/y.py`` in
``tests/pkg/test_y.py`` (or ``test_y_<aspect>.py`` files, e.g. ``test_server_memory.py``).
Package ``__init__`` modules and private modules (``_groups``, ``__main__``) are exempt; the
top-level package's API is ``tests/test_exports.py``.
"""

from __future__ import annotations

from pathlib import Path

import wsframework

PACKAGE = Path(wsframework.__file__).parent
TESTS = Path(__file__).parent

# Modules with no mirror yet. Delete an entry when its test file lands (the test says when);
# never add one.
KNOWN_UNMIRRORED: frozenset[str] = frozenset()


def mirrors() -> dict[str, list[Path]]:
    """Each public module and the test files mirroring it."""
    found: dict[str, list[Path]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name.startswith("_"):
            continue
        relative = path.relative_to(PACKAGE)
        directory = TESTS.joinpath(*relative.parts[:-1])
        module = ".".join(("wsframework", *relative.with_suffix("").parts))
        found[module] = sorted(
            [
                *directory.glob(f"test_{path.stem}.py"),
                *directory.glob(f"test_{path.stem}_*.py"),
            ]
        )
    return found


def test_modules_were_found() -> None:
    modules = mirrors()
    assert "wsframework.protocol.close" in modules
    assert "wsframework.cli.config" in modules
    assert TESTS / "test_routing.py" in modules["wsframework.routing"]
    assert TESTS / "test_server_memory.py" in modules["wsframework.server"]


def test_every_public_module_has_a_mirroring_test_file() -> None:
    missing = sorted(m for m, files in mirrors().items() if not files and m not in KNOWN_UNMIRRORED)
    assert not missing, f"write tests/.../test_<module>.py for: {missing}"


def test_known_unmirrored_modules_still_have_no_test_file() -> None:
    modules = mirrors()
    # A module that no longer exists counts as done too.
    done = sorted(m for m in KNOWN_UNMIRRORED if modules.get(m, [Path()]))
    assert not done, f"mirrored or gone, so delete from KNOWN_UNMIRRORED: {done}"
