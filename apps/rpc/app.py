"""A typed request/response example: JSON messages validated with pydantic.

Run ``python -m apps.rpc.app`` and send, for instance::

    {"type": "add", "id": 1, "a": 2, "b": 3}      ->  {"id": 1, "result": 5.0}
    {"type": "echo", "id": 2, "text": "hi"}       ->  {"id": 2, "result": "hi"}
    {"type": "nope"}                    ->  {"type": "error", "error": "invalid_message", ...}

to ws://127.0.0.1:8001/rpc.
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from wsframework import App
from wsframework.typed import TypedRequest


class Add(BaseModel):
    type: Literal["add"]
    id: int
    a: float
    b: float


class Echo(BaseModel):
    type: Literal["echo"]
    id: int
    text: str


Call = Annotated[Add | Echo, Field(discriminator="type")]


class Result(BaseModel):
    id: int
    result: float | str


app = App()


@app.websocket("/rpc", receive=Call, send=Result, on_invalid="reply")
async def rpc(request: TypedRequest[Call, Result]) -> None:
    """Remote calls: each ``add`` or ``echo`` call is answered with its result.

    A call carries an ``id``, which its result repeats; an invalid call is answered with an
    error and the connection goes on.
    """
    ws = await request.accept()  # a TypedConnection[Call, Result]
    async for call in ws:  # Add | Echo, validated
        if isinstance(call, Add):
            await ws.send(Result(id=call.id, result=call.a + call.b))
        else:
            await ws.send(Result(id=call.id, result=call.text))


if __name__ == "__main__":
    # The same as: wsframework run apps.rpc.app:app --port PORT (graceful drain on Ctrl+C).
    from wsframework.cli import main

    port = sys.argv[1] if len(sys.argv) > 1 else "8001"
    sys.exit(main(["run", "apps.rpc.app:app", "--port", port]))
