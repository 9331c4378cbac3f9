"""Packaging of typed messages (wsframework.typed): pydantic stays optional, TypedConnection
looks like a connection, and what type checkers make of typed handlers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import wsframework
from wsframework import WebSocketConnection
from wsframework.typed import TypedConnection

from .mypy_helpers import mypy_strict

# ---------------------------------------------------------------------------- packaging


def test_only_typed_imports_pydantic() -> None:
    package = Path(wsframework.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "typed.py"
        and any(
            line.lstrip().startswith(("import pydantic", "from pydantic"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []


def test_import_wsframework_does_not_import_pydantic() -> None:
    code = (
        "import sys, wsframework, wsframework.connection, wsframework.server; "
        "assert not any(m.split('.')[0] in ('pydantic', 'pydantic_core') for m in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_typed_connection_is_a_connection_lookalike() -> None:
    # Every public member of WebSocketConnection is available on TypedConnection.
    public = {
        name
        for name in dir(WebSocketConnection)
        if not name.startswith("_") and name != "CONNECTION_ID"  # a class-level counter
    }
    assert public <= set(dir(TypedConnection))


TYPING_SAMPLE = """
from typing import Annotated, Literal
from pydantic import BaseModel, Field
from wsframework import App, WebSocketRequest
from wsframework.typed import TypedConnection, TypedRequest

class Add(BaseModel):
    type: Literal["add"]
    a: int

class Echo(BaseModel):
    type: Literal["echo"]
    text: str

class Result(BaseModel):
    value: str

Call = Annotated[Add | Echo, Field(discriminator="type")]
app = App()

@app.websocket("/rpc", receive=Call, send=Result)
async def rpc(request: TypedRequest[Call, Result]) -> None:
    ws = await request.accept()
    reveal_type(ws)
    reveal_type(await ws.receive())
    async for call in ws:
        reveal_type(call)
    await ws.send(Result(value="ok"))
    await ws.send(Add(type="add", a=1))

@app.websocket("/plain")
async def plain(request: WebSocketRequest) -> None:
    ws = await request.accept()
    reveal_type(ws)
    async for message in ws:
        reveal_type(message)

async def any_typed(request: TypedRequest) -> None:
    reveal_type(await request.accept())

async def middleware_sees_every_request(request: TypedRequest[Call, Result]) -> None:
    await plain(request)
"""


def test_accept_is_typed_for_type_checkers(tmp_path: Path) -> None:
    # What mypy --strict makes of handlers, without a cast: the point of TypedRequest.
    lines, output = mypy_strict(tmp_path, TYPING_SAMPLE)
    assert lines == [
        'note: Revealed type is "wsframework.typed.TypedConnection[sample.Add | sample.Echo, '
        'sample.Result]"',
        'note: Revealed type is "sample.Add | sample.Echo"',
        'note: Revealed type is "sample.Add | sample.Echo"',
        'error: Argument 1 to "send" of "TypedConnection" has incompatible type "Add"; '
        'expected "Result"  [arg-type]',
        'note: Revealed type is "wsframework.interface.WebSocketConnection"',
        'note: Revealed type is "str | bytes"',
        'note: Revealed type is "wsframework.typed.TypedConnection[Any, Any]"',
    ], output
