"""Outcomes of one WebSocket handshake through the test client, shared by the
``tests/test_app*.py`` and ``tests/test_middleware*.py`` files."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from wsframework import CloseReason, ConnectionClosed, ConnectionRejected
from wsframework.testing import TestClient


async def handshake(client: TestClient, target: str, **options: Any) -> tuple[int, bytes]:
    """``(101, b"")`` for an accepted handshake, else the refusal's status and body."""
    try:
        async with client.websocket(target, **options):
            return 101, b""
    except ConnectionRejected as refused:
        return refused.status_code, refused.body or b""


async def refusal(client: TestClient, target: str, **options: Any) -> ConnectionRejected:
    """The refusal of a handshake the app must refuse."""
    with pytest.raises(ConnectionRejected) as refused:
        async with client.websocket(target, **options):
            pass
    return refused.value


async def rejection(client: TestClient, target: str, **options: Any) -> tuple[int, bytes]:
    """Status and body of a handshake the app must refuse."""
    refused = await refusal(client, target, **options)
    return refused.status_code, refused.body or b""


async def closing(client: TestClient, target: str, **options: Any) -> CloseReason:
    """How the app closes a connection it accepts without sending anything first."""
    async with client.websocket(target, **options) as ws:
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    reason = closed.value.reason
    assert reason is not None
    return reason
