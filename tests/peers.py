"""Scripted protocol peers (real wsproto/h11 engines) over in-memory trio streams."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import Event


class ScriptedPeer:
    """A wsproto endpoint driven step by step by a test."""

    def __init__(self, stream: trio.abc.Stream, kind: ConnectionType) -> None:
        self.stream = stream
        self.ws = WSConnection(kind)
        self._pending: list[Event] = []
        self.eof = False

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def next_event(self, timeout: float = 5) -> Event | None:
        """The next event, or None at EOF."""
        with trio.fail_after(timeout):
            while not self._pending:
                if self.eof:
                    return None
                data = await self.stream.receive_some(65536)
                if not data:
                    self.eof = True
                else:
                    self.ws.receive_data(data)
                self._pending.extend(self.ws.events())
            return self._pending.pop(0)

    async def expect(self, cls: type[Any], timeout: float = 5) -> Any:
        event = await self.next_event(timeout)
        assert isinstance(event, cls), f"expected {cls.__name__}, got {event!r}"
        return event

    async def read_until_eof(self, timeout: float = 5) -> bytes:
        out = bytearray()
        with trio.fail_after(timeout):
            while True:
                data = await self.stream.receive_some(65536)
                if not data:
                    return bytes(out)
                out += data


def stream_pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
    a, b = trio.testing.memory_stream_pair()
    return a, b
