"""What the native and the ASGI connection share: :class:`Endpoint` and the message helpers.

Nothing here knows about wsproto or ASGI; :mod:`wsframework.connection` and
:mod:`wsframework.asgi` build on it.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import AsyncIterator
from ipaddress import ip_address
from typing import Any, TypeVar

import trio

from .exceptions import ConnectionClosed, InvalidMessage

__all__ = ["Endpoint", "MessageConnection", "socket_endpoint", "stream_endpoint"]

_M = TypeVar("_M")


class Endpoint:
    """One end of a TCP connection.

    Attributes:
        address: the IP address (:func:`ipaddress.ip_address`).
        port: the TCP port.
        is_ssl: whether TLS is in use.
    """

    def __init__(self, address: str | int, port: int, is_ssl: bool) -> None:
        self.address = ip_address(address)
        self.port = port
        self.is_ssl = is_ssl

    @property
    def url(self) -> str:
        """A URL for this endpoint, e.g. ``ws://127.0.0.1:8000``."""
        scheme = "wss" if self.is_ssl else "ws"
        if (self.port == 80 and not self.is_ssl) or (self.port == 443 and self.is_ssl):
            port_str = ""
        else:
            port_str = ":" + str(self.port)
        if self.address.version == 4:
            return f"{scheme}://{self.address}{port_str}"
        return f"{scheme}://[{self.address}]{port_str}"

    def __repr__(self) -> str:
        return f'Endpoint(address="{self.address}", port={self.port}, is_ssl={self.is_ssl})'


def stream_endpoint(stream: trio.abc.Stream, *, local: bool) -> Endpoint | str:
    """The local or remote :class:`Endpoint` of a stream, or ``repr(stream)`` when it has none."""
    if isinstance(stream, trio.SocketStream):
        return socket_endpoint(stream.socket, False, repr(stream), local=local)
    if isinstance(stream, trio.SSLStream) and isinstance(
        stream.transport_stream, trio.SocketStream
    ):
        return socket_endpoint(stream.transport_stream.socket, True, repr(stream), local=local)
    return repr(stream)


def socket_endpoint(
    sock: Any, is_ssl: bool, fallback: str, *, local: bool = True
) -> Endpoint | str:
    """An :class:`Endpoint` for an IP socket's local or peer address, else ``fallback``
    (Unix sockets, closed sockets)."""
    try:
        name = sock.getsockname() if local else sock.getpeername()
    except OSError:
        return fallback
    if isinstance(name, tuple) and len(name) >= 2:
        return Endpoint(name[0], name[1], is_ssl)
    return fallback


class MessageConnection(trio.abc.AsyncResource):
    """What every connection offers on top of ``get_message``/``send_message``: iteration and
    JSON / pydantic helpers. Shared by the native and the ASGI connection."""

    __slots__ = ()

    @abstractmethod
    async def get_message(self) -> str | bytes:
        """Receive the next message."""

    @abstractmethod
    async def send_message(self, message: str | bytes, *, compress: bool = True) -> None:
        """Send one message."""

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                message = await self.get_message()
            except ConnectionClosed as exc:
                if exc.reason is not None and exc.reason.code in (1000, 1001):
                    return
                raise
            yield message

    async def receive_json(self) -> Any:
        """Receive one message and decode it as JSON (text or UTF-8 bytes).

        Cancellation and timeouts as for :meth:`get_message`.

        Raises:
            ConnectionClosed: the connection is closed.
            InvalidMessage: the message is not valid JSON (also a ``ValueError``).
        """
        message = await self.get_message()
        try:
            return json.loads(message)
        except ValueError as exc:
            error = {"type": "json_invalid", "loc": (), "msg": str(exc)}
            raise InvalidMessage(f"message is not valid JSON: {exc}", [error], message) from None

    async def send_json(self, obj: Any) -> None:
        """Send ``obj`` encoded as JSON in one text message.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``obj`` is not JSON-serialisable.
        """
        await self.send_message(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))

    async def receive_model(self, model: type[_M]) -> _M:
        """Receive one message and validate it as the pydantic ``model`` (or any type pydantic
        can validate, e.g. a discriminated union).

        Raises:
            ConnectionClosed: the connection is closed.
            InvalidMessage: the message does not validate; ``errors`` lists pydantic's findings.
        """
        from .typed import validate_message

        return validate_message(model, await self.get_message())

    async def send_model(self, instance: Any) -> None:
        """Send a pydantic model instance as one JSON text message.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``instance`` is not a pydantic model.
        """
        from .typed import dump_message

        await self.send_message(dump_message(instance))
