"""Every public ``async def`` says in its docstring how to cancel it or bound it in time.

A caller needs to know whether cancelling a call is safe (does it leave the connection usable,
closed, or half-written?) and how to bound it (a ``timeout`` argument, ``trio.fail_after``).
Checked by reading the source (``ast``): every module of wsframework but the command line and
private ones, every public ``async def`` at module level and in public classes. Special methods
(``__call__``, ``__aenter__``...) are private names here: their class documents them.

A docstring passes when it mentions cancelling or a time bound: it contains "cancel",
"timeout", "time out", "fail_after" or "move_on_after" (any case).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import wsframework

PACKAGE = Path(wsframework.__file__).parent
WORDS = ("cancel", "timeout", "time out", "fail_after", "move_on_after")

# Undocumented today, in modules being rewritten by issue 8. Delete an entry when its docstring
# says how to cancel or bound the call, or when the function goes (the test says when); never
# add one.
KNOWN_UNDOCUMENTED: frozenset[str] = frozenset()


def public_async_defs(module: str, source: str) -> Iterator[tuple[str, str]]:
    """``("module:qualname", docstring)`` of each public ``async def`` in ``source``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.AsyncFunctionDef) and not node.name.startswith("_"):
            yield f"{module}:{node.name}", ast.get_docstring(node) or ""
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.AsyncFunctionDef) and not item.name.startswith("_"):
                    yield f"{module}:{node.name}.{item.name}", ast.get_docstring(item) or ""


def public_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if path.name == "__init__.py":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts) or parts[:2] == ("wsframework", "cli"):
            continue
        yield ".".join(parts), path


def documents_cancellation(docstring: str) -> bool:
    text = docstring.lower()
    return any(word in text for word in WORDS)


def undocumented() -> tuple[set[str], set[str]]:
    """The public async defs whose docstring says nothing of cancelling, and all of them."""
    found: set[str] = set()
    everything: set[str] = set()
    for module, path in public_modules():
        for name, docstring in public_async_defs(module, path.read_text()):
            everything.add(name)
            if not documents_cancellation(docstring):
                found.add(name)
    return found, everything


def test_the_walk_finds_the_public_async_defs() -> None:
    _, everything = undocumented()
    assert "wsframework.interface:WebSocketConnection.get_message" in everything
    assert "wsframework.server:serve_websocket" in everything
    assert "wsframework.client:open_websocket" in everything
    modules = {name.partition(":")[0] for name in everything}
    assert not any(m == "wsframework.cli" or m.startswith("wsframework.cli.") for m in modules)
    assert len(everything) >= 40


def test_every_public_async_def_documents_cancellation() -> None:
    missing = sorted(undocumented()[0] - KNOWN_UNDOCUMENTED)
    assert not missing, (
        "say in the docstring whether cancelling is safe and how to bound the call "
        f"(a timeout argument, trio.fail_after): {missing}"
    )


def test_known_undocumented_are_still_undocumented() -> None:
    done = sorted(KNOWN_UNDOCUMENTED - undocumented()[0])
    assert not done, f"documented or gone, so delete from KNOWN_UNDOCUMENTED: {done}"


def test_what_counts_as_public_and_as_documented() -> None:
    source = '''
async def fetch():
    """Fetch. Safe to cancel."""

async def _helper(): ...

class Client:
    async def send(self):
        """Send. Bound it with ``trio.move_on_after``."""

    async def recv(self):
        """Receive."""

    async def __aenter__(self): ...

    def close(self): ...

class _Private:
    async def run(self): ...

def outer():
    async def inner(): ...
'''
    found = dict(public_async_defs("m", source))
    assert set(found) == {"m:fetch", "m:Client.send", "m:Client.recv"}
    assert [name for name, doc in found.items() if not documents_cancellation(doc)] == [
        "m:Client.recv"
    ]
    assert documents_cancellation("Raises ConnectionTimeout after ``connect_timeout``.")
    assert documents_cancellation("Use trio.fail_after(5) around it.")
